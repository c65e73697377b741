"""Params, MACs, latency and peak memory of a model.

Conventions (stated in every report):

* MACs are multiply-accumulates of convolutions and linear layers, counted by PyTorch's own
  ``torch.utils.flop_counter.FlopCounterMode`` (which reports FLOPs = 2 x MACs) on a ``meta``
  copy of the model, so counting costs no compute.
* Non-zero MACs: each conv / linear module's (or registered layer type's, see
  ``pruning/handlers.py``) MACs times its weight density (nnz / numel), the work left when
  multiplications by zero weights are skipped (weight-sparse models).
* Video models: MACs per output frame, counting one pass of the flow network per frame (the
  papers' convention), i.e. ``(total - flow) / T + flow / flow_passes``.
* Latency: median wall time per frame over ``repeats`` runs after ``warmup`` runs, under
  ``torch.inference_mode`` (and autocast when a precision other than fp32 is asked for); on
  CUDA with synchronisation.
* Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA; the process's peak resident set
  size on CPU (an upper bound that includes the Python process).
"""

from __future__ import annotations

import copy
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from srprune.models.contract import flow_network, is_video
from srprune.precision import autocast, check_precision
from srprune.pruning.handlers import handler_for

MAC_CONVENTION = ("conv + linear multiply-accumulates (torch FlopCounterMode / 2); video: per "
                  "output frame with one flow-network pass per frame")


@dataclass
class ProfileReport:
    """Everything ``srprune profile`` prints."""

    model: str
    params: int
    nonzero_params: int
    macs_per_frame: float
    lr_size: tuple[int, int]
    frames: int
    device: str
    macs_breakdown: dict[str, float] = field(default_factory=dict)
    nonzero_macs_per_frame: float | None = None
    nonzero_macs_breakdown: dict[str, float] = field(default_factory=dict)
    precision: str = "fp32"
    latency_ms_per_frame: float | None = None
    latency_runs_ms: list[float] = field(default_factory=list)
    peak_memory_mb: float | None = None
    convention: str = MAC_CONVENTION

    def to_dict(self) -> dict:
        """JSON-ready dict (MACs in units, not G)."""
        return asdict(self)


def count_params(model: nn.Module) -> tuple[int, int]:
    """(all parameters, non-zero parameters)."""
    total = sum(p.numel() for p in model.parameters())
    nonzero = sum(int(torch.count_nonzero(p)) for p in model.parameters())
    return total, nonzero


def example_input(model: nn.Module, lr_size: tuple[int, int], frames: int,
                  device: str | torch.device = "cpu", batch: int = 1) -> torch.Tensor:
    """A random LR input of the right rank for ``model``."""
    h, w = lr_size
    if is_video(model):
        return torch.rand(batch, frames, 3, h, w, device=device)
    return torch.rand(batch, 3, h, w, device=device)


def flow_child(model: nn.Module) -> str | None:
    """Name of the top-level child that is the model's flow network (``flow_net``), if any."""
    flow_net = flow_network(model)
    return next((n for n, m in model.named_children() if m is flow_net), None)


def counted_layer(module: nn.Module) -> bool:
    """Whether the profiler counts ``module``'s MACs as a layer's: a conv, a linear layer, or a
    layer type registered with a pruning handler (:mod:`srprune.pruning.handlers`)."""
    return isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) or \
        handler_for(module) is not None


def weight_densities(model: nn.Module) -> dict[str, float]:
    """Non-zero fraction of the weight of every counted layer (:func:`counted_layer`), keyed
    by module path."""
    out = {}
    for name, m in model.named_modules():
        w = getattr(m, "weight", None)
        if counted_layer(m) and isinstance(w, torch.Tensor) and w.numel() and not w.is_meta:
            out[name] = int(torch.count_nonzero(w)) / w.numel()
    return out


def count_macs(model: nn.Module, lr_size: tuple[int, int], frames: int = 2,
               nonzero: bool = False) -> tuple[float, dict[str, float]]:
    """MACs per output frame and their split over the model's top-level children.

    ``nonzero``: count each conv / linear module's MACs times its weight density (nnz / numel),
    i.e. only the multiplications by non-zero weights.
    """
    densities = weight_densities(model) if nonzero else {}
    meta = copy.deepcopy(model).to("meta").eval()
    x = example_input(meta, lr_size, frames, "meta")
    flow_net = flow_network(meta)
    calls = [0]  # flow passes = image pairs the flow network saw (calls are batched)

    def count_pairs(_module: nn.Module, inputs: tuple, _output: object) -> None:
        calls[0] += inputs[0].shape[0]

    hook = flow_net.register_forward_hook(count_pairs) if flow_net is not None else None
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta(x)
    if hook is not None:
        hook.remove()
    counts = counter.get_flop_counts()
    root = type(meta).__name__

    def key(name: str) -> str:
        return f"{root}.{name}" if name else root

    def raw(k: str) -> float:
        return sum(counts.get(k, {}).values()) / 2

    def raw_subtree(k: str) -> float:
        """A module's MACs; for a container that is never called itself (``nn.ModuleDict``),
        the sum over its outermost called descendants."""
        if k in counts:
            return raw(k)
        inner = [c for c in counts if c.startswith(f"{k}.")]
        return sum(raw(c) for c in inner
                   if not any(c.startswith(f"{o}.") for o in inner if o != c))

    # MACs by zero weights, per module path; FlopCounterMode also adds them to every ancestor
    saved = {name: (1.0 - d) * raw(key(name)) for name, d in densities.items() if d < 1.0}

    def macs(name: str | None) -> float:
        if name is None:
            return raw("Global") - sum(saved.values())
        return raw_subtree(key(name)) - sum(v for n, v in saved.items()
                                    if n == name or n.startswith(f"{name}."))

    n_frames = frames if is_video(meta) else 1
    total = macs(None)
    flow_name = flow_child(meta)
    breakdown = {}
    for name, _ in meta.named_children():
        child = macs(name)
        if child:
            breakdown[name] = child / (calls[0] if name == flow_name else n_frames)
    flow = breakdown.get(flow_name, 0.0) if flow_name else 0.0
    flow_total = flow * calls[0]
    per_frame = (total - flow_total) / n_frames + flow
    return per_frame, breakdown


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(model: nn.Module, lr_size: tuple[int, int], frames: int,
                    device: str | torch.device = "cpu", warmup: int = 1, repeats: int = 3,
                    seed: int = 0, channels_last: bool = True, precision: str = "fp32"
                    ) -> tuple[float, list[float], float]:
    """Median ms per frame, every run's ms per frame, and peak memory in MB.

    ``channels_last`` (NHWC weights) is how srprune runs inference: oneDNN and cuDNN are faster
    with it, the narrow convs of pruned models especially.
    """
    device = torch.device(device)
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    runs = latency_side_by_side({"model": model}, lr_size, frames, device, warmup, repeats,
                                channels_last, precision)["model"]
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return statistics.median(runs), runs, peak


def profile_model(model: nn.Module, name: str, lr_size: tuple[int, int], frames: int = 2,
                  device: str = "cpu", latency: bool = True, warmup: int = 1,
                  repeats: int = 3, channels_last: bool = True,
                  precision: str = "fp32") -> ProfileReport:
    """Profile ``model`` at an LR size (see the module docstring for the conventions)."""
    params, nonzero = count_params(model)
    macs, breakdown = count_macs(model, lr_size, frames)
    nz_macs, nz_breakdown = (count_macs(model, lr_size, frames, nonzero=True)
                             if nonzero < params else (macs, dict(breakdown)))
    report = ProfileReport(model=name, params=params, nonzero_params=nonzero,
                           macs_per_frame=macs, lr_size=lr_size, frames=frames, device=device,
                           macs_breakdown=breakdown, nonzero_macs_per_frame=nz_macs,
                           nonzero_macs_breakdown=nz_breakdown, precision=precision)
    if latency:
        med, runs, peak = measure_latency(model, lr_size, frames, device, warmup, repeats,
                                          channels_last=channels_last, precision=precision)
        report.latency_ms_per_frame, report.latency_runs_ms, report.peak_memory_mb = \
            med, runs, peak
    return report


def time_interleaved(calls: dict[str, Callable[[], object]], warmup: int = 1,
                     repeats: int = 3, per: int | dict[str, int] = 1,
                     device: str | torch.device = "cpu") -> dict[str, list[float]]:
    """ms (per ``per`` items: one count for all, or one per call) of every call, run in turn
    round after round under inference mode, so machine noise hits all alike; the first
    ``warmup`` rounds are not kept. On a CUDA ``device`` each call is timed between syncs."""
    device = torch.device(device)
    runs: dict[str, list[float]] = {k: [] for k in calls}
    with torch.inference_mode():
        for i in range(warmup + repeats):
            for name, call in calls.items():
                _sync(device)
                t0 = time.perf_counter()
                call()
                _sync(device)
                if i >= warmup:
                    n = per[name] if isinstance(per, dict) else per
                    runs[name].append((time.perf_counter() - t0) * 1000 / n)
    return runs


def latency_side_by_side(models: dict[str, nn.Module], lr_size: tuple[int, int], frames: int,
                         device: str | torch.device = "cpu", warmup: int = 1, repeats: int = 3,
                         channels_last: bool = True, precision: str = "fp32"
                         ) -> dict[str, list[float]]:
    """ms per frame of several models on one seeded input each, timed by
    :func:`time_interleaved` (``precision``: autocast of the forward passes, see
    :mod:`srprune.precision`)."""
    check_precision(precision, device)
    device = torch.device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    prepared = {k: m.to(device, memory_format=fmt).eval() for k, m in models.items()}
    inputs = {k: example_input(m, lr_size, frames, device) for k, m in prepared.items()}
    calls = {k: (lambda m=m, x=inputs[k]: m(x)) for k, m in prepared.items()}
    per = {k: frames if is_video(m) else 1 for k, m in prepared.items()}
    with autocast(precision, device):
        return time_interleaved(calls, warmup, repeats, per, device)

"""Timing one layer at given widths, and a whole model, in the runtime a budget names.

* ``torch``: PyTorch eager, float32, channels_last (as the profiler and the report time), on
  the CPU with the process's thread count.
* ``onnxruntime`` / ``openvino``: a conv (with its activation) is written as a one-node ONNX
  graph (``onnx.helper``; another layer type is exported with ``torch.onnx.export``) and run in
  the runtime; a whole model is exported with :func:`srprune.export.onnx_writer.export_onnx`
  at the LR size (a window of ``frames`` frames for a bidirectional video model) and run
  through :class:`srprune.export.runtime.ExportedModel`.

Every value is the fastest of ``repeats`` runs after one warm-up run (on a shared machine the
run least disturbed by other processes: the median moves with the load, the minimum much
less); the points of a layer that share an input width, and the whole models compared, are
timed interleaved, round after round.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from srprune.errors import UserError
from srprune.export.graph_checks import probe_inputs
from srprune.export.onnx_writer import export_onnx
from srprune.export.runtime import ExportedModel
from srprune.latency.calls import LayerUse
from srprune.latency.onnx_layer import activation_module, layer_graph
from srprune.profile import latency_side_by_side, time_interleaved
from srprune.pruning.handlers import handler_for


class Timer(Protocol):
    """What the table needs measured (ms)."""

    runtime: str

    def version(self) -> str:
        """The runtime and its version (part of the table's fingerprint)."""
        ...

    def layer(self, layer: nn.Module, use: LayerUse, points: list[tuple[int, int]]
              ) -> list[float]:
        """ms per call of ``layer`` (and its activation) at each (c_in, c_out)."""
        ...

    def model(self, model: nn.Module, lr_size: tuple[int, int], frames: int) -> float:
        """ms per output frame of the whole model."""
        ...

    def models(self, models: dict[str, nn.Module], lr_size: tuple[int, int], frames: int
               ) -> dict[str, float]:
        """ms per output frame of several whole models, timed interleaved."""
        ...


def resized_copy(layer: nn.Module, c_in: int, c_out: int, seed: int = 0) -> nn.Module:
    """A copy of ``layer`` at other widths with small random weights."""
    copied = handler_for(layer).resized(copy.deepcopy(layer), c_in, c_out)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in copied.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return copied.float().eval()


def _rows(points: list[tuple[int, int]]) -> dict[int, list[int]]:
    """Point indices grouped by input width."""
    rows: dict[int, list[int]] = {}
    for k, (c_in, _) in enumerate(points):
        rows.setdefault(c_in, []).append(k)
    return rows


class TorchTimer:
    """PyTorch eager on the CPU."""

    runtime = "torch"

    def __init__(self, repeats: int = 3) -> None:
        self.repeats = repeats

    def version(self) -> str:
        return f"torch {torch.__version__}"

    def layer(self, layer: nn.Module, use: LayerUse, points: list[tuple[int, int]]
              ) -> list[float]:
        out = [0.0] * len(points)
        for c_in, row in _rows(points).items():
            x = torch.rand(1, c_in, use.height, use.width).to(memory_format=torch.channels_last)
            calls: dict[str, Callable[[], object]] = {}
            for k in row:
                net = nn.Sequential(resized_copy(layer, c_in, points[k][1]),
                                    activation_module(use.activation))
                net = net.to(memory_format=torch.channels_last)
                calls[str(k)] = lambda net=net, x=x: net(x)
            runs = time_interleaved(calls, 1, self.repeats)
            for k in row:
                out[k] = min(runs[str(k)])
        return out

    def model(self, model: nn.Module, lr_size: tuple[int, int], frames: int) -> float:
        return self.models({"m": model}, lr_size, frames)["m"]

    def models(self, models: dict[str, nn.Module], lr_size: tuple[int, int], frames: int
               ) -> dict[str, float]:
        copies = {k: copy.deepcopy(m).float() for k, m in models.items()}
        runs = latency_side_by_side(copies, lr_size, frames, "cpu", warmup=1,
                                    repeats=self.repeats)
        return {k: min(v) for k, v in runs.items()}


class OnnxTimer:
    """onnxruntime or OpenVINO on the CPU, float32, with the process's thread count."""

    def __init__(self, runtime: str, repeats: int = 3) -> None:
        self.runtime = runtime
        self.repeats = repeats
        self.threads = torch.get_num_threads()

    def version(self) -> str:
        try:
            module = __import__(self.runtime)
        except ImportError:
            extra = "export" if self.runtime == "onnxruntime" else "mobile"
            raise UserError(f"a latency target @{self.runtime} needs the {self.runtime} "
                            f"package: pip install 'srprune[{extra}]'") from None
        return f"{self.runtime} {module.__version__}"

    def _time(self, calls: dict[str, Callable[[], object]]) -> dict[str, float]:
        runs = time_interleaved(calls, 1, self.repeats)
        return {k: min(v) for k, v in runs.items()}

    def layer(self, layer: nn.Module, use: LayerUse, points: list[tuple[int, int]]
              ) -> list[float]:
        out = [0.0] * len(points)
        with tempfile.TemporaryDirectory(prefix="srprune-latency-") as tmp:
            for c_in, row in _rows(points).items():
                x = np.random.default_rng(0).random((1, c_in, use.height, use.width),
                                                    dtype=np.float32)
                calls = {}
                for k in row:
                    path = Path(tmp) / f"layer{k}.onnx"
                    layer_graph(resized_copy(layer, c_in, points[k][1]), use, path)
                    run = session(self.runtime, path, self.threads)
                    calls[str(k)] = lambda run=run, x=x: run([x])
                for k, ms in self._time(calls).items():
                    out[int(k)] = ms
        return out

    def model(self, model: nn.Module, lr_size: tuple[int, int], frames: int) -> float:
        return self.models({"m": model}, lr_size, frames)["m"]

    def models(self, models: dict[str, nn.Module], lr_size: tuple[int, int], frames: int
               ) -> dict[str, float]:
        calls: dict[str, Callable[[], object]] = {}
        per: dict[str, int] = {}
        with tempfile.TemporaryDirectory(prefix="srprune-latency-") as tmp:
            for k, model in models.items():
                path = Path(tmp) / f"model{len(calls)}.onnx"
                info = export_onnx(copy.deepcopy(model).float(), path, lr_size, frames)
                exported = ExportedModel(path, self.runtime, self.threads)
                rng = np.random.default_rng(0)
                inputs = [rng.random(z.shape, dtype=np.float32) for z in probe_inputs(info)]
                calls[k] = lambda e=exported, x=inputs: e.run(x)
                per[k] = info.frames if info.kind == "window" else 1
            runs = time_interleaved(calls, 1, self.repeats, per)
        return {k: min(v) for k, v in runs.items()}


def session(runtime: str, path: Path, threads: int) -> Callable[[list[np.ndarray]], Any]:
    """``run(inputs)`` of a plain ONNX file (no srprune metadata) in ``runtime``."""
    if runtime == "onnxruntime":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda inputs: sess.run(None, {name: inputs[0]})
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                           "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    return lambda inputs: request.infer(inputs)


def make_timer(runtime: str, repeats: int = 3) -> Timer:
    """The timer of a runtime named by a latency target."""
    return TorchTimer(repeats) if runtime == "torch" else OnnxTimer(runtime, repeats)

"""Candidate CPU speed-ups, each timed against its baseline in one interleaved run.

For dense BasicVSR and its SSL-compact model (the pair of ``bench/latency_ssl.py``), every
variant runs on the same LR clip, rounds alternating over all (model, variant) cells, and its
output is checked against the baseline's (max abs difference; must be <= 1e-4 to count).
Variants:

* ``baseline``: residual adds and RSC scatter-adds out of place (both switches off);
* ``add``: without autograd, plain blocks add the identity into their branch output
  (``blocks.INPLACE_ADD``, srprune's default since this bench);
* ``scatter``: that, and RSC blocks scatter-add straight into the stream they own
  (``blocks.INPLACE_SCATTER``, on by default since bench/rsc_block_costs.py showed it);
* ``fuse`` (bench-only): that, and each residual block's conv1 + ReLU and the upsampler's
  conv + LeakyReLU pairs run as one oneDNN call with the activation as a post-op
  (:func:`fused_conv_act`; not in srprune: equal only to <= 1 ulp, so a hooked run, e.g.
  attached unit gammas, would no longer match an unhooked one bit for bit);
* ``padconv`` (bench-only): ``fuse``, and the RSC gather fused into conv1: conv1 reads the
  whole stream through a weight zero-filled at the channels it does not gather
  (:func:`padded_conv1`): no gather, conv1 as wide as the stream.

Writes ``results/speed_variants_cpu[_block].{json,md}``.

    python bench/speed_variants.py --lr-size 90x160 --frames 3 --repeats 3 --threads 2
    python bench/speed_variants.py --unit block --lr-size 90x160 --repeats 200 --threads 1

``--unit block`` times one residual block of each model's trunk instead (a dense 64-channel
block and its RSC block: gather, two narrow convs, scatter-add) on a fresh copy of a stream
tensor per run (the copy is not timed), many rounds, with min and median: short enough to
measure on a loaded machine where whole-model runs are not.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from latency_ssl import dense_and_compact
from torch import nn

import srprune.models.blocks as blocks
from srprune.commands.common import parse_size
from srprune.io.atomic import write_text_atomic
from srprune.models.basicvsr import BasicVSR
from srprune.profile import example_input

_ORIGINAL_ADD_RESIDUAL = blocks.ResidualBlock.add_residual
_PADDED: dict[int, nn.Conv2d] = {}


def padded_conv1(block: blocks.ResidualBlock, width: int) -> nn.Conv2d:
    """``conv1`` of an RSC block widened to read the whole ``width``-channel stream: its weight
    zero at the stream channels the block does not gather (a conv on the gathered input == this
    conv on the stream), cached per block."""
    if id(block) not in _PADDED:
        conv = block.conv1
        wide = nn.Conv2d(width, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                         bias=conv.bias is not None)
        with torch.no_grad():
            wide.weight.zero_()
            wide.weight[:, block.in_index] = conv.weight
            if conv.bias is not None:
                wide.bias.copy_(conv.bias)
        _PADDED[id(block)] = wide.to(memory_format=torch.channels_last)
    return _PADDED[id(block)]


def _padded_add_residual(self: blocks.ResidualBlock, x: torch.Tensor) -> torch.Tensor:
    """:meth:`ResidualBlock.add_residual` with the RSC gather fused into a zero-padded conv1."""
    if self.in_index is None:
        return _ORIGINAL_ADD_RESIDUAL(self, x)
    r = self.conv2(fused_conv_act(padded_conv1(self, x.shape[1]), self.relu, x))
    if self.res_scale != 1.0:
        r = r * self.res_scale
    inplace = blocks.INPLACE_SCATTER and not torch.is_grad_enabled() and self.owns_input
    return blocks.scatter_add_channels(x, self.out_index, r, inplace=inplace)


def fused_conv_act(conv: nn.Conv2d, act: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``act(conv(x))`` as one oneDNN call with the ReLU / LeakyReLU as a post-op (the private
    op torch's inductor uses on the CPU; equal to the two calls to <= 1 ulp)."""
    name, scalars = (("relu", []) if isinstance(act, nn.ReLU)
                     else ("leaky_relu", [act.negative_slope]))
    return torch.ops.mkldnn._convolution_pointwise(
        x, conv.weight, conv.bias, list(conv.padding), list(conv.stride), list(conv.dilation),
        conv.groups, name, scalars, "")


def _fused_branch(self: blocks.ResidualBlock, h: torch.Tensor) -> torch.Tensor:
    return self.conv2(fused_conv_act(self.conv1, self.relu, h))


def _fused_reconstruct(self: BasicVSR, feat: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    out = fused_conv_act(self.fusion, self.act, feat)
    out = self.pixel_shuffle(fused_conv_act(self.upconv1, self.act, out))
    out = self.pixel_shuffle(fused_conv_act(self.upconv2, self.act, out))
    out = self.conv_last(fused_conv_act(self.conv_hr, self.act, out))
    return out + F.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)


_ORIGINAL = {"branch": blocks.ResidualBlock.branch, "reconstruct": BasicVSR.reconstruct}


def _switches(add: bool, scatter: bool, fuse: bool = False, pad: bool = False
              ) -> Callable[[], None]:
    def apply() -> None:
        blocks.INPLACE_ADD, blocks.INPLACE_SCATTER = add, scatter
        blocks.ResidualBlock.add_residual = (  # type: ignore[method-assign]
            _padded_add_residual if pad else _ORIGINAL_ADD_RESIDUAL)
        blocks.ResidualBlock.branch = (  # type: ignore[method-assign]
            _fused_branch if fuse else _ORIGINAL["branch"])
        BasicVSR.reconstruct = (  # type: ignore[method-assign]
            _fused_reconstruct if fuse else _ORIGINAL["reconstruct"])
    return apply


VARIANTS: dict[str, Callable[[], None]] = {"baseline": _switches(False, False),
                                           "add": _switches(True, False),
                                           "scatter": _switches(True, True),
                                           "fuse": _switches(True, True, True),
                                           "padconv": _switches(True, True, True, True)}
DEFAULT = _switches(True, True)


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    dense, compact = dense_and_compact(args.model, args.ratio, "local", args.seed)
    models: dict[str, nn.Module] = {"dense": dense, "compact": compact}
    models = {k: m.to(memory_format=torch.channels_last).eval() for k, m in models.items()}
    torch.manual_seed(args.seed)
    if args.unit == "block":
        return run_blocks(args, models)
    x = example_input(dense, args.lr_size, args.frames)
    times, diffs = time_variants(models, lambda: x, args.variants, args.repeats, args.frames)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"model": args.model, "ratio": args.ratio, "lr_size": list(args.lr_size),
            "frames": args.frames, "repeats": args.repeats, "threads": torch.get_num_threads(),
            "device_name": platform.processor() or platform.machine(), "torch": torch.__version__,
            "memory_format": "channels_last", "ms_per_frame": med, "runs_ms": times,
            "max_abs_diff_vs_baseline": diffs,
            "speedup_vs_baseline": {k: med[f"{k.split('/')[0]}/baseline"] / v
                                    for k, v in med.items()},
            "compact_speedup": {v: med[f"dense/{v}"] / med[f"compact/{v}"]
                                for v in args.variants}}


def time_variants(modules: dict[str, nn.Module], make_input: Callable[[], torch.Tensor],
                  variants: list[str], repeats: int, per: int = 1
                  ) -> tuple[dict[str, list[float]], dict[str, float]]:
    """ms (per ``per`` frames) of every module x variant, interleaved over ``repeats`` rounds
    after a warm-up round that also records each output's max difference from the module's
    baseline; inputs come fresh from ``make_input`` (untimed)."""
    cells = [(m, v) for m in modules for v in variants]
    times: dict[str, list[float]] = {f"{m}/{v}": [] for m, v in cells}
    diffs: dict[str, float] = {}
    refs: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for rnd in range(1 + repeats):  # round 0: warm-up and output check
            for m, v in cells:
                VARIANTS[v]()
                x = make_input()
                t0 = time.perf_counter()
                out = modules[m](x)
                ms = (time.perf_counter() - t0) * 1000 / per
                if rnd == 0:
                    if v == "baseline":
                        refs[m] = out.clone()
                    diffs[f"{m}/{v}"] = float((out - refs[m]).abs().max())
                else:
                    times[f"{m}/{v}"].append(ms)
    DEFAULT()
    return times, diffs


def run_blocks(args: argparse.Namespace, models: dict[str, nn.Module]) -> dict:
    """One trunk block of each model, a fresh stream copy per run (not timed)."""
    picked = {}
    for name, model in models.items():
        chain = [m for m in model.modules() if isinstance(m, blocks.ResidualBlock)]
        picked[name] = chain[len(chain) // 4]  # inside the first trunk: owns its input
    h, w = args.lr_size
    x = torch.rand(1, picked["dense"].conv1.in_channels, h, w)
    x = x.to(memory_format=torch.channels_last)
    times, diffs = time_variants(picked, lambda: x.clone(memory_format=torch.channels_last),
                                 args.variants, args.repeats)
    stat = {"min": min, "median": statistics.median}
    res = {k: {s: f(v) for s, f in stat.items()} for k, v in times.items()}
    return {"unit": "block", "model": args.model, "ratio": args.ratio,
            "lr_size": list(args.lr_size), "repeats": args.repeats,
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "blocks": {k: {"rsc": b.in_index is not None, "owns_input": b.owns_input,
                           "mid": b.conv1.out_channels} for k, b in picked.items()},
            "ms": res, "max_abs_diff_vs_baseline": diffs,
            "speedup_vs_baseline": {k: {s: res[f"{k.split('/')[0]}/baseline"][s] / v[s]
                                        for s in stat} for k, v in res.items()}}


def _variants_flag(cells: dict) -> str:
    """`` --variants ...`` when a run timed other variants than the default list."""
    timed = list(dict.fromkeys(k.split("/", 1)[1] for k in cells))
    return "" if timed == list(VARIANTS) else " --variants " + " ".join(timed)


def markdown_blocks(r: dict) -> str:
    h, w = r["lr_size"]
    lines = ["# CPU speed-up candidates on one residual block", "",
             f"`python bench/speed_variants.py --unit block --lr-size {h}x{w} --repeats "
             f"{r['repeats']} --threads {r['threads']}{_variants_flag(r['ms'])}`: one trunk "
             f"block of {r['model']} "
             f"dense and SSL-compact (p = {r['ratio']}; the compact one an RSC block), stream "
             f"1x64x{h}x{w} channels_last, torch {r['torch']}; {r['repeats']} rounds "
             "interleaved over every cell.", "",
             "| block / variant | min ms | median ms | vs baseline (min / median) | "
             "max abs diff |", "|---|---|---|---|---|"]
    for k, v in r["ms"].items():
        s = r["speedup_vs_baseline"][k]
        lines.append(f"| {k} | {v['min']:.2f} | {v['median']:.2f} | {s['min']:.3f}x / "
                     f"{s['median']:.3f}x | {r['max_abs_diff_vs_baseline'][k]:.1e} |")
    return "\n".join(lines) + "\n"


def markdown(r: dict) -> str:
    if r.get("unit") == "block":
        return markdown_blocks(r)
    h, w = r["lr_size"]
    lines = ["# CPU speed-up candidates, timed side by side", "",
             f"`python bench/speed_variants.py --lr-size {h}x{w} --frames {r['frames']} "
             f"--repeats {r['repeats']} --threads {r['threads']}`: {r['model']} dense and "
             f"SSL-compact (p = {r['ratio']}), LR {h}x{w}, {r['frames']} frames, "
             f"{r['threads']} threads, {r['memory_format']}, torch {r['torch']}; median ms per "
             f"output frame of {r['repeats']} rounds interleaved over every cell. Shared, "
             "loaded machine: compare ratios within this table, not with other runs.", "",
             "| model / variant | ms/frame | vs baseline | max abs diff vs baseline |",
             "|---|---|---|---|"]
    for k, ms in r["ms_per_frame"].items():
        lines.append(f"| {k} | {ms:.0f} | {r['speedup_vs_baseline'][k]:.3f}x | "
                     f"{r['max_abs_diff_vs_baseline'][k]:.1e} |")
    lines += ["", "Dense / compact per variant: " + ", ".join(
        f"{v} {s:.2f}x" for v, s in r["compact_speedup"].items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="basicvsr")
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--lr-size", type=parse_size, default=(90, 160))
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--unit", choices=["model", "block"], default="model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results"))
    args = p.parse_args()
    result = run(args)
    name = "speed_variants_cpu" + ("_block" if args.unit == "block" else "")
    write_text_atomic(args.out / f"{name}.json", json.dumps(result, indent=2))
    write_text_atomic(args.out / f"{name}.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

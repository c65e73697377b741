"""Params, MACs per output frame, latency per frame and peak memory of a model.

MACs are conv + linear multiply-accumulates counted by PyTorch's FlopCounterMode (FLOPs / 2) on a
meta copy of the model; video models count one flow-network (SPyNet) pass per frame, as the
papers do. A model with zero weights also gets non-zero MACs: each conv / linear layer's MACs
times its weight density. Latency is the median of repeated runs after warm-up.
"""

from __future__ import annotations

import argparse
import json

import torch

from srprune.commands.common import (
    add_runtime_argument,
    int_arg,
    is_exported,
    load_any_model,
    load_exported,
    parse_size,
    resolve_device,
)
from srprune.errors import UserError
from srprune.models.registry import MODEL_NAMES
from srprune.profile import profile_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help=f"a model name ({', '.join(MODEL_NAMES)}), an srprune .safetensors "
                        "file, or an exported .onnx / OpenVINO .xml file (timed in --runtime)")
    add_runtime_argument(p)
    p.add_argument("--lr-size", required=True, type=parse_size, metavar="HxW",
                   help="LR input size, e.g. 180x320")
    p.add_argument("--scale", type=int_arg(1, 8), default=4,
                   help="upscaling factor of image models")
    p.add_argument("--frames", type=int_arg(2, 10_000), default=3,
                   help="frames per clip for video models (default 3)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--repeats", type=int_arg(1, 10_000), default=3,
                   help="timed runs (median is reported)")
    p.add_argument("--warmup", type=int_arg(0, 10_000), default=1, help="untimed runs first")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="time in channels_last memory format (default: on)")
    p.add_argument("--no-latency", action="store_true", help="count params and MACs only")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="autocast of the timed runs (fp16 needs CUDA)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    if is_exported(args.model):
        return _run_exported(args)
    device = resolve_device(args.device)
    model, name = load_any_model(args.model, args.scale)
    if not args.no_latency:
        from srprune.resources import check_fits, estimate_inference_bytes, module_bytes

        frames = args.frames if model.is_video else 1
        check_fits(estimate_inference_bytes(model.config, args.lr_size, frames,
                                            weights=module_bytes(model)),
                   f"profiling {name} at LR {args.lr_size[0]}x{args.lr_size[1]}"
                   + (f" x {frames} frames" if frames > 1 else ""),
                   "--lr-size or --frames (or count only, with --no-latency)")
    report = profile_model(model, name, args.lr_size, args.frames, device,
                           latency=not args.no_latency, warmup=args.warmup,
                           repeats=args.repeats, channels_last=args.channels_last,
                           precision=args.precision)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    h, w = args.lr_size
    print(f"model            {report.model}")
    print(f"params           {report.params:,} ({report.nonzero_params:,} non-zero)")
    width = max([15, *(len(part) + 1 for part in report.macs_breakdown)])
    print(f"MACs / frame     {report.macs_per_frame / 1e9:,.2f} G at LR {h}x{w}")
    for part, macs in report.macs_breakdown.items():
        print(f"  {part:<{width}}{macs / 1e9:,.2f} G")
    if report.nonzero_params < report.params and report.nonzero_macs_per_frame is not None:
        share = report.nonzero_macs_per_frame / report.macs_per_frame if report.macs_per_frame \
            else 1.0
        print(f"non-zero MACs    {report.nonzero_macs_per_frame / 1e9:,.2f} G "
              f"({share:.1%} of MACs; conv / linear MACs x weight density)")
        for part, macs in report.nonzero_macs_breakdown.items():
            print(f"  {part:<{width}}{macs / 1e9:,.2f} G")
    if report.latency_ms_per_frame is not None:
        print(f"latency / frame  {report.latency_ms_per_frame:,.1f} ms on {device} "
              f"(median of {len(report.latency_runs_ms)}, {args.precision}, "
              f"{torch.get_num_threads()} threads)")
        print(f"peak memory      {report.peak_memory_mb:,.0f} MB")
    print(f"convention       {report.convention}")
    return 0


def _run_exported(args: argparse.Namespace) -> int:
    """``--model FILE.onnx|FILE.xml``: stored weights, conv MACs and the runtime's latency."""
    from srprune.export.file_profile import profile_file

    if args.precision != "fp32" or args.device not in ("cpu", "auto"):
        raise UserError("--precision and --device apply to PyTorch models; an exported file runs "
                        "in its runtime on the CPU (--runtime, --threads)")
    model, _ = load_exported(args.model, args.runtime, args.threads)
    report = profile_file(model, args.lr_size, args.threads or 0, latency=not args.no_latency,
                          warmup=args.warmup, repeats=args.repeats)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    h, w = args.lr_size
    types = ", ".join(f"{t} {n:,}" for t, n in sorted(report.params_by_type.items()))
    print(f"model            {report.model} ({report.kind} graph, {report.runtime})")
    print(f"params           {report.params:,} ({types or 'none'})")
    macs = ("n/a (needs OpenVINO's shape inference)" if report.macs_per_frame is None
            else f"{report.macs_per_frame / 1e9:,.2f} G")
    print(f"MACs / frame     {macs} at LR {h}x{w}")
    if report.latency_ms_per_frame is not None:
        threads = f"{args.threads} threads" if args.threads else "the runtime's default threads"
        print(f"latency / frame  {report.latency_ms_per_frame:,.1f} ms on cpu "
              f"(median of {len(report.latency_runs_ms)}, {report.runtime}, {threads})")
        print(f"peak memory      {report.peak_memory_mb:,.0f} MB")
    print(f"convention       {report.convention}")
    return 0

"""Super-resolve a video file or a folder of frames with an srprune model.

A bidirectional BasicVSR processes the video in overlapping temporal chunks; a unidirectional
one streams frame by frame; image models (EDSR, ESRB) upscale each frame; ``--tile`` cuts large
frames into tiles. The frame rate is kept and audio is copied. The output is written under a
temporary name and renamed when complete.

Memory stays within a budget (``--max-memory``, default half of the memory available) whatever
the video's length: without ``--chunk`` / ``--tile`` the largest chunk (up to 30 frames) and
then the largest tile that fit are chosen; given values that do not fit are refused in one line.
The bound is chunk x frame size x model width (docs/limits.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srprune.commands.common import (
    add_runtime_argument,
    int_arg,
    is_exported,
    load_any_model,
    memory_arg,
    new_output,
    resolve_device,
)
from srprune.infer.plan import MIN_TILE


def tile_arg(text: str) -> int:
    """An argparse type: 0 (no tiles) or a tile side of MIN_TILE to 8192 LR pixels."""
    value = int_arg(0, 8192)(text)
    if 0 < value < MIN_TILE:
        raise argparse.ArgumentTypeError(f"{value} is too small: use 0 (no tiles) or a tile of "
                                         f"at least {MIN_TILE} pixels")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="srprune .safetensors model file, bicubic, or an exported .onnx / "
                        "OpenVINO .xml file")
    add_runtime_argument(p)
    p.add_argument("--input", required=True, help="video file or folder of frames")
    p.add_argument("--output", required=True,
                   help="video file (.mp4, .mkv, ...) or folder (PNG frames)")
    p.add_argument("--scale", type=int_arg(1, 8), default=4, help="scale of the bicubic model")
    p.add_argument("--chunk", type=int_arg(1, 10_000), default=None,
                   help="frames per chunk of a video model that is not causal (default: up to 30, "
                        "as memory allows)")
    p.add_argument("--overlap", type=int_arg(0, 1000), default=5,
                   help="context frames on each chunk side (default 5)")
    p.add_argument("--tile", type=tile_arg, default=None,
                   help=f"LR tile size in pixels, 0 for none or >= {MIN_TILE} (default: none, "
                        "or tiles when a whole frame does not fit in memory)")
    p.add_argument("--tile-pad", type=int_arg(0, 1024), default=16,
                   help="context pixels around each tile")
    p.add_argument("--max-memory", type=memory_arg, default=None, metavar="SIZE",
                   help="memory budget, e.g. 4G or 500M (default: half of the available memory)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="autocast of the model's forward pass (fp16 needs CUDA); frames are "
                        "converted to uint8 from fp32")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from srprune.infer.io import FrameSink, open_source
    from srprune.infer.plan import plan_memory
    from srprune.infer.upscale import UpscaleOptions, upscale
    from srprune.resources import default_budget

    new_output(Path(args.output), "--output")
    if is_exported(args.model):
        from srprune.commands.export import run_exported_upscale

        return run_exported_upscale(args)
    device = resolve_device(args.device)
    model, name = load_any_model(args.model, args.scale)
    source = open_source(args.input)
    sink = FrameSink(args.output, source.fps, audio_from=source.path if source.is_video else None)
    plan = None
    if source.size is not None:
        plan = plan_memory(model, source.size, chunk=args.chunk, overlap=args.overlap,
                           tile=args.tile, tile_pad=args.tile_pad,
                           budget=args.max_memory or default_budget(device),
                           video_out=sink.is_video)
    chunk = plan.chunk if plan else (args.chunk or 30)
    tile = plan.tile if plan else (args.tile or 0)
    opt = UpscaleOptions(chunk=chunk, overlap=args.overlap, tile=tile, tile_pad=args.tile_pad,
                         device=device, precision=args.precision)
    n = upscale(model, source, sink, opt, progress=not args.quiet and sys.stderr.isatty())
    padded = f"; padded to {sink.padded[0]}x{sink.padded[1]} (HxW) for H.264 4:2:0" \
        if sink.padded else ""
    how = f"; {plan.describe()}" if plan and not args.quiet else ""
    print(f"wrote {n} frames x{model.config.scale} to {args.output} ({name}{how}{padded})")
    return 0

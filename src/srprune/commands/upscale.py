"""Super-resolve a video file or a folder of frames with an srprune model.

A bidirectional BasicVSR processes the video in overlapping temporal chunks (memory stays
bounded); a unidirectional one streams frame by frame; image models (EDSR, ESRB) upscale each
frame. ``--tile`` cuts large frames into tiles. The frame rate is kept and audio is copied.
The output is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import sys

from srprune.commands.common import load_any_model, resolve_device
from srprune.infer.io import FrameSink, open_source
from srprune.infer.upscale import UpscaleOptions, upscale


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="srprune .safetensors model file, bicubic, or an exported .onnx file")
    p.add_argument("--runtime", choices=["onnxruntime", "openvino"], default="onnxruntime",
                   help="runtime for an exported .onnx model (default onnxruntime)")
    p.add_argument("--input", required=True, help="video file or folder of frames")
    p.add_argument("--output", required=True,
                   help="video file (.mp4, .mkv, ...) or folder (PNG frames)")
    p.add_argument("--scale", type=int, default=4, help="scale of the bicubic model")
    p.add_argument("--chunk", type=int, default=30, help="frames per bidirectional chunk")
    p.add_argument("--overlap", type=int, default=5, help="context frames on each chunk side")
    p.add_argument("--tile", type=int, default=0, help="LR tile size in pixels (0: no tiling)")
    p.add_argument("--tile-pad", type=int, default=16, help="context pixels around each tile")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from srprune.errors import UserError

    if args.chunk < 1 or args.overlap < 0 or args.tile < 0 or args.tile_pad < 0:
        raise UserError("--chunk must be >= 1; --overlap, --tile and --tile-pad >= 0")
    if args.model.lower().endswith(".onnx"):
        from srprune.commands.export import run_exported_upscale

        return run_exported_upscale(args)
    model, name = load_any_model(args.model, args.scale)
    source = open_source(args.input)
    sink = FrameSink(args.output, source.fps, audio_from=source.path if source.is_video else None)
    opt = UpscaleOptions(chunk=args.chunk, overlap=args.overlap, tile=args.tile,
                         tile_pad=args.tile_pad, device=resolve_device(args.device))
    n = upscale(model, source, sink, opt, progress=not args.quiet and sys.stderr.isatty())
    print(f"wrote {n} frames x{model.config.scale} to {args.output} ({name})")
    return 0

"""Export an srprune model (dense or compact) to ONNX for onnxruntime and OpenVINO.

Image models export whole; a unidirectional BasicVSR exports as a streaming cell
(lr, prev_lr, hidden -> sr, new_hidden); a bidirectional one as a window of --frames frames.
The file carries its own metadata (kind, scale, sizes, srprune config), so
`srprune upscale --model OUT.onnx` needs nothing else. After writing, the file is run once in
onnxruntime on a random input and compared with PyTorch (--no-check skips that).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from srprune.commands.common import int_arg
from srprune.errors import UserError
from srprune.export.metadata import MAX_FRAMES, MAX_OPSET, MIN_OPSET


def _size(text: str) -> tuple[int, int] | None:
    from srprune.commands.common import parse_size

    if text.strip().lower() == "dynamic":
        return None
    try:
        return parse_size(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(f"{e} or 'dynamic'") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="srprune .safetensors model file")
    p.add_argument("--format", choices=["onnx"], default="onnx",
                   help="output format (onnx; OpenVINO runs the same file)")
    p.add_argument("--output", required=True, help="output .onnx file")
    p.add_argument("--lr-size", type=_size, default=(180, 320), metavar="HxW|dynamic",
                   help="LR frame size the graph is fixed to (default 180x320), or dynamic")
    p.add_argument("--frames", type=int_arg(2, MAX_FRAMES), default=8,
                   help=f"frames per window of a video model that is not causal (2 to "
                        f"{MAX_FRAMES}, default 8)")
    p.add_argument("--opset", type=int_arg(MIN_OPSET, MAX_OPSET), default=18,
                   help=f"ONNX opset, from {MIN_OPSET} to the newest the installed onnx package "
                        "converts to (default 18)")
    p.add_argument("--scale", type=int_arg(2, 4), default=4,
                   help="scale when --model is a model name (2 to 4)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the onnxruntime-vs-PyTorch check after writing")
    p.add_argument("--force", action="store_true", help="replace --output if it exists")
    p.add_argument("--verbose", action="store_true",
                   help="let the exporter's own warnings and log lines through to stderr")


def _check(model: torch.nn.Module, path: str, info) -> float:
    """Max |onnxruntime - PyTorch| on one random input of the exported shape."""
    from srprune.export.onnx_writer import cell_example
    from srprune.export.runtime import ExportedModel

    h, w = info.lr_size or (64, 64)
    g = torch.Generator().manual_seed(1)
    runner = ExportedModel(path, "onnxruntime")
    with torch.no_grad():
        if info.kind == "image":
            x = torch.rand(1, 3, h, w, generator=g)
            ref, got = [model(x)], runner.run([x.numpy()])
        elif info.kind == "stream":
            xs = cell_example(info.cell, (h, w), g)
            ref = list(model.export_module("stream")(*xs))
            got = runner.run([x.numpy() for x in xs])
        else:
            x = torch.rand(1, info.frames, 3, h, w, generator=g)
            ref, got = [model(x)], runner.run([x.numpy()])
    return max(float(np.abs(r.numpy() - o).max()) for r, o in zip(ref, got, strict=True))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from srprune.commands.common import load_any_model, new_output
    from srprune.export.onnx_writer import check_opset, export_onnx

    if not args.output.lower().endswith(".onnx"):
        raise UserError(f"--output {args.output}: use a .onnx file name")
    new_output(Path(args.output), "--output", force=args.force)
    check_opset(args.opset)
    model, name = load_any_model(args.model, args.scale)
    model = model.to("cpu", memory_format=torch.contiguous_format).eval()
    info = export_onnx(model, args.output, args.lr_size, args.frames, args.opset,
                       verbose=args.verbose)
    size = "dynamic" if info.lr_size is None else f"{info.lr_size[0]}x{info.lr_size[1]}"
    what = {"image": "whole network", "stream": "streaming cell",
            "window": f"{info.frames}-frame window"}[info.kind]
    line = f"wrote {args.output}: {name}, {what}, LR {size}, x{info.scale}, opset {info.opset}"
    if not args.no_check:
        line += f"; onnxruntime vs PyTorch max |diff| {_check(model, args.output, info):.2e}"
    print(line)
    return 0


def run_exported_upscale(args: argparse.Namespace) -> int:
    """``srprune upscale --model FILE.onnx|FILE.xml``: stream through onnxruntime or OpenVINO
    (frames of any size the runtime can run the file at)."""
    from srprune.commands.common import load_exported
    from srprune.infer.io import FrameSink, open_source
    from srprune.infer.onnx_runner import upscale_exported

    if args.tile:
        raise UserError("--tile is not available with an exported model; export it for the "
                        "frame size instead (--lr-size HxW or dynamic)")
    model, _ = load_exported(args.model, args.runtime, getattr(args, "threads", None))
    source = open_source(args.input)
    sink = FrameSink(args.output, source.fps, audio_from=source.path if source.is_video else None)
    n = upscale_exported(model, source, sink, overlap=args.overlap,
                         progress=not args.quiet and sys.stderr.isatty())
    print(f"wrote {n} frames x{model.info.scale} to {args.output} "
          f"({model.path.name}, {model.info.kind}, {model.runtime})")
    return 0

"""Post-training INT8 of an srprune model for onnxruntime (.onnx) or OpenVINO (.xml + .bin).

The model (dense or compact .safetensors, or a float .onnx from `srprune export`) is exported
to ONNX as `srprune export` does, calibrated on your LR frames (--calib: a folder of frames, of
frame folders or of videos; crops of --lr-size, or the frames' own size for a dynamic graph) and
quantized: onnxruntime's quantize_static (QDQ, weights s8 per channel, activations u8) for
OUT.onnx, NNCF for OUT.xml. Parts the model declares precision-sensitive (roles such as head,
tail, flow) can stay in float: --keep-fp32 lists them (default: the measured choice per runtime,
see docs/quantization.md), --quantize-all keeps none. Part of the clips is held out: the report
(printed and written to OUT.quantize.json) gives the INT8 file's PSNR against its float self on
them, both files' latency in the runtime and, for video models, per-frame drift over a long clip.
The INT8 file records what stayed float, the scheme and the calibration in its metadata, and
`srprune upscale`, `test` and `profile --model OUT` run it (.onnx or .xml).

examples:
  srprune quantize --model compact.safetensors --calib clips/ --output compact_int8.xml
  srprune quantize --model compact.onnx --calib clips/ --output int8.onnx --keep-fp32 flow,tail
"""

from __future__ import annotations

import argparse

from srprune.commands.common import int_arg
from srprune.export.metadata import MAX_FRAMES


def _size(text: str) -> tuple[int, int] | None:
    from srprune.commands.export import _size as size

    return size(text)


def _roles(text: str) -> list[str]:
    roles = [r.strip() for r in text.split(",") if r.strip()]
    if not roles:
        raise argparse.ArgumentTypeError("name at least one role (e.g. flow,tail)")
    return roles


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="srprune .safetensors model (dense or compact) or a float .onnx export")
    p.add_argument("--calib", required=True, metavar="DIR",
                   help="LR calibration footage: images, folders of frames or videos (no HR)")
    p.add_argument("--output", required=True, metavar="OUT",
                   help="OUT.onnx (onnxruntime) or OUT.xml (+ OUT.bin, OpenVINO IR)")
    p.add_argument("--runtime", choices=["onnxruntime", "openvino"], default=None,
                   help="target runtime (default: from the --output suffix)")
    p.add_argument("--lr-size", type=_size, default=(180, 320), metavar="HxW|dynamic",
                   help="LR size the graph is fixed to (default 180x320; calibration takes "
                        "central crops of it), or dynamic; ignored for an .onnx --model")
    p.add_argument("--frames", type=int_arg(2, MAX_FRAMES), default=8, metavar="T",
                   help="frames per window of a video model that is not causal (default 8)")
    keep = p.add_mutually_exclusive_group()
    keep.add_argument("--keep-fp32", type=_roles, default=None, metavar="ROLE,...",
                      help="roles the model declares that stay float (default: the measured "
                           "choice per runtime; the report lists the model's roles)")
    keep.add_argument("--quantize-all", action="store_true",
                      help="quantize every role (nothing kept in float)")
    p.add_argument("--calib-frames", type=int_arg(1, 10000), default=16, metavar="N",
                   help="calibration samples: frames, windows or cell steps (default 16)")
    p.add_argument("--drift-frames", type=int_arg(0, 10000), default=100, metavar="N",
                   help="video models: frames of the drift check (default 100; 0 skips it)")
    p.add_argument("--repeats", type=int_arg(1, 100), default=5,
                   help="interleaved latency repeats (default 5)")
    p.add_argument("--force", action="store_true", help="replace existing outputs")


def run(args: argparse.Namespace) -> int:
    from srprune.quantize.api import quantize

    keep = [] if args.quantize_all else args.keep_fp32
    report = quantize(args.model, args.calib, args.output, runtime=args.runtime,
                      lr_size=args.lr_size, frames=args.frames, keep=keep,
                      calib_frames=args.calib_frames, force=args.force,
                      threads=args.threads or 0, repeats=args.repeats,
                      drift_frames=args.drift_frames)
    for line in report.lines():
        print(line)
    return 0

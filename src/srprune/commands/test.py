"""Evaluate a model (or bicubic) on a dataset: per-clip and average PSNR/SSIM.

Each layout scores with its dataset's convention (as BasicSR does): reds4 and frames on RGB,
vid4 / vimeo (centre frame) / sisr on Y; crop border 0 for video, the scale for SISR; per clip,
then over clips. --flip-ensemble adds temporal-flip self-ensemble (the official SSL test configs
use it for Vid4 and Vimeo).

SISR sets: ``HR/`` + ``LR_bicubic/X{s}/`` (DIV2K, EDSR-PyTorch's benchmark) or ``GTmod12/`` +
``LRbicx{s}/`` (BasicSR); without the LR folder LR is made with MATLAB bicubic from the
mod-cropped HR. A --data folder holding several sets (benchmark/ with Set5, Set14, B100, ...)
is scored set by set: one row per set (PSNR/SSIM on Y, crop border = scale).

--reference DENSE: no HR. --data is then LR frames (images, folders of frames or video files,
as `srprune prune --distill` reads them) and each clip is scored against DENSE's output on it:
fidelity of a compact model to the dense one it came from (RGB, no border crop).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from srprune.commands.common import (
    add_runtime_argument,
    int_arg,
    is_exported,
    load_any_model,
    load_exported,
    new_output,
    resolve_device,
)
from srprune.errors import UserError
from srprune.export.runtime import ExportedModel
from srprune.io.atomic import atomic_dir

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from srprune.data.layouts import Clip
    from srprune.eval.conventions import MetricConvention
    from srprune.eval.scores import ScoreBook

EMBEDDED = ("default", "default-video", "default-images")
SPLIT_DEFAULTS = {"reds4": ("reds", "reds4"), "vimeo": ("vimeo", "test")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="srprune .safetensors file, bicubic, or an exported .onnx / OpenVINO "
                        ".xml file (run in --runtime)")
    add_runtime_argument(p)
    p.add_argument("--data", required=True, type=Path,
                   help="dataset root folder (sisr: one set, or a folder of sets such as "
                        "benchmark/ holding Set5, Set14, ...), or an embedded set's held-out "
                        "half: default-video (the demo's clips, layout frames), default-images "
                        "(photo crops, layout sisr) or default (the video clips for a video "
                        "model or --layout frames, else the images)")
    p.add_argument("--layout", default=None,
                   choices=["reds4", "vid4", "vimeo", "frames", "sisr"],
                   help="dataset layout (reds4 = the REDS4 clips of a REDS root; vimeo = the "
                        "Vimeo-90K-T test list); needed unless --data is an embedded set")
    p.add_argument("--scale", type=int_arg(1, 8), default=4,
                   help="scale (SISR models and bicubic)")
    p.add_argument("--flip-ensemble", action="store_true", help="temporal-flip self-ensemble")
    p.add_argument("--chunk", type=int_arg(1, 100_000),
                   help="frames per forward pass (default: whole clip)")
    p.add_argument("--max-clips", type=int_arg(1, 10_000_000),
                   help="score only the first N clips (of each set)")
    p.add_argument("--save-frames", type=Path,
                   help="write SR frames here (PNG per clip; a sub-folder per SISR set)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="autocast of the model's forward pass (fp16 needs CUDA); PSNR/SSIM "
                        "are computed in fp32")
    p.add_argument("--json", action="store_true", help="print JSON (per-frame scores included)")
    p.add_argument("--reference", metavar="MODEL",
                   help="score against this model's output instead of HR: --data is LR frames "
                        "(images, frame folders or videos; no --layout); a .safetensors, .onnx "
                        "or .xml file")
    p.add_argument("--max-frames", type=int_arg(1, 100_000), default=None,
                   help="with --reference: frames scored per clip (default all, up to 300 "
                        "read per video or folder)")


def _load(args: argparse.Namespace, spec: str) -> tuple[nn.Module | ExportedModel, str]:
    """A PyTorch model, or an exported file in its runtime (``--chunk`` and ``--precision``
    are PyTorch's: refused with an exported file)."""
    if not is_exported(spec):
        return load_any_model(spec, args.scale)
    if args.chunk is not None or getattr(args, "precision", "fp32") != "fp32":
        raise UserError("--chunk and --precision apply to PyTorch models; an exported file runs "
                        "its own graph (a window file T frames at a time)")
    return load_exported(spec, getattr(args, "runtime", None), getattr(args, "threads", None))


def _kind(model: nn.Module | ExportedModel) -> tuple[bool, int]:
    """(video model, scale) of a PyTorch model or an exported file."""
    if isinstance(model, ExportedModel):
        return model.info.kind != "image", model.info.scale
    return bool(model.is_video), int(model.config.scale)


def run(args: argparse.Namespace) -> int:
    from srprune.data.layouts import is_sisr_set, open_layout, sisr_sets
    from srprune.eval.conventions import convention_for

    if args.reference is not None:
        return _fidelity(args)
    embedded = str(args.data) in EMBEDDED
    if args.layout is None and not embedded:
        raise UserError("--layout is needed with a --data folder (reds4, vid4, vimeo, frames "
                        "or sisr), or name an embedded set: --data default-video|default-images")
    if args.save_frames is not None:
        new_output(args.save_frames, "--save-frames")
    model, name = _load(args, args.model)
    video, scale = _kind(model)
    if embedded:
        args.data, args.layout = _embedded(str(args.data), args.layout, video, scale)
    multi = args.layout == "sisr" and args.data.is_dir() and not is_sisr_set(args.data)
    if multi:
        sets = sisr_sets(args.data, scale)
    else:
        layout, split = SPLIT_DEFAULTS.get(args.layout, (args.layout, None))
        sets = {"": open_layout(args.data, layout, split, scale)}
    conv = convention_for(args.layout, scale, flip_ensemble=args.flip_ensemble)
    if not isinstance(model, ExportedModel):  # an exported file holds one frame or window
        for clips in sets.values():
            _check_memory(args, model, clips[: args.max_clips] if args.max_clips else clips,
                          scale)
    with contextlib.ExitStack() as stack:
        save_tmp = None
        if args.save_frames is not None:  # written under a temporary name, renamed when done
            save_tmp = stack.enter_context(atomic_dir(args.save_frames))
        books = {set_name: _evaluate(args, model, clips, scale, conv,
                                     save_tmp / set_name if save_tmp and multi else save_tmp)
                 for set_name, clips in sets.items()}
    if multi:
        return _print_sets(args, name, conv, books)
    runtime = model.runtime if isinstance(model, ExportedModel) else None
    return _print_book(args, name, conv, books[""], runtime)


def _print_book(args: argparse.Namespace, name: str, conv: MetricConvention, book: ScoreBook,
                runtime: str | None) -> int:
    """Per-clip rows and the average (text, or JSON with per-frame scores); ``runtime``: the
    one an exported file ran in."""
    from srprune.eval.evaluate import summary_rows

    if args.json:
        print(json.dumps({"model": name, **({"runtime": runtime} if runtime else {}),
                          "layout": args.layout, "scores": book.to_dict()}, indent=2))
        return 0
    where = f" in {runtime}" if runtime else ""
    print(f"{name}{where} on {args.data} ({args.layout}: {conv.describe()})")
    for row in summary_rows(book):
        print(f"  {row['clip']:<24} {row['psnr']:7.3f} dB  {row['ssim']:.4f}")
    return 0


def _embedded(name: str, layout: str | None, model_video: bool, scale: int
              ) -> tuple[Path, str]:
    """(folder, layout) of the held-out half of an embedded set named by ``--data``."""
    from srprune.train.datasets import default_root

    video = {"default-video": True, "default-images": False}.get(name)
    if video is None:  # plain "default": --layout decides, else the model's kind
        video = layout == "frames" if layout in ("frames", "sisr") else model_video
    base, default_layout = default_root(video, scale)
    if layout not in (None, default_layout):
        raise UserError(f"--data {name} is the embedded {'video' if video else 'image'} set in "
                        f"the {default_layout!r} layout; pass --layout {default_layout} or leave "
                        "--layout out")
    return base / "val", default_layout


def _check_memory(args: argparse.Namespace, model: nn.Module, clips: list[Clip],
                  scale: int) -> None:
    """One line before scoring when the longest clip (read whole, scored with ``--chunk``
    frames per pass) cannot fit: clip frames (LR, GT, SR) plus one forward pass."""
    from srprune.data.images import image_size
    from srprune.resources import (
        FLOAT_BYTES,
        check_fits,
        estimate_inference_bytes,
        module_bytes,
    )

    if not clips:
        return
    first = clips[0]
    if first.lr:
        h, w = image_size(first.lr[0])
    else:
        gh, gw = image_size(first.gt[0])
        h, w = gh // scale, gw // scale
    video = bool(getattr(model, "is_video", False))
    longest = max(len(c) for c in clips)
    per_pass = min(args.chunk or longest, longest) if video else 1
    frames = 2 * per_pass if video and args.flip_ensemble else per_pass
    held = longest * h * w * 3 * (1 + 2 * scale * scale) * FLOAT_BYTES  # LR, GT, SR of a clip
    need = held + estimate_inference_bytes(model.config, (max(h, 1), max(w, 1)), frames,
                                           weights=module_bytes(model))
    lower = "--chunk (frames per forward pass)" if video else "the size of the images"
    check_fits(need, f"scoring clips of {longest} frames of {h}x{w}"
               + (f" ({per_pass} per pass)" if video else ""), lower)


def _evaluate(args: argparse.Namespace, model: nn.Module | ExportedModel, clips: list[Clip],
              scale: int, conv: MetricConvention, save: Path | None) -> ScoreBook:
    """Score the first ``--max-clips`` of ``clips``, saving SR frames under ``save``."""
    from srprune.eval.evaluate import evaluate
    from srprune.infer.exported_eval import evaluate_exported

    if args.max_clips:
        clips = clips[: args.max_clips]
    progress = not args.json and sys.stderr.isatty()
    if isinstance(model, ExportedModel):
        return evaluate_exported(model, clips, conv, save, progress)
    return evaluate(model, clips, scale, conv, resolve_device(args.device), args.chunk, save,
                    progress=progress, precision=getattr(args, "precision", "fp32"))


def _print_sets(args: argparse.Namespace, name: str, conv: MetricConvention,
                books: dict[str, ScoreBook]) -> int:
    """One row per SISR set: images scored, mean PSNR and SSIM (text, or JSON with the books)."""
    scores = {set_name: book.to_dict() for set_name, book in books.items()}
    rows = [{"set": set_name, "images": d["num_clips"], "psnr": d["psnr"], "ssim": d["ssim"]}
            for set_name, d in scores.items()]
    if args.json:
        print(json.dumps({"model": name, "layout": args.layout, "convention": conv.to_dict(),
                          "rows": rows, "sets": scores}, indent=2))
        return 0
    print(f"{name} on {args.data} ({args.layout}, {len(rows)} sets: {conv.describe()})")
    for row in rows:
        print(f"  {row['set']:<16} {row['images']:>4} images  {float(row['psnr']):7.3f} dB  "
              f"{row['ssim']:.4f}")
    return 0


def _fidelity(args: argparse.Namespace) -> int:
    """``--reference``: every clip of the LR folder scored against the reference's output
    (either side may be an exported file)."""
    from srprune.data.lr_frames import load_lr_clips
    from srprune.eval.fidelity import PSNR_KEY, SSIM_KEY, fidelity_scores

    if args.layout is not None or args.save_frames is not None or args.flip_ensemble:
        raise UserError("--reference scores LR frames against a model's output: leave out "
                        "--layout, --save-frames and --flip-ensemble")
    model, name = _load(args, args.model)
    reference, ref_name = _load(args, args.reference)
    if _kind(reference) != _kind(model):
        raise UserError(f"--reference {ref_name} is not the same kind of model as {name} "
                        "(video vs image, or another scale)")
    limit = args.max_frames or 300
    clips = load_lr_clips(args.data, _kind(model)[0], max(limit, 2), 30)[: args.max_clips]
    device = resolve_device(args.device)
    rows = []
    for clip in clips:
        frames = clip.frames[:limit]
        refs = _outputs(reference, frames, device, args.chunk)
        rows.append({"clip": clip.name, "frames": len(frames),
                     **fidelity_scores(_outputs(model, frames, device, args.chunk), refs)})
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in (PSNR_KEY, SSIM_KEY)}
    if args.json:
        print(json.dumps({"model": name, "reference": ref_name, "rows": rows, **mean},
                         indent=2))
        return 0
    print(f"{name} against {ref_name}'s output on {args.data} (RGB, PSNR/SSIM to the reference)")
    for r in rows:
        print(f"  {r['clip']:<24} {r[PSNR_KEY]:7.3f} dB  {r[SSIM_KEY]:.4f}")
    print(f"  {'average':<24} {mean[PSNR_KEY]:7.3f} dB  {mean[SSIM_KEY]:.4f}")
    return 0


def _outputs(model: nn.Module | ExportedModel, frames: list[np.ndarray], device: str,
             chunk: int | None) -> list[np.ndarray]:
    """uint8 SR frames of a clip's uint8 LR frames, from a PyTorch model or an exported file."""
    import numpy as np

    from srprune.eval.fidelity import teacher_outputs
    from srprune.eval.metrics import tensor_to_uint8
    from srprune.infer.exported_eval import exported_sr

    if isinstance(model, ExportedModel):
        return [tensor_to_uint8(f) for f in exported_sr(model, np.stack(frames))]
    return teacher_outputs(model, frames, device, chunk)

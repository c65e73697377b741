"""Evaluate a model (or bicubic) on a dataset: per-clip and average PSNR/SSIM.

Each layout scores with its dataset's convention (as BasicSR does): reds4 and frames on RGB,
vid4 / vimeo (centre frame) / sisr on Y; crop border 0 for video, the scale for SISR; per clip,
then over clips. --flip-ensemble adds temporal-flip self-ensemble (the official SSL test configs
use it for Vid4 and Vimeo).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from srprune.commands.common import load_any_model, resolve_device
from srprune.errors import UserError

SPLIT_DEFAULTS = {"reds4": ("reds", "reds4"), "vimeo": ("vimeo", "test")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="srprune .safetensors file, or bicubic")
    p.add_argument("--data", required=True, type=Path, help="dataset root folder")
    p.add_argument("--layout", required=True,
                   choices=["reds4", "vid4", "vimeo", "frames", "sisr"],
                   help="dataset layout (reds4 = the REDS4 clips of a REDS root; vimeo = the "
                        "Vimeo-90K-T test list)")
    p.add_argument("--scale", type=int, default=4, help="scale (SISR models and bicubic)")
    p.add_argument("--flip-ensemble", action="store_true", help="temporal-flip self-ensemble")
    p.add_argument("--chunk", type=int, help="frames per forward pass (default: whole clip)")
    p.add_argument("--max-clips", type=int, help="score only the first N clips")
    p.add_argument("--save-frames", type=Path, help="write SR frames here (PNG per clip)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--json", action="store_true", help="print JSON (per-frame scores included)")


def run(args: argparse.Namespace) -> int:
    from srprune.data.layouts import open_layout
    from srprune.eval.conventions import convention_for
    from srprune.eval.evaluate import evaluate, summary_rows

    model, name = load_any_model(args.model, args.scale)
    scale = model.config.scale
    if args.save_frames is not None and args.save_frames.exists():
        raise UserError(f"--save-frames {args.save_frames} exists; choose a new folder")
    layout, split = SPLIT_DEFAULTS.get(args.layout, (args.layout, None))
    clips = open_layout(args.data, layout, split, scale)
    if args.max_clips:
        clips = clips[: args.max_clips]
    conv = convention_for(args.layout, scale, flip_ensemble=args.flip_ensemble)
    save_tmp = None
    if args.save_frames is not None:
        save_tmp = args.save_frames.with_name(f".{args.save_frames.name}.part")
    book = evaluate(model, clips, scale, conv, resolve_device(args.device), args.chunk,
                    save_tmp, progress=not args.json and sys.stderr.isatty())
    if save_tmp is not None:
        save_tmp.rename(args.save_frames)
    if args.json:
        print(json.dumps({"model": name, "layout": args.layout, "scores": book.to_dict()},
                         indent=2))
        return 0
    print(f"{name} on {args.data} ({args.layout}: {conv.describe()})")
    for row in summary_rows(book):
        print(f"  {row['clip']:<24} {row['psnr']:7.3f} dB  {row['ssim']:.4f}")
    return 0

"""Evaluate a model on a dataset: per-clip and average PSNR/SSIM with the layout's convention."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from srprune.data.layouts import Clip, load_clip
from srprune.eval.conventions import MetricConvention
from srprune.eval.ensemble import flip_ensemble
from srprune.eval.metrics import tensor_to_uint8
from srprune.eval.scores import ScoreBook


def clip_runner(model: nn.Module, device: str, flip: bool, chunk: int | None
                ) -> Callable[[torch.Tensor], torch.Tensor]:
    """LR frames (T,3,h,w) -> SR frames (T,3,H,W) on the CPU, clamped to [0, 1]."""

    def run_video(lrs: torch.Tensor) -> torch.Tensor:
        return model(lrs.to(device)).cpu()

    def run(lr: torch.Tensor) -> torch.Tensor:
        if getattr(model, "is_video", False):
            step = chunk or lr.shape[0]
            outs = []
            for a in range(0, lr.shape[0], step):
                x = lr[None, a:a + step]
                outs.append((flip_ensemble(run_video, x) if flip else run_video(x))[0])
            return torch.cat(outs).clamp_(0, 1)
        return torch.cat([model(f[None].to(device)).cpu() for f in lr]).clamp_(0, 1)

    return run


@torch.no_grad()
def evaluate(model: nn.Module, clips: list[Clip], scale: int, conv: MetricConvention,
             device: str = "cpu", chunk: int | None = None,
             save_frames: Path | None = None, progress: bool = False) -> ScoreBook:
    """Score ``model`` on ``clips``; optionally save the SR frames as PNGs per clip."""
    from srprune.data.images import write_image

    model = model.to(device).eval()
    run = clip_runner(model, device, conv.flip_ensemble, chunk)
    book = ScoreBook(conv)
    for clip in tqdm(clips, desc="test", unit="clip", disable=not progress):
        lr, gt = load_clip(clip, scale)
        sr = run(lr)
        book.add_clip(clip.name, sr, gt, conv)
        if save_frames is not None:
            for t, frame in enumerate(sr):
                write_image(save_frames / clip.name / f"{t:08d}.png", tensor_to_uint8(frame))
    return book


def summary_rows(book: ScoreBook) -> list[dict[str, Any]]:
    """(clip, psnr, ssim) rows then the mean, for printing."""
    rows = [{"clip": name, "psnr": p, "ssim": s} for name, (p, s) in book.per_clip().items()]
    p, s = book.mean()
    rows.append({"clip": "average", "psnr": p, "ssim": s})
    return rows

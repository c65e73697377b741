"""Evaluate a model on a dataset: per-clip and average PSNR/SSIM with the layout's convention."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from srprune.data.images import write_image
from srprune.data.layouts import Clip, load_clip
from srprune.eval.conventions import MetricConvention
from srprune.eval.ensemble import flip_ensemble
from srprune.eval.metrics import tensor_to_uint8
from srprune.eval.scores import ScoreBook
from srprune.precision import autocast, check_precision


@torch.no_grad()
def super_resolve(model: nn.Module, lr: torch.Tensor, device: str | torch.device,
                  chunk: int | None = None, flip: bool = False,
                  precision: str = "fp32") -> torch.Tensor:
    """SR frames (T,3,H,W) on the CPU, float32, clamped to [0,1], for LR frames (T,3,h,w).

    Video models run on the clip (or on chunks of ``chunk`` frames, each a separate clip to the
    recurrence), with temporal-flip self-ensemble if ``flip``; image models frame by frame.
    ``precision``: autocast of the forward passes (outputs are cast back to float32).
    """
    def forward(x: torch.Tensor) -> torch.Tensor:
        with autocast(precision, device):
            return model(x.to(device)).float().cpu()

    if not model.is_video:
        return torch.cat([forward(f[None]) for f in lr]).clamp_(0, 1)

    def run(x: torch.Tensor) -> torch.Tensor:
        return forward(x)

    step = chunk or lr.shape[0]
    outs = []
    for a in range(0, lr.shape[0], step):
        x = lr[None, a:a + step]
        outs.append((flip_ensemble(run, x) if flip else run(x))[0])
    return torch.cat(outs).clamp_(0, 1)


@torch.no_grad()
def evaluate(model: nn.Module, clips: list[Clip], scale: int, conv: MetricConvention,
             device: str = "cpu", chunk: int | None = None,
             save_frames: Path | None = None, progress: bool = False,
             precision: str = "fp32") -> ScoreBook:
    """Score ``model`` on ``clips``; optionally save the SR frames as PNGs per clip.
    ``precision``: autocast of the forward passes; metrics are computed in fp32."""
    check_precision(precision, device)
    model = model.to(device).eval()
    book = ScoreBook(conv)
    for clip in tqdm(clips, desc="test", unit="clip", disable=not progress):
        lr, gt = load_clip(clip, scale)
        sr = super_resolve(model, lr, device, chunk, conv.flip_ensemble, precision)
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

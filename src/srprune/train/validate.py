"""Validation during training: super-resolve held-out clips and score them by their convention.

Video models see each clip whole, or in chunks of at most ``chunk`` frames to bound memory (each
chunk is a separate clip to the recurrence, so a chunked score can be a little lower); image
models see each image. Scores are BasicSR's (uint8-rounded PSNR/SSIM, the layout's colour space
and border crop), averaged per clip first, then over clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from srprune.data.images import to_tensor
from srprune.data.layouts import load_clip_uint8
from srprune.eval.conventions import MetricConvention, convention_for
from srprune.eval.evaluate import super_resolve
from srprune.eval.scores import ScoreBook
from srprune.train.config import ValConfig
from srprune.train.datasets import val_clips

CACHE_BYTES = 1 << 30  # keep decoded validation clips in memory up to this size


class ClipValidator:
    """``validator(model) -> {"psnr", "ssim"}`` over fixed held-out clips.

    Args:
        clips: ``srprune.data.layouts.Clip`` objects.
        scale: SR factor.
        convention: How to score (see :func:`srprune.eval.conventions.convention_for`).
        device: Where the model runs.
        chunk: Frames per forward pass of a video model (None: whole clip).
        max_frames: Use only the first ``max_frames`` frames of each clip.
    """

    def __init__(self, clips: Sequence[Any], scale: int, convention: MetricConvention,
                 device: str | torch.device = "cpu", chunk: int | None = None,
                 max_frames: int | None = None) -> None:
        self.clips = list(clips)
        self.scale = scale
        self.convention = convention
        self.device = device
        self.chunk = chunk
        self.max_frames = max_frames
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cached_bytes = 0

    def _frames(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i in self._cache:
            lr, gt = self._cache[i]
        else:
            clip = self.clips[i]
            n = len(clip) if self.max_frames is None else min(len(clip), self.max_frames)
            lr, gt = load_clip_uint8(clip, self.scale, list(range(n)))
            if self._cached_bytes + lr.nbytes + gt.nbytes <= CACHE_BYTES:
                self._cache[i] = (lr, gt)
                self._cached_bytes += lr.nbytes + gt.nbytes
        return to_tensor(lr), to_tensor(gt)

    def __call__(self, model: nn.Module) -> dict[str, float]:
        book = ScoreBook(self.convention)
        for i, clip in enumerate(self.clips):
            lr, gt = self._frames(i)
            sr = super_resolve(model, lr, self.device, self.chunk)
            book.add_clip(clip.name, sr, gt, self.convention)
        psnr, ssim = book.mean()
        return {"psnr": psnr, "ssim": ssim}


def make_validator(val: ValConfig, scale: int, is_video: bool,
                   device: str | torch.device = "cpu") -> ClipValidator:
    """A :class:`ClipValidator` for the ``data.val`` section of a config."""
    clips, layout = val_clips(val, scale, is_video)
    return ClipValidator(clips, scale, convention_for(layout, scale), device, val.chunk,
                         val.max_frames)

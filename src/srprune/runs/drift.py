"""Temporal drift of a video model against a reference model over a long LR clip.

The long clip is one short clip played forward and backward (:func:`srprune.eval.drift.ping_pong`,
no jump cut) until it has ``frames`` frames, centre-cropped to at most ``max_lr_size`` so the
measurement stays cheap: :func:`embedded_long_clip` uses the first held-out clip of the embedded
video set (``--data default-video``, the demo's clips: 12 frames of 32x32 LR), the prune report
its validation data's first clip (:func:`long_clip`). :func:`model_drift` runs both PyTorch
models on the whole clip (each sees it as one sequence, so the hidden state runs through all
of it) and scores them with :func:`srprune.eval.drift.temporal_drift`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from srprune.data.images import to_tensor
from srprune.data.layouts import Clip, load_clip_uint8
from srprune.errors import UserError
from srprune.eval.drift import DEFAULT_LENGTH, DriftReport, ping_pong, temporal_drift, uint8_frames
from srprune.eval.evaluate import super_resolve
from srprune.train.config import ValConfig
from srprune.train.datasets import val_clips

__all__ = ["centre_crop", "embedded_long_clip", "long_clip", "model_drift"]


def centre_crop(frames: np.ndarray, max_lr_size: tuple[int, int] | None) -> np.ndarray:
    """uint8 (T, h, w, 3) frames cropped around their centre to at most ``max_lr_size``."""
    if max_lr_size is None:
        return frames
    h, w = frames.shape[1:3]
    ch, cw = min(h, max_lr_size[0]), min(w, max_lr_size[1])
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(frames[:, top:top + ch, left:left + cw])


def long_clip(clip: Clip, scale: int, frames: int = DEFAULT_LENGTH,
              max_lr_size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """``frames`` uint8 (h, w, 3) LR frames of ``clip`` played ping-pong (forward, backward,
    ...), centre-cropped to at most ``max_lr_size``."""
    lr, _ = load_clip_uint8(clip, scale, range(min(len(clip), frames)))
    return ping_pong(list(centre_crop(lr, max_lr_size)), frames)


def embedded_long_clip(scale: int = 4, frames: int = DEFAULT_LENGTH, index: int = 0,
                       max_lr_size: tuple[int, int] | None = None) -> tuple[str, list[np.ndarray]]:
    """(clip name, ``frames`` LR frames) of held-out clip ``index`` of the embedded video set
    (built and cached on first use), played ping-pong."""
    clips, _ = val_clips(ValConfig(layout="frames", root="default"), scale, True)
    if not 0 <= index < len(clips):
        raise UserError(f"the embedded video set has {len(clips)} held-out clips; got index "
                        f"{index}")
    return clips[index].name, long_clip(clips[index], scale, frames, max_lr_size)


@torch.no_grad()
def _outputs(model: nn.Module, lr: torch.Tensor, device: str) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return super_resolve(model.to(device), lr, device)
    finally:
        model.train(was_training)


def model_drift(reference: nn.Module, candidate: nn.Module, frames: list[np.ndarray],
                device: str = "cpu") -> DriftReport:
    """Per-frame PSNR of ``candidate``'s output against ``reference``'s on LR ``frames``
    (uint8 (h, w, 3); each model runs the whole clip as one sequence)."""
    lr = to_tensor(np.stack(frames))
    ref = _outputs(reference, lr, device)
    cand = _outputs(candidate, lr, device)
    return temporal_drift(uint8_frames(ref), uint8_frames(cand))


def drift_record(clip: str, frames: list[np.ndarray], report: DriftReport,
                 what: str) -> dict[str, Any]:
    """The report's ``drift`` entry: where it was measured and the :class:`DriftReport`."""
    h, w = frames[0].shape[:2]
    return {"clip": clip, "lr_size": [h, w],
            "order": "ping-pong (forward, backward, ...; no jump cut)", "compared": what,
            **report.to_json(), "summary": report.summary()}

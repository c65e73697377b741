"""Fidelity to a teacher: PSNR/SSIM of a model's output against the teacher's on LR clips.

With no HR frames, what a compact model can be held to is the dense model it came from:
:class:`TeacherFidelity` upscales held-out LR clips with the teacher once, keeps its outputs as
uint8 frames, and scores any model's outputs against them (RGB, no border crop, mean over
frames).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np
from torch import nn

from srprune.data.images import to_tensor
from srprune.data.lr_frames import LRClip
from srprune.eval.evaluate import super_resolve
from srprune.eval.metrics import psnr, ssim, tensor_to_uint8

PSNR_KEY = "fidelity_psnr"
SSIM_KEY = "fidelity_ssim"


def teacher_outputs(model: nn.Module, frames: Sequence[np.ndarray], device: str,
                    chunk: int | None = None) -> list[np.ndarray]:
    """uint8 SR frames of a model on uint8 (h, w, 3) LR frames (a video model sees them as
    one clip, or chunks of ``chunk`` frames), in eval mode (its mode is restored)."""
    was_training = model.training
    model.eval()
    try:
        sr = super_resolve(model.to(device), to_tensor(np.stack(frames)), device, chunk=chunk)
    finally:
        model.train(was_training)
    return [tensor_to_uint8(f) for f in sr]


def fidelity_scores(outputs: Sequence[np.ndarray], references: Sequence[np.ndarray]
                    ) -> dict[str, float]:
    """Mean PSNR (identical frames count 100 dB) and SSIM of uint8 frames against references
    (RGB, no border crop)."""
    pairs = list(zip(outputs, references, strict=True))
    return {PSNR_KEY: statistics.fmean(min(psnr(o, r), 100.0) for o, r in pairs),
            SSIM_KEY: statistics.fmean(ssim(o, r) for o, r in pairs)}


class TeacherFidelity:
    """``fidelity(model) -> {"fidelity_psnr": dB, "fidelity_ssim": ...}`` against ``teacher``.

    Args:
        teacher: the reference model (the dense one).
        clips: held-out LR clips; at most ``max_clips`` of them, ``max_frames`` frames each.
        device: where the models run.
        chunk: video models run on chunks of this many frames (None: whole clips).
    """

    def __init__(self, teacher: nn.Module, clips: Sequence[LRClip], device: str,
                 max_clips: int = 4, max_frames: int = 10, chunk: int | None = None) -> None:
        if not clips:
            raise ValueError("TeacherFidelity needs at least one clip")
        self.device = device
        self.chunk = chunk
        self.inputs = [c.frames[:max_frames] for c in clips[:max_clips]]
        self.names = [c.name for c in clips[:max_clips]]
        self.references = [self._outputs(teacher, lr) for lr in self.inputs]

    def _outputs(self, model: nn.Module, frames: list[np.ndarray]) -> list[np.ndarray]:
        return teacher_outputs(model, frames, self.device, self.chunk)

    def __call__(self, model: nn.Module) -> dict[str, float]:
        outs = [f for lr in self.inputs for f in self._outputs(model, lr)]
        return fidelity_scores(outs, [f for refs in self.references for f in refs])

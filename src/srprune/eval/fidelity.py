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
import torch
from torch import nn

from srprune.data.images import to_tensor
from srprune.data.lr_frames import LRClip
from srprune.eval.evaluate import super_resolve
from srprune.eval.metrics import psnr, ssim, tensor_to_uint8

PSNR_KEY = "fidelity_psnr"
SSIM_KEY = "fidelity_ssim"


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
        self.inputs = [to_tensor(np.stack(c.frames[:max_frames])) for c in clips[:max_clips]]
        self.names = [c.name for c in clips[:max_clips]]
        self.references = [self._outputs(teacher, lr) for lr in self.inputs]

    def _outputs(self, model: nn.Module, lr: torch.Tensor) -> list[np.ndarray]:
        was_training = model.training
        model.eval()
        try:
            sr = super_resolve(model.to(self.device), lr, self.device, chunk=self.chunk)
        finally:
            model.train(was_training)
        return [tensor_to_uint8(f) for f in sr]

    def __call__(self, model: nn.Module) -> dict[str, float]:
        psnrs, ssims = [], []
        for lr, refs in zip(self.inputs, self.references, strict=True):
            for out, ref in zip(self._outputs(model, lr), refs, strict=True):
                psnrs.append(min(psnr(out, ref), 100.0))  # identical outputs: inf -> 100 dB
                ssims.append(ssim(out, ref))
        return {PSNR_KEY: statistics.fmean(psnrs), SSIM_KEY: statistics.fmean(ssims)}

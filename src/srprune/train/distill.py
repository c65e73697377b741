"""Distillation from a frozen teacher: the student learns the teacher's output, not HR frames.

Used by ``srprune prune --distill --data DIR``: the dense model is the teacher, the training
batches are LR crops only (:mod:`srprune.data.lr_sampling`), and :class:`TeacherTargets` puts
the teacher's output on the same crops in as the batch's ``gt`` before every step, so the
trainer's reconstruction loss (:func:`distill_loss`: Charbonnier or L1) measures the distance
to the teacher. For video models the teacher runs on the same windows, and
:class:`HiddenStateTerm` can add the distance between the final hidden states (of the kept
channels; ``distill.feature_weight``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from srprune.train.losses import KeptChannels, charbonnier, temporal_loss
from srprune.train.terms import ModelOutput
from srprune.typed import build_section, check_range

MAX_FRAMES_PER_SOURCE = 100_000
TEACHER_HIDDEN = "teacher_hidden"
"""Batch key of the teacher's final hidden states (when a term needs them)."""


@dataclass(frozen=True)
class DistillSettings:
    """The ``distill`` section of a pruning config.

    Attributes:
        data: folder of LR frames (images, frame folders or video files) or a video file;
            ``--data`` sets it. Setting it switches distillation on.
        loss: distance between student and teacher outputs: ``charbonnier`` (eps from
            ``loss.eps``) or ``l1``.
        feature_weight: weight of the distance between the final hidden states of student and
            teacher (video models; kept channels only), in the regularise and finetune stages;
            0 switches it off.
        max_frames: frames read per video or frame folder (longer ones contribute evenly
            spaced segments).
        val_clips, val_frames: held-out clips (at most) and frames per clip (at most) on which
            fidelity to the teacher is measured.
    """

    data: str | None = None
    loss: Literal["charbonnier", "l1"] = "charbonnier"
    feature_weight: float = 0.0
    max_frames: int = 300
    val_clips: int = 4
    val_frames: int = 10

    def __post_init__(self) -> None:
        check_range(self.feature_weight, "feature_weight", 0)
        check_range(self.max_frames, "max_frames", 2, MAX_FRAMES_PER_SOURCE)
        check_range(self.val_clips, "val_clips", 1, 1000)
        check_range(self.val_frames, "val_frames", 1, 1000)


def distill_settings(data: Mapping[str, Any] | None) -> DistillSettings:
    """The ``distill`` section, checked (types, ranges and unknown keys by dotted name)."""
    return build_section(DistillSettings, data, "distill")


def distill_loss(kind: str, eps: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(student output, teacher output) -> scalar``: Charbonnier(``eps``) or L1."""
    if kind == "l1":
        return lambda sr, target: (sr - target).abs().mean()
    if kind == "charbonnier":
        return lambda sr, target: charbonnier(sr, target, eps)
    raise ValueError(f"unknown distillation loss {kind!r}")


class TeacherTargets:
    """A trainer batch transform: ``gt`` := the frozen teacher's output on ``lq``.

    Args:
        teacher: the dense model; put in eval mode, frozen, and moved to the batch's device on
            first use.
        hidden: also store its final hidden states under ``batch["teacher_hidden"]`` (video
            models, for :class:`HiddenStateTerm`).
    """

    def __init__(self, teacher: nn.Module, hidden: bool = False) -> None:
        self.teacher = teacher.eval().requires_grad_(False)
        self.hidden = hidden

    @torch.no_grad()
    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        lq = batch["lq"]
        self.teacher.to(lq.device)
        out = dict(batch)
        if self.hidden:
            sr, hidden = self.teacher(lq, return_hidden=True)
            out[TEACHER_HIDDEN] = {k: v.float() for k, v in hidden.items()}
        else:
            sr = self.teacher(lq)
        out["gt"] = sr.float()
        return out


class HiddenStateTerm:
    """``weight * |student hidden - teacher hidden|`` over the final hidden states (teacher
    channels narrowed to ``kept`` when the student's states are narrower); the teacher's
    states come from :class:`TeacherTargets` with ``hidden=True``."""

    needs_hidden = True

    def __init__(self, weight: float, kept: KeptChannels = None,
                 name: str = "distill_features") -> None:
        self.weight = weight
        self.kept = kept
        self.name = name

    def __call__(self, model: nn.Module, batch: Mapping[str, Any], output: ModelOutput,
                 step: int) -> dict[str, torch.Tensor]:
        if output.hidden is None or TEACHER_HIDDEN not in batch:
            raise ValueError("HiddenStateTerm needs both models' hidden states")
        loss = temporal_loss(output.hidden, batch[TEACHER_HIDDEN], self.kept)
        return {self.name: self.weight * loss}

"""Pluggable loss terms: extra losses added to the reconstruction loss by the :class:`Trainer`.

A loss term is any callable ``term(model, batch, output, step) -> dict[str, Tensor]``:

- ``model``: the trained module itself (never the DistributedDataParallel wrapper), e.g. to read
  scaling factors for a sparsity regulariser;
- ``batch``: the batch on the training device (``lq``, ``gt``, ...);
- ``output``: the :class:`ModelOutput` of this step (SR frames and, if asked for, hidden states);
- ``step``: 0-based index of the current iteration (for growing penalties).

It returns named scalar tensors, already weighted; they are summed into the total loss and logged
as ``loss/<name>``. A term that needs a video model's final hidden states sets the attribute
``needs_hidden = True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from srprune.train.losses import KeptChannels, temporal_loss


@dataclass(frozen=True)
class ModelOutput:
    """What the model produced for a batch.

    Attributes:
        sr: Super-resolved output, (B,N,3,H,W) for video models, (B,3,H,W) for image models.
        hidden: Final hidden states, by the names the model declares, when a term asked for
            them.
    """

    sr: torch.Tensor
    hidden: Mapping[str, torch.Tensor] | None = None


@runtime_checkable
class LossTerm(Protocol):
    """``term(model, batch, output, step) -> {name: weighted scalar loss}``."""

    def __call__(self, model: nn.Module, batch: Mapping[str, torch.Tensor],
                 output: ModelOutput, step: int) -> dict[str, torch.Tensor]: ...


def needs_hidden(term: object) -> bool:
    """Whether ``term`` wants the model's final hidden states."""
    return bool(getattr(term, "needs_hidden", False))


class TemporalTerm:
    """Temporal Finetuning (SSL Eq. 5): ``weight * L_tf(student hidden, frozen teacher hidden)``.

    Args:
        teacher: The original (unpruned) video model; it is frozen and run without gradients on
            the same LR frames. It is moved to the batch's device on first use.
        weight: Loss weight (SSL: 1e-2).
        kept: Kept teacher channels when the student's hidden state is narrower.
        name: Log name of the term.
    """

    needs_hidden = True

    def __init__(self, teacher: nn.Module, weight: float = 1e-2, kept: KeptChannels = None,
                 name: str = "temporal") -> None:
        self.teacher = teacher.eval().requires_grad_(False)
        self.weight = weight
        self.kept = kept
        self.name = name

    def __call__(self, model: nn.Module, batch: Mapping[str, torch.Tensor],
                 output: ModelOutput, step: int) -> dict[str, torch.Tensor]:
        if output.hidden is None:
            raise ValueError("TemporalTerm needs the model's hidden states (needs_hidden)")
        lq = batch["lq"]
        self.teacher.to(lq.device)
        with torch.no_grad():
            _, hidden_teacher = self.teacher(lq, return_hidden=True)
        return {self.name: self.weight * temporal_loss(output.hidden, hidden_teacher, self.kept)}

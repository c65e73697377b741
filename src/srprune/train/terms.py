"""Loss terms of srprune's own: Temporal Finetuning's hidden-state loss.

The loss-term protocol itself (:class:`~srprune.protocols.LossTerm`, :class:`ModelOutput`,
``needs_hidden``) lives in :mod:`srprune.protocols`, below the trainer and the pruning core.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from srprune.protocols import ModelOutput
from srprune.train.losses import KeptChannels, temporal_loss


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

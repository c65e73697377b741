"""Loss terms of srprune's own: Temporal Finetuning's hidden-state loss and flow distillation.

The loss-term protocol itself (:class:`~srprune.protocols.LossTerm`, :class:`ModelOutput`,
``needs_hidden``) lives in :mod:`srprune.protocols`, below the trainer and the pruning core.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from srprune.models.contract import flow_network
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


class FlowDistillTerm:
    """Flow distillation (``prune.flow``): ``weight * mean(sqrt(d^2 + eps^2) - eps)``, ``d``
    the difference between the trained model's flows and a frozen teacher flow network's, in
    pixels, on every pair of consecutive frames of the batch's clips in both directions (the
    pairs BasicVSR's propagation uses). Zero when the two flow networks agree.

    Args:
        teacher: The dense model's flow network (its ``flow_net``), called as
            ``teacher(ref, supp)``; frozen, run without gradients, moved to the batch's device
            on first use.
        weight: Loss weight (``prune.flow_distill``).
        eps: Charbonnier smoothing, in pixels.
        name: Log name of the term.
    """

    def __init__(self, teacher: nn.Module, weight: float = 1e-2, eps: float = 1e-3,
                 name: str = "flow_distill") -> None:
        self.teacher = teacher.eval().requires_grad_(False)
        self.weight = weight
        self.eps = eps
        self.name = name

    def __call__(self, model: nn.Module, batch: Mapping[str, torch.Tensor],
                 output: ModelOutput, step: int) -> dict[str, torch.Tensor]:
        student = flow_network(model)
        if student is None:
            raise ValueError("FlowDistillTerm needs a model with a flow network (flow_net)")
        lq = batch["lq"]
        if lq.dim() != 5 or lq.shape[1] < 2:
            raise ValueError(f"flow distillation needs clips of >= 2 frames, got "
                             f"{tuple(lq.shape)}")
        frames = lq.shape[-3:]
        a = lq[:, :-1].reshape(-1, *frames)
        b = lq[:, 1:].reshape(-1, *frames)
        ref, supp = torch.cat([b, a]), torch.cat([a, b])
        self.teacher.to(lq.device)
        with torch.no_grad():
            target = self.teacher(ref, supp)
        diff = student(ref, supp).float() - target.float()
        loss = (torch.sqrt(diff * diff + self.eps ** 2) - self.eps).mean()
        return {self.name: self.weight * loss}

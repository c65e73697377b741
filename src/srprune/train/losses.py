"""Training losses: Charbonnier reconstruction and the SSL paper's temporal (hidden-state) loss."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from srprune.errors import UserError


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean of ``sqrt((pred - target)^2 + eps^2)`` over every element.

    BasicSR's ``CharbonnierLoss`` with ``reduction='mean'``; its default ``eps`` is 1e-12, the SSL
    paper finetunes with 1e-6 (the default here).

    Args:
        pred: Model output.
        target: Ground truth of the same shape.
        eps: Smoothing constant (> 0).

    Returns:
        A scalar tensor.
    """
    if pred.shape != target.shape:
        raise ValueError(f"charbonnier: shapes differ, {tuple(pred.shape)} vs "
                         f"{tuple(target.shape)}")
    diff = pred - target
    return torch.sqrt(diff * diff + eps * eps).mean()


KeptChannels = torch.Tensor | Mapping[str, torch.Tensor] | None


def _kept_for(kept: KeptChannels, key: str) -> torch.Tensor | None:
    if kept is None or isinstance(kept, torch.Tensor):
        return kept
    return kept.get(key)


def temporal_loss(hidden_student: Mapping[str, torch.Tensor],
                  hidden_teacher: Mapping[str, torch.Tensor],
                  kept: KeptChannels = None) -> torch.Tensor:
    """SSL's Temporal Finetuning loss (Eq. 5): ``|H_F,T - H'_F,T| + |H_B,0 - H'_B,0|``.

    One term per final hidden state the two models share (the model names them in its
    ``hidden_states`` contract), each the mean absolute
    error over its tensor. States missing from either side are skipped.

    Args:
        hidden_student: Final hidden states of the pruned model, name -> (N, C', h, w), as
            ``forward(..., return_hidden=True)`` returns them.
        hidden_teacher: The same from the original model (N, C, h, w); no gradient needed.
        kept: When a student hidden state is narrower (coupled pruning), the indices of the
            teacher channels it kept: one index tensor for all states, or one per state name.

    Returns:
        A scalar tensor (0 when no direction is shared).
    """
    terms = []
    for key in sorted(hidden_student.keys() & hidden_teacher.keys()):
        student, teacher = hidden_student[key], hidden_teacher[key]
        index = _kept_for(kept, key)
        if index is not None and student.shape[1] != teacher.shape[1]:
            teacher = teacher.index_select(1, index.to(teacher.device))
        if student.shape != teacher.shape:
            raise UserError(f"temporal loss: {key} hidden state {tuple(student.shape)} does not "
                            f"match the teacher's {tuple(teacher.shape)}; pass the kept channel "
                            "indices of a narrowed hidden state")
        terms.append((student - teacher.detach()).abs().mean())
    if not terms:
        ref = next(iter(hidden_student.values()), None)
        return torch.zeros((), device=None if ref is None else ref.device)
    return torch.stack(terms).sum()

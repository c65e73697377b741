"""ASSL's sparsity-structure alignment over the layers that write one residual stream.

Each writer ``l`` of a stream has one scale magnitude per unit, ``s_l``. Its soft mask is
``m_l = sigmoid(s_l - t_l)``, where the threshold ``t_l`` is the writer's own scale at rank ``k``
(``k`` = units to remove), taken with its gradient: shifting all of a writer's scales by a
constant leaves its mask unchanged, so the term rewards agreement on *which* units are small,
not larger scales. With the masks stacked as ``M`` (writers x units) the loss is
``-mean(M M^T)``: for a fixed number of "on" units per row it is lowest when all rows are
the same. When the alignment phase ends, every writer takes the index set of the first writer
(the ``k`` units of smallest L1 norm of its filters), so the stream is removed as one coupled
group.
"""

from __future__ import annotations

import torch
from torch import nn

from srprune.pruning.criteria import l1_scores
from srprune.pruning.groups import Group
from srprune.pruning.weightnorm import unit_scale


def soft_masks(scales: torch.Tensor, k: int) -> torch.Tensor:
    """``sigmoid(s - t)`` per row of ``scales`` (writers x units), ``t`` the row's scale at
    rank ``k`` (0-based, ascending)."""
    if not 0 <= k < scales.shape[1]:
        raise ValueError(f"rank {k} is outside 0..{scales.shape[1] - 1}")
    threshold = torch.sort(scales, dim=1).values[:, k:k + 1]
    return torch.sigmoid(scales - threshold)


def alignment_loss(masks: torch.Tensor) -> torch.Tensor:
    """``-mean(M M^T)`` of stacked masks (writers x units)."""
    return -(masks @ masks.t()).mean()


def writer_scales(model: nn.Module, group: Group) -> torch.Tensor:
    """Scale magnitude per unit of every writer of ``group`` (writers x units)."""
    return torch.stack([unit_scale(model, p, group.units) for p in group.producers])


def group_alignment_loss(model: nn.Module, group: Group, k: int) -> torch.Tensor:
    """The alignment loss of one stream group whose writers will lose ``k`` units each."""
    return alignment_loss(soft_masks(writer_scales(model, group), k))


@torch.no_grad()
def first_writer_units(model: nn.Module, group: Group, k: int) -> torch.Tensor:
    """The ``k`` units of smallest L1 norm on the group's first writer (sorted indices)."""
    first = Group(name=group.name, units=group.units, producers=group.producers[:1])
    scores = l1_scores(model, first)
    return torch.sort(torch.argsort(scores, stable=True)[:k]).values


@torch.no_grad()
def mask_agreement(model: nn.Module, group: Group, k: int) -> float:
    """Mean overlap (intersection over k) of each writer's ``k`` smallest-scale units with the
    first writer's; 1.0 when all writers would remove the same units."""
    if k == 0:
        return 1.0
    low = torch.argsort(writer_scales(model, group), dim=1, stable=True)[:, :k]
    first = set(low[0].tolist())
    return sum(len(first & set(row.tolist())) / k for row in low) / len(low)

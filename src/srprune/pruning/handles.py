"""What the regularisation stage attaches to a model, trains, and folds away afterwards.

* :func:`gamma_handles` (SSL, ``assl-shared``): one gamma per group unit (:class:`UnitScales`)
  and the growing L2 on the selected gammas.
* :func:`weight_norm_handles` (ASSL): every producer conv weight-normalised and
  :class:`AlignedGrowingL2` on its scales and biases, streams aligned first.

Either way the folded model is a plain network that computes what the regularised one did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from srprune.protocols import LossTerm
from srprune.pruning.aligned_l2 import AlignedGrowingL2, OnAlign
from srprune.pruning.groups import Group
from srprune.pruning.regularizers import GrowingL2, GrowingL2Schedule
from srprune.pruning.scales import UnitScales
from srprune.pruning.weightnorm import (
    attach_weight_norm,
    fold_weight_norm,
    producer_convs,
    scale_parameters,
)


@dataclass
class Handles:
    """The sparsity handles of one regularisation run.

    Attributes:
        term: the loss term (a :class:`~srprune.protocols.LossTerm`).
        params: the scale parameters (trained in their own group at ``scale_lr``).
        status: mean relative scale of selected / kept units (and more) for the logs.
        fold: write the scales into plain weights and detach everything.
    """

    term: LossTerm
    params: list[nn.Parameter]
    status: Callable[[nn.Module], dict[str, float]]
    fold: Callable[[nn.Module], None]


def gamma_handles(model: nn.Module, groups: list[Group], selected: dict[str, torch.Tensor],
                  schedule: GrowingL2Schedule) -> Handles:
    """SSL's gammas, registered as ``model.unit_scales`` so checkpoints carry them."""
    scales = UnitScales(model, groups).attach()
    model.add_module("unit_scales", scales)
    term = GrowingL2(scales, selected, schedule)

    def status(_m: nn.Module) -> dict[str, float]:
        sel, kept = term.mean_abs()
        return {"gamma_selected": sel, "gamma_kept": kept}

    def fold(m: nn.Module) -> None:
        scales.fold()
        del m.unit_scales

    return Handles(term, list(scales.parameters()), status, fold)


def weight_norm_handles(model: nn.Module, groups: list[Group],
                        selected: dict[str, torch.Tensor], schedule: GrowingL2Schedule,
                        align_iters: int, align_weight: float,
                        aligned: dict[str, torch.Tensor] | None = None,
                        on_align: OnAlign | None = None) -> Handles:
    """ASSL's weight-normalised producers and its aligned growing L2."""
    paths = producer_convs(groups)
    attach_weight_norm(model, paths)
    term = AlignedGrowingL2(model, groups, selected, schedule, align_iters, align_weight,
                            aligned, on_align)
    return Handles(term, scale_parameters(model, paths), term.status,
                   lambda m: fold_weight_norm(m, paths))

"""Masked == compact and unit gammas at 1 on one model, for the per-architecture tests."""

from __future__ import annotations

import torch
from torch import nn

from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.scales import UnitScales
from srprune.pruning.surgery import remove_units


def perturb_biases(model: nn.Module) -> None:
    """Non-zero biases everywhere, so a forgotten bias would show."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.2 - 0.1)


@torch.no_grad()
def masked_and_compact(model: nn.Module, mode: str, x: torch.Tensor, ratio: float = 0.5,
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(output with the removed units' gammas at 0 and random gammas elsewhere, output of the
    compact model after folding and removal); the model is pruned in place."""
    groups = model.channel_groups(mode)
    removed = select_units(groups, score_groups(model, groups), ratio, order="random",
                           seed=seed)
    assert sum(len(v) for v in removed.values()) > 0
    scales = UnitScales(model, groups).attach()
    gen = torch.Generator().manual_seed(seed)
    for g in groups:
        scales.gamma(g.name).copy_(torch.rand(g.units, generator=gen) + 0.5)
    scales.zero_units(removed)
    masked = model(x)
    scales.fold()
    remove_units(model, groups, removed)
    return masked, model(x)


@torch.no_grad()
def gammas_at_one_change_nothing(model: nn.Module, mode: str, x: torch.Tensor) -> bool:
    """Attaching all-ones gammas and folding them leaves the output bit-identical."""
    ref = model(x)
    scales = UnitScales(model, model.channel_groups(mode)).attach()
    same = torch.equal(model(x), ref)
    scales.fold()
    return same and torch.equal(model(x), ref)

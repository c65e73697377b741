"""Scoring pruning units and selecting which to remove.

Scores (SSL paper Sec. 3.1): the L1 norm of a unit's filters on its producers
(``sum |W[k]|``, or ``sum |W[s^2 k : s^2 (k+1)]|`` before a pixel shuffle); for a group without
producers (an RSC gather) the L1 norm of the consumers' input columns (``sum |W[:, k]|``).
Selection: the fraction ``ratio`` of all units of all groups, chosen globally (all scores sorted
together) or locally (the same ratio in every group), by smallest (``min``) or largest (``max``)
score, or at random; every group keeps at least one unit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from srprune.pruning.groups import Group
from srprune.pruning.handlers import layer_at

Scope = Literal["global", "local"]
Order = Literal["min", "max", "random"]
ScoreNorm = Literal["sum", "mean"]
SCORE_NORMS: tuple[str, ...] = ("sum", "mean")
Scorer = Callable[..., torch.Tensor]
"""``scorer(model, group, norm) -> (units,)`` importance per unit."""


@torch.no_grad()
def l1_scores(model: nn.Module, group: Group, norm: ScoreNorm = "sum") -> torch.Tensor:
    """L1 norm per unit, over the group's producers (or consumers if it has none).

    ``norm="sum"``: ``sum |W|`` over the unit's weights (the SSL paper's formula).
    ``norm="mean"``: the same divided by the unit's number of weights (the authors' released
    code: a filter's ``mean |W[k]|`` over (C_in, kh, kw), an input column's over (C_out, kh,
    kw), a pixel-shuffle unit's over its s^2 filters), so units of different fan-in and size
    compare on one scale under global ranking.
    """
    scores = torch.zeros(group.units, dtype=torch.float64)
    count = 0
    for port in group.scale_ports:
        layer, handler = layer_at(model, port.module)
        span = slice(port.offset, port.offset + group.units * port.unit)
        per_channel = handler.channel_l1(layer, port.axis)[span]
        scores += per_channel.view(group.units, port.unit).sum(1)
        count += handler.weights_per_channel(layer, port.axis) * port.unit
    if norm == "mean":
        return scores / max(count, 1)
    if norm != "sum":
        raise ValueError(f"unknown score normalisation {norm!r}; choose sum or mean")
    return scores


def score_groups(model: nn.Module, groups: list[Group], scorer: Scorer = l1_scores,
                 norm: ScoreNorm = "sum") -> dict[str, torch.Tensor]:
    """Scores of every unit of every group."""
    return {g.name: scorer(model, g, norm) for g in groups}


def select_units(groups: list[Group], scores: dict[str, torch.Tensor], ratio: float,
                 scope: Scope = "global", order: Order = "min", seed: int = 0
                 ) -> dict[str, torch.Tensor]:
    """Units to remove per group.

    Args:
        ratio: fraction of all units (over all groups) to remove, in [0, 1).
        scope: ``global`` sorts all scores together; ``local`` removes ``ratio`` of each group.
        order: ``min`` removes the lowest scores, ``max`` the highest, ``random`` ignores scores.

    Returns:
        ``{group name: sorted LongTensor of removed unit indices}``; each group keeps >= 1 unit.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")
    ranked = _ranking_keys(groups, scores, order, seed)
    removed: dict[str, list[int]] = {g.name: [] for g in groups}
    if scope == "local":
        for g, n in zip(groups, local_quotas(groups, ratio), strict=True):
            removed[g.name] = torch.argsort(ranked[g.name], stable=True)[:n].tolist()
    elif scope == "global":
        total = sum(g.units for g in groups)
        budget = round(ratio * total)
        entries = sorted(((float(ranked[g.name][u]), gi, u) for gi, g in enumerate(groups)
                          for u in range(g.units)))
        left = {g.name: g.units for g in groups}
        for _, gi, u in entries:
            if budget == 0:
                break
            name = groups[gi].name
            if left[name] > 1:
                removed[name].append(u)
                left[name] -= 1
                budget -= 1
    else:
        raise ValueError(f"unknown scope {scope!r}")
    return {k: torch.tensor(sorted(v), dtype=torch.long) for k, v in removed.items()}


def rank_units(groups: list[Group], scores: dict[str, torch.Tensor], order: Order = "min",
               seed: int = 0) -> dict[str, torch.Tensor]:
    """Each group's units in removal order (first = removed first)."""
    keys = _ranking_keys(groups, scores, order, seed)
    return {g.name: torch.argsort(keys[g.name], stable=True) for g in groups}


def take_quotas(groups: list[Group], ranking: dict[str, torch.Tensor], quotas: list[int]
                ) -> dict[str, torch.Tensor]:
    """The first ``quotas[i]`` units of each group's removal order, sorted."""
    return {g.name: torch.sort(ranking[g.name][:q])[0].to(torch.long)
            for g, q in zip(groups, quotas, strict=True)}


def local_quotas(groups: list[Group], ratio: float) -> list[int]:
    """Units to remove per group under local ranking: the same fraction of every group, with
    ``round(ratio * total)`` units in all (largest remainders get the leftover units), so the
    total is as exact as under global ranking and a size search can reach any unit count."""
    total = sum(g.units for g in groups)
    budget = round(ratio * total)
    exact = [budget * g.units / total for g in groups]
    quotas = [int(q) for q in exact]
    by_remainder = sorted(range(len(groups)), key=lambda i: (quotas[i] - exact[i], i))
    for i in by_remainder[:budget - sum(quotas)]:
        quotas[i] += 1
    return [min(q, g.units - 1) for q, g in zip(quotas, groups, strict=True)]


def _ranking_keys(groups: list[Group], scores: dict[str, torch.Tensor], order: Order,
                  seed: int) -> dict[str, torch.Tensor]:
    """Keys sorted ascending = removal order."""
    if order == "min":
        return {g.name: scores[g.name].double() for g in groups}
    if order == "max":
        return {g.name: -scores[g.name].double() for g in groups}
    if order == "random":
        gen = torch.Generator().manual_seed(seed)
        return {g.name: torch.rand(g.units, generator=gen, dtype=torch.float64) for g in groups}
    raise ValueError(f"unknown order {order!r}")


def kept_units(group: Group, removed: torch.Tensor) -> torch.Tensor:
    """Sorted indices of the units that stay."""
    keep = torch.ones(group.units, dtype=torch.bool)
    keep[removed.long()] = False
    return torch.nonzero(keep).flatten()


def round_kept_units(groups: list[Group], scores: dict[str, torch.Tensor],
                     removed: dict[str, torch.Tensor], multiple: int
                     ) -> dict[str, torch.Tensor]:
    """Hardware-friendly widths: round each group's kept units up to a multiple of ``multiple``.

    Removed units are given back highest score first until the kept count is a multiple of
    ``multiple`` (or the whole group). ``multiple <= 1`` returns ``removed`` unchanged.

    Returns:
        ``{group name: sorted LongTensor of removed unit indices}``, a subset of ``removed``.
    """
    if multiple <= 1:
        return removed
    out: dict[str, torch.Tensor] = {}
    for g in groups:
        gone = removed.get(g.name, torch.zeros(0, dtype=torch.long)).long()
        kept = g.units - len(gone)
        target = min(g.units, -(-kept // multiple) * multiple)
        give_back = target - kept
        if give_back > 0:
            order = torch.argsort(scores[g.name][gone].double(), descending=True, stable=True)
            gone = gone[order[give_back:]]
        out[g.name] = torch.sort(gone).values
    return out

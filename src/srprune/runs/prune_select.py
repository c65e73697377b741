"""The select stage's computation: which units to remove, at a ratio or fitted to a size.

:func:`choose_units` is pure (a model, a recipe and the ``prune`` settings in, a
:class:`Choice` out); :func:`selection_record` turns a choice into ``selection.json``'s content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from srprune.errors import UserError
from srprune.pruning.config import PruneSettings
from srprune.pruning.criteria import round_kept_units, select_units
from srprune.pruning.groups import Group
from srprune.pruning.latency_target import is_latency
from srprune.pruning.methods.recipe import Recipe
from srprune.pruning.targets import SizeTarget, TargetFit, fit_selection
from srprune.runs.prune_latency import choose_for_latency
from srprune.runs.prune_recipe import recipe_inputs, scored_groups, size_function


@dataclass
class Choice:
    """The units chosen for removal.

    Attributes:
        groups: the recipe's groups of the dense model.
        removed: removed unit indices per group (rounded as ``prune.round_to`` asks).
        ratio: the fraction asked for, or the one a size target settled on.
        fit: how a size target was met (None for a ratio).
        latency: how a latency target was met (``selection.json``'s ``target.latency``;
            None for other targets).
    """

    groups: list[Group]
    removed: dict[str, torch.Tensor]
    ratio: float
    fit: TargetFit | None
    latency: dict[str, Any] | None = None


def choose_units(model: nn.Module, recipe: Recipe, s: PruneSettings, name: str,
                 say: Callable[[str], None] = lambda line: None) -> Choice:
    """Score every unit of ``model`` (file ``name``, for messages) and choose the ones to
    remove: ``s.ratio``, or the selection whose compact size or latency meets ``s.target``
    (progress lines of a latency target's measurements through ``say``)."""
    groups, scores = scored_groups(model, recipe)
    if not groups:
        raise UserError(f"{name}: the model declares nothing to prune")
    ratio, fit = s.ratio, None
    if s.target is not None and is_latency(s.target):
        timed, record = choose_for_latency(model, groups, scores, recipe, s, say)
        removed = round_kept_units(groups, scores, timed.removed, s.round_to)
        fit = TargetFit(removed, timed.ratio, timed.measured_ms, abs(timed.relative_error))
        return Choice(groups, removed, timed.ratio, fit, record)
    if s.target is not None:
        target = SizeTarget.parse(s.target)
        if target.kind == "ratio":
            ratio = target.value
        else:
            base = size_function(model, groups, target.kind, tuple(s.report_lr_size))

            def size(removed: dict[str, torch.Tensor]) -> float:  # sized as rounded
                return base(round_kept_units(groups, scores, removed, s.round_to))

            fit = fit_selection(groups, scores, recipe.scope, recipe.order, s.seed, size,
                                target.value, target.kind)
            ratio = fit.ratio
    removed = (select_units(groups, scores, ratio, recipe.scope, recipe.order, s.seed)
               if fit is None else fit.removed)
    removed = round_kept_units(groups, scores, removed, s.round_to)
    return Choice(groups, removed, ratio, fit)


def selection_record(choice: Choice, recipe: Recipe, s: PruneSettings, fingerprint: str
                     ) -> dict[str, Any]:
    """``selection.json``'s content for ``choice``."""
    rows = [{"group": g.name, "role": g.role, "layer": g.layer, "units": g.units,
             "removed": choice.removed[g.name].tolist()} for g in choice.groups]
    fit = choice.fit
    target_row = None if fit is None else {
        "target": s.target, "lr_size": list(s.report_lr_size),
        "achieved": fit.size, "relative_error": fit.relative_error}
    if target_row is not None and choice.latency is not None:
        target_row.update(lr_size=choice.latency["lr_size"], latency=choice.latency)
    plain = recipe_inputs(recipe)
    return {"method": recipe.name, "ratio": choice.ratio, "target": target_row,
            "recipe": plain, "scorer": {"name": plain["scorer"], "norm": recipe.score_norm},
            "fingerprint": fingerprint, "units": sum(g.units for g in choice.groups),
            "removed": sum(len(v) for v in choice.removed.values()), "groups": rows}


def selection_summary(choice: Choice, recipe: Recipe, s: PruneSettings) -> str:
    """The select stage's line for the user."""
    n = sum(len(v) for v in choice.removed.values())
    total = sum(g.units for g in choice.groups)
    fit = choice.fit
    if choice.latency is not None:
        t = choice.latency
        return (f"[select] {n} of {total} units selected ({len(choice.groups)} groups, "
                f"{recipe.scope} {recipe.order}); target {s.target}: predicted "
                f"{t['predicted_ms']:.4g} ms, measured {t['measured_ms']:.4g} ms "
                f"({100 * t['relative_error']:+.1f} %) at p = {choice.ratio:.4f}")
    return (f"[select] {n} of {total} units selected ({len(choice.groups)} groups, "
            f"{recipe.scope} {recipe.order})" + (
                "" if fit is None else f"; target {s.target}: {fit.size:.4g} "
                f"({100 * fit.relative_error:.2f} % off) at p = {choice.ratio:.4f}"))

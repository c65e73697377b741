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
from srprune.pruning.groups import FLOW_ROLE, Group
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
    (progress lines of a latency target's measurements through ``say``).

    With ``recipe.flow`` the flow network's groups (role ``flow``) are ranked among
    themselves at ``s.flow_ratio``; the SR part's selection is the one without them."""
    groups, scores = scored_groups(model, recipe)
    if not groups:
        raise UserError(f"{name}: the model declares nothing to prune")
    flow = [g for g in groups if g.role == FLOW_ROLE]
    if recipe.flow and not flow:
        raise UserError(f"{name}: prune.flow is on but the model declares no flow network "
                        "groups to prune")
    if s.target is not None and is_latency(s.target):  # prune.flow refuses these (config)
        timed, record = choose_for_latency(model, groups, scores, recipe, s, say)
        removed = round_kept_units(groups, scores, timed.removed, s.round_to)
        fit = TargetFit(removed, timed.ratio, timed.measured_ms, abs(timed.relative_error))
        return Choice(groups, removed, timed.ratio, fit, record)
    sr = [g for g in groups if g.role != FLOW_ROLE]
    ratio, fit, flow_removed = s.ratio, None, {}
    target = SizeTarget.parse(s.target) if s.target is not None else None
    if target is not None and target.kind == "ratio":
        ratio = target.value
    if flow:
        flow_removed = select_units(flow, scores, s.flow_fraction(ratio), recipe.scope,
                                    recipe.order, s.seed)
    if target is not None and target.kind != "ratio":
        base = size_function(model, groups, target.kind, tuple(s.report_lr_size))

        def size(removed: dict[str, torch.Tensor]) -> float:  # sized as rounded
            return base(round_kept_units(groups, scores, {**removed, **flow_removed},
                                         s.round_to))

        fit = fit_selection(sr, scores, recipe.scope, recipe.order, s.seed, size,
                            target.value, target.kind)
        ratio = fit.ratio
    removed = (select_units(sr, scores, ratio, recipe.scope, recipe.order, s.seed)
               if fit is None else fit.removed)
    removed = round_kept_units(groups, scores, {**removed, **flow_removed}, s.round_to)
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
    flow = {"flow_ratio": s.flow_fraction(choice.ratio)} if recipe.flow else {}
    return {"method": recipe.name, "ratio": choice.ratio, **flow, "target": target_row,
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
    flow = [g for g in choice.groups if g.role == FLOW_ROLE]
    flow_text = "" if not flow else (
        f"; flow network: {sum(len(choice.removed[g.name]) for g in flow)} of "
        f"{sum(g.units for g in flow)} at p = {s.flow_fraction(choice.ratio):.4g}")
    return (f"[select] {n} of {total} units selected ({len(choice.groups)} groups, "
            f"{recipe.scope} {recipe.order}){flow_text}" + (
                "" if fit is None else f"; target {s.target}: {fit.size:.4g} "
                f"({100 * fit.relative_error:.2f} % off) at p = {choice.ratio:.4f}"))

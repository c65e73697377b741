"""A method's recipe applied to a model: its groups, unit scores and the size of a selection.

Pure functions of a model and a :class:`~srprune.pruning.methods.recipe.Recipe`; no files.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from srprune.profile import count_macs, flow_child
from srprune.pruning.config import PruneSettings
from srprune.pruning.criteria import score_groups
from srprune.pruning.groups import FLOW_ROLE, Group
from srprune.pruning.methods.recipe import Recipe
from srprune.pruning.sizes import SizeModel


def size_function(model: nn.Module, groups: list[Group], kind: str,
                  lr_size: tuple[int, int]) -> Any:
    """``removed -> size`` of the compact model: params, or MACs per frame at ``lr_size``
    (``macs``: without the flow network; ``macs+flow``: with one pass of it per frame). When
    ``groups`` include the flow network's (role ``flow``), its removed units count too."""
    pruned_flow = any(g.role == FLOW_ROLE for g in groups)
    sizes = SizeModel(model, lr_size, flow=pruned_flow)
    flow = 0.0
    if kind == "macs+flow" and not pruned_flow:
        _, parts = count_macs(model, lr_size)
        flow = parts.get(flow_child(model), 0.0)

    def size(removed: dict[str, torch.Tensor]) -> float:
        if kind == "params":
            return sizes.params(groups, removed)
        return sizes.macs(groups, removed, with_flow=kind == "macs+flow") + flow

    return size


def recipe_inputs(recipe: Recipe) -> dict[str, Any]:
    """The recipe as plain values (the scorer by its name; ``flow`` only when on, so runs made
    before it existed keep their fingerprints)."""
    fields = {k: v for k, v in dataclasses.asdict(recipe).items()
              if k != "scorer" and not (k == "flow" and not v)}
    return {**fields, "scorer": getattr(recipe.scorer, "__name__", repr(recipe.scorer))}


def effective_recipe(recipe: Recipe, s: PruneSettings) -> Recipe:
    """The recipe with the config's overrides applied."""
    changes: dict[str, Any] = {}
    for key in ("scope", "order", "residual", "pixel_shuffle", "temporal_finetune",
                "score_norm", "flow"):
        value = getattr(s, key)
        if value is not None:
            changes[key] = value
    return recipe.but(**changes)


def prunable_groups(model: nn.Module, recipe: Recipe) -> list[Group]:
    """The model's groups in the recipe's residual mode, minus switched-off roles, plus the
    flow network's with ``recipe.flow``."""
    return recipe.groups_of(model)


def scored_groups(model: nn.Module, recipe: Recipe
                  ) -> tuple[list[Group], dict[str, torch.Tensor]]:
    """The recipe's groups of ``model`` and every unit's score under the recipe's scorer."""
    groups = prunable_groups(model, recipe)
    return groups, score_groups(model, groups, recipe.scorer, recipe.score_norm)

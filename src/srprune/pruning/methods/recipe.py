"""A pruning method is a recipe: four answers (groups, criterion, regulariser, surgery) plus how
to finetune. Every method in srprune is one :class:`Recipe` value over the shared parts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from torch import nn

from srprune.pruning.criteria import Order, Scope, ScoreNorm, Scorer, l1_scores
from srprune.pruning.declared import flow_groups
from srprune.pruning.groups import Group, ResidualMode

ScaleKind = Literal["gamma", "weight_norm"]


@dataclass(frozen=True)
class Recipe:
    """How a method prunes.

    Attributes:
        name: method name (``ssl``, ``l1``, ``scratch``, ...).
        residual: how the model declares residual streams (``rsc``, ``coupled``, ``fixed``).
        scope, order: selection rule (Table 4's five variants are scope x order, plus random).
        scorer: unit importance.
        score_norm: ``sum`` (the paper's formula) or ``mean`` (per weight, as the authors'
            released code ranks) of the scorer's magnitudes.
        regularize: push the selected units' scales to zero (growing L2) before removal.
        scales: what that L2 acts on: ``gamma`` (SSL: one scaling factor per unit, on the
            group's outputs) or ``weight_norm`` (ASSL: each producer conv weight-normalised,
            its own scale per filter, streams aligned before their L2 starts).
        temporal_finetune: add SSL's L_tf (final hidden states vs the frozen dense model).
        pixel_shuffle: prune pixel-shuffle groups (Table 2 ablation switch).
        reinit: train the compact architecture from random weights (Scratch).
        finetune_factor: finetune iterations relative to the config's ``train.iters``.
        flow: also prune the flow network's declared groups (``prune.flow``; role ``flow``,
            selected at their own ratio), and train it in the pruning stages.
    """

    name: str
    residual: ResidualMode
    scope: Scope = "global"
    order: Order = "min"
    scorer: Scorer = l1_scores
    score_norm: ScoreNorm = "sum"
    regularize: bool = False
    scales: ScaleKind = "gamma"
    temporal_finetune: bool = False
    pixel_shuffle: bool = True
    reinit: bool = False
    finetune_factor: float = 1.0
    flow: bool = False

    def prunable(self, groups: list[Group]) -> list[Group]:
        """The groups this recipe prunes of a model's ``groups`` (declared in its ``residual``
        mode): all but the pixel-shuffle groups when ``pixel_shuffle`` is off."""
        return [g for g in groups if self.pixel_shuffle or g.role != "pixel_shuffle"]

    def groups_of(self, model: nn.Module) -> list[Group]:
        """The groups this recipe prunes of ``model``: its ``channel_groups`` in the recipe's
        residual mode (:meth:`prunable`), then the flow network's when ``flow`` is on."""
        groups = self.prunable(model.channel_groups(self.residual))
        return groups + flow_groups(model) if self.flow else groups

    def but(self, **changes: object) -> Recipe:
        """A variant (ablations): ``ssl.but(residual="coupled")``."""
        return replace(self, **changes)  # type: ignore[arg-type]

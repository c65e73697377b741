"""srprune as a library: prune your own ``nn.Module`` inside your own training loop.

:class:`Pruner` runs one of the CLI's method recipes (:mod:`srprune.pruning.methods`) with the
same parts ``srprune prune`` uses (groups, L1 criteria and selection, SSL's gammas or ASSL's
weight norm with their growing L2, surgery); only the training loop is yours::

    pruner = srprune.Pruner(model, example_inputs, method="ssl", ratio=0.5)
    opt = torch.optim.Adam(model.parameters())  # after the Pruner: its scales are parameters
    for x, y in loader:
        loss = criterion(model(x), y) + pruner.penalty()
        loss.backward(); opt.step(); opt.zero_grad(); pruner.step()
    compact = pruner.finalize()  # the same module object, now narrower

Groups come from ``model.channel_groups(mode)`` when the model declares them (srprune's models
do; RSC residual blocks need that), else from tracing it with ``torch.fx``
(:func:`~srprune.pruning.trace.trace_groups`).
"""

from __future__ import annotations

import torch
from torch import nn

from srprune.errors import UserError
from srprune.pruning.aligned_l2 import default_align_iters
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.groups import Group
from srprune.pruning.handles import Handles, gamma_handles, weight_norm_handles
from srprune.pruning.methods import get_recipe
from srprune.pruning.regularizers import GrowingL2Schedule
from srprune.pruning.scales import UnitScales
from srprune.pruning.surgery import remove_units
from srprune.pruning.trace import trace_groups


class Pruner:
    """Select, regularise and remove a model's channels with one of srprune's methods.

    Args:
        model: the network to prune (changed in place: scales attached now, layers narrowed
            by :meth:`finalize`).
        example_inputs: an input batch (a tensor or a tuple of them), used to trace the model
            when it declares no ``channel_groups``.
        method: ``ssl``, ``l1``, ``assl`` or ``assl-shared`` (as ``srprune prune --method``).
        ratio: fraction of all prunable units to remove, in [0, 1).
        groups: the channel groups to prune instead of the declared or traced ones.
        schedule: the growing L2's alpha schedule (regularising methods; default: the paper's,
            which reaches ``tau`` after 5,000 steps: pass a shorter one for a short loop).
        align_iters: ASSL's alignment phase in steps (default ``round(0.4 * schedule.t2)``).
        align_weight: weight of ASSL's alignment term.
        seed: selection seed (``order: random`` variants).
    """

    def __init__(self, model: nn.Module, example_inputs: torch.Tensor | tuple[torch.Tensor, ...],
                 method: str = "ssl", ratio: float = 0.5, *, groups: list[Group] | None = None,
                 schedule: GrowingL2Schedule | None = None, align_iters: int | None = None,
                 align_weight: float = 1e-3, seed: int = 0) -> None:
        self.recipe = get_recipe(method)
        if self.recipe.reinit:
            raise UserError(f"{method} trains the compact architecture from scratch: prune with "
                            "ssl, then re-initialise the compact model's weights")
        self.model = model
        if groups is None:
            declared = getattr(model, "channel_groups", None)
            groups = declared(self.recipe.residual) if callable(declared) else \
                trace_groups(model, example_inputs, self.recipe.residual)
        self.groups = self.recipe.prunable(groups)
        if not self.groups:
            raise UserError(f"{type(model).__name__} has no prunable channel groups")
        scores = score_groups(model, self.groups, self.recipe.scorer, self.recipe.score_norm)
        self.selected = select_units(self.groups, scores, ratio, self.recipe.scope,
                                     self.recipe.order, seed)
        self.schedule = schedule or GrowingL2Schedule()
        self.steps = 0
        self._aligned: dict[str, torch.Tensor] = {}
        self._handles: Handles | None = None
        if self.recipe.regularize and any(len(v) for v in self.selected.values()):
            self._handles = self._attach(align_iters, align_weight)

    def _attach(self, align_iters: int | None, align_weight: float) -> Handles:
        if self.recipe.scales == "weight_norm":
            align = default_align_iters(self.schedule.t2) if align_iters is None else align_iters
            return weight_norm_handles(self.model, self.groups, self.selected, self.schedule,
                                       align, align_weight, on_align=self._aligned.update)
        return gamma_handles(self.model, self.groups, self.selected, self.schedule)

    @property
    def removal(self) -> dict[str, torch.Tensor]:
        """Units :meth:`finalize` removes, per group name (ASSL: the streams' shared sets once
        aligned)."""
        return {**self.selected, **self._aligned}

    def scale_parameters(self) -> list[nn.Parameter]:
        """The scales the penalty acts on (already among ``model.parameters()``; for an
        optimiser group of their own, as ``prune.scale_lr`` gives them in the CLI)."""
        return list(self._handles.params) if self._handles else []

    def penalty(self) -> torch.Tensor:
        """This step's regularisation loss to add to yours (zero for one-shot methods)."""
        if self._handles is None:
            device = next(self.model.parameters()).device
            return torch.zeros((), device=device)
        terms = self._handles.term(self.model, {}, None, self.steps)
        return torch.stack(list(terms.values())).sum()

    def step(self) -> None:
        """Advance the penalty's schedule by one training step."""
        self.steps += 1

    def status(self) -> dict[str, float]:
        """Mean relative scale of the selected and the kept units (and more), for logs."""
        return self._handles.status(self.model) if self._handles else {}

    def _fold(self) -> None:
        """End regularisation: fix ASSL's streams, fold every scale into plain weights."""
        if self._handles is None:
            return
        if self.recipe.scales == "weight_norm":
            self._handles.term.align(self.model)  # type: ignore[attr-defined]
        self._handles.fold(self.model)
        self._handles = None

    def mask(self) -> nn.Module:
        """Fold the scales and zero the units :meth:`finalize` will remove, in place: the model
        then computes exactly what the compact model will (regularisation ends here)."""
        self._fold()
        scales = UnitScales(self.model, self.groups)
        scales.zero_units(self.removal)
        scales.fold()
        return self.model

    def finalize(self) -> nn.Module:
        """Fold the scales and remove the selected units: ``model`` becomes a plain, smaller
        module (the same object, its layers narrowed in place), which is returned."""
        self._fold()
        return remove_units(self.model, self.groups, self.removal)

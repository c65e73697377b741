"""ASSL's regularisation term: growing L2 on weight-norm scales, after an alignment phase.

Two phases over one training run (``step`` is the 0-based iteration):

* ``step < align_iters``: groups with one writer already get the growing L2
  ``alpha(step) * sum(s^2 + b^2)`` over the scales ``s`` and biases ``b`` of their selected
  filters; groups with several writers (residual streams) get only the alignment term
  ``align_weight * -mean(M M^T)`` (see :mod:`.alignment`).
* at ``step == align_iters`` each stream takes its first writer's index set, for every writer;
  from then on the streams get the growing L2 too, on that shared set, with their own alpha
  ramp ``alpha(step - align_iters)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from srprune.pruning.alignment import first_writer_units, group_alignment_loss, mask_agreement
from srprune.pruning.groups import Group, conv_at, unit_channels
from srprune.pruning.regularizers import GrowingL2Schedule
from srprune.pruning.weightnorm import wn_scale

OnAlign = Callable[[dict[str, torch.Tensor]], None]


def default_align_iters(t2: int) -> int:
    """ASSL's alignment phase for a stabilisation phase of ``t2`` iterations: ``round(0.4 t2)``,
    ASSL's ratio of alignment to stabilisation iterations (17,260 : 43,150)."""
    return round(0.4 * t2)


def stream_groups(groups: list[Group]) -> list[Group]:
    """Groups written by more than one conv: their writers must share one index set."""
    return [g for g in groups if len(g.producers) > 1]


class AlignedGrowingL2:
    """The ASSL loss term (weight-normalised producers must be attached already).

    Args:
        model: the network (its producers weight-normalised), for the initial scales.
        groups: the prunable groups.
        selected: ``{group name: units}`` chosen per layer (local ranking); for a stream only
            the count matters until the alignment phase ends.
        schedule: alpha's schedule.
        align_iters: iterations of the alignment phase.
        align_weight: weight of the alignment term.
        aligned: stream index sets already fixed (a resumed run), ``{group name: units}``.
        on_align: called once with the streams' index sets when they are fixed.
    """

    def __init__(self, model: nn.Module, groups: list[Group], selected: dict[str, torch.Tensor],
                 schedule: GrowingL2Schedule, align_iters: int, align_weight: float,
                 aligned: dict[str, torch.Tensor] | None = None,
                 on_align: OnAlign | None = None) -> None:
        self.groups = {g.name: g for g in groups if len(selected.get(g.name, ())) > 0}
        self.selected = {k: v.long() for k, v in selected.items() if k in self.groups}
        self.streams = {g.name for g in stream_groups(list(self.groups.values()))}
        self.schedule = schedule
        self.align_iters = align_iters
        self.align_weight = align_weight
        self.aligned = {k: v.long() for k, v in (aligned or {}).items()}
        self.on_align = on_align
        with torch.no_grad():
            self.initial = {p.module: wn_scale(model, p.module).detach().abs().clone()
                            for g in groups for p in g.producers}

    def targets(self, name: str) -> torch.Tensor:
        """The units group ``name`` is pushed to remove now."""
        return self.aligned.get(name, self.selected[name])

    def alpha(self, name: str, step: int) -> float:
        """alpha of group ``name`` at ``step``: streams start their ramp after alignment."""
        if name not in self.streams:
            return self.schedule.alpha(step)
        return 0.0 if step < self.align_iters else self.schedule.alpha(step - self.align_iters)

    def penalty(self, model: nn.Module, name: str) -> torch.Tensor:
        """``sum(s^2 + b^2)`` over the target units' filters on every writer of the group."""
        group, units = self.groups[name], self.targets(name)
        terms = []
        for port in group.producers:
            s = wn_scale(model, port.module)
            idx = unit_channels(port, units).to(s.device)
            terms.append(s[idx].pow(2).sum())
            bias = conv_at(model, port.module).bias
            if bias is not None:
                terms.append(bias[idx].pow(2).sum())
        return torch.stack(terms).sum()

    def align(self, model: nn.Module) -> None:
        """Fix every stream's index set to its first writer's (once)."""
        missing = [n for n in self.streams if n not in self.aligned]
        for name in missing:
            self.aligned[name] = first_writer_units(model, self.groups[name],
                                                    len(self.selected[name]))
        if missing and self.on_align is not None:
            self.on_align(dict(self.aligned))

    def __call__(self, model: nn.Module, batch: dict, output: object, step: int
                 ) -> dict[str, torch.Tensor]:
        device = next(model.parameters()).device
        align = torch.zeros((), device=device)
        if step < self.align_iters:
            for name in self.streams:
                k = len(self.selected[name])
                align = align + group_alignment_loss(model, self.groups[name], k)
            align = self.align_weight * align
        else:
            self.align(model)
        terms = [self.alpha(n, step) * self.penalty(model, n) for n in self.groups
                 if self.alpha(n, step) > 0]
        sir = torch.stack(terms).sum() if terms else torch.zeros((), device=device)
        return {"sir": sir, "align": align}

    @torch.no_grad()
    def status(self, model: nn.Module) -> dict[str, float]:
        """Mean scale relative to its start, of target and of kept filters, and the streams'
        mean mask agreement (for logs and TensorBoard)."""
        sel, kept = [], []
        for name, group in self.groups.items():
            for port in group.producers:
                rel = wn_scale(model, port.module).detach().abs() / self.initial[port.module]
                mask = torch.zeros_like(rel, dtype=torch.bool)
                mask[unit_channels(port, self.targets(name)).to(rel.device)] = True
                sel.append(rel[mask])
                kept.append(rel[~mask])
        s, k = torch.cat(sel), torch.cat(kept)
        agree = [mask_agreement(model, self.groups[n], len(self.selected[n]))
                 for n in sorted(self.streams)]
        return {"gamma_selected": float(s.mean()) if s.numel() else 0.0,
                "gamma_kept": float(k.mean()) if k.numel() else 0.0,
                "agreement": sum(agree) / len(agree) if agree else 1.0}

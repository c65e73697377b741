"""Sparsity-inducing regularisation: SSL's growing L2 on the selected scaling factors.

``L_SIR = alpha * sum(gamma^2)`` over the gammas of the units selected for removal (Eq. 1);
``alpha`` starts at ``delta`` and grows by ``delta`` every ``t1`` iterations until it reaches
``tau``, then stays there for ``t2`` more iterations (paper: delta 1e-4, t1 5, tau 0.1, t2 3375).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from srprune.pruning.scales import UnitScales


@dataclass(frozen=True)
class GrowingL2Schedule:
    """The alpha schedule of SSL's sparsity-inducing regularisation."""

    delta: float = 1e-4
    t1: int = 5
    tau: float = 0.1
    t2: int = 3375

    @property
    def ramp_steps(self) -> int:
        """Number of increments until alpha reaches tau."""
        return max(1, math.ceil(self.tau / self.delta - 1e-9))

    @property
    def total_iters(self) -> int:
        """Iterations of the whole stage: the ramp, then ``t2`` at ``tau``."""
        return (self.ramp_steps - 1) * self.t1 + 1 + self.t2

    def alpha(self, step: int) -> float:
        """alpha at iteration ``step`` (0-based)."""
        k = min(self.ramp_steps, step // self.t1 + 1)
        return min(self.tau, k * self.delta)


class GrowingL2:
    """A training loss term: ``alpha(step) * sum(gamma[selected]^2)``.

    Args:
        scales: the model's unit scales.
        selected: ``{group name: unit indices}`` chosen for removal.
        schedule: alpha's schedule.
    """

    def __init__(self, scales: UnitScales, selected: dict[str, torch.Tensor],
                 schedule: GrowingL2Schedule) -> None:
        self.scales = scales
        self.selected = {k: v for k, v in selected.items() if len(v)}
        self.schedule = schedule

    def penalty(self) -> torch.Tensor:
        """``sum(gamma^2)`` over the selected units."""
        terms = [self.scales.gamma(name)[idx].pow(2).sum() for name, idx in self.selected.items()]
        return torch.stack(terms).sum() if terms else torch.zeros(())

    def __call__(self, model: nn.Module, batch: dict, output: object, step: int
                 ) -> dict[str, torch.Tensor]:
        return {"sir": self.schedule.alpha(step) * self.penalty()}

    @torch.no_grad()
    def mean_abs(self) -> tuple[float, float]:
        """Mean |gamma| of selected units and of kept units (for TensorBoard)."""
        sel, kept = [], []
        for name, group in self.scales.groups.items():
            g = self.scales.gamma(name).detach().abs()
            mask = torch.zeros(group.units, dtype=torch.bool, device=g.device)
            if name in self.selected:
                mask[self.selected[name].to(g.device)] = True
            sel.append(g[mask])
            kept.append(g[~mask])
        s, k = torch.cat(sel), torch.cat(kept)
        return (float(s.mean()) if s.numel() else 0.0, float(k.mean()) if k.numel() else 0.0)

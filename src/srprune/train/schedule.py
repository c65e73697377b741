"""Learning-rate schedule (cosine annealing with restarts) and the fixed-flow warm-up.

Iterations are counted as BasicSR counts them: the update of 0-based step ``s`` uses the learning
rate of iteration ``s + 1`` (BasicSR steps its scheduler before each update, starting from 1), so
with one period of ``P`` iterations the last of ``P`` steps trains at ``eta_min``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


def cosine_restart_lr(base_lr: float, iteration: int, periods: Sequence[int],
                      restart_weights: Sequence[float], eta_min: float) -> float:
    """BasicSR's ``CosineAnnealingRestartLR`` learning rate at ``iteration``.

    Within period ``i`` (iterations ``(c_{i-1}, c_i]`` with ``c_i`` the cumulative period
    lengths, the first one also holding iteration 0):
    ``eta_min + w_i * (base_lr - eta_min) * (1 + cos(pi * (iteration - c_{i-1}) / p_i)) / 2``.
    Past the last period the rate stays at ``eta_min`` (BasicSR would fail there).

    Args:
        base_lr: The group's initial learning rate.
        iteration: Iteration number (BasicSR's ``last_epoch``).
        periods: Period lengths in iterations.
        restart_weights: Peak weight of each period (same length as ``periods``).
        eta_min: Floor of the learning rate.
    """
    if len(periods) != len(restart_weights) or not periods:
        raise ValueError("periods and restart_weights must be non-empty and of the same length")
    start = 0
    for period, weight in zip(periods, restart_weights, strict=True):
        if iteration <= start + period:
            progress = (iteration - start) / period
            return eta_min + weight * 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * progress))
        start += period
    return eta_min


class CosineRestartLR(LRScheduler):
    """Cosine annealing with restarts in closed form; its state is the step count alone.

    ``step()`` is called after each optimizer update; the rate for 0-based step ``s`` is
    :func:`cosine_restart_lr` at iteration ``s + 1`` (see the module docstring).

    Args:
        optimizer: Optimizer whose groups' ``lr`` are the base rates.
        periods, restart_weights, eta_min: As in :func:`cosine_restart_lr`.
    """

    def __init__(self, optimizer: Optimizer, periods: Sequence[int],
                 restart_weights: Sequence[float] | None = None, eta_min: float = 0.0) -> None:
        self.periods = tuple(int(p) for p in periods)
        weights = (1.0,) * len(self.periods) if restart_weights is None else restart_weights
        self.restart_weights = tuple(float(w) for w in weights)
        self.eta_min = float(eta_min)
        if len(self.periods) != len(self.restart_weights) or not self.periods:
            raise ValueError("periods and restart_weights must be non-empty and of the same length")
        super().__init__(optimizer)

    def lr_at(self, step: int) -> list[float]:
        """Learning rate of every group for the update of 0-based ``step``."""
        return [cosine_restart_lr(float(base), step + 1, self.periods, self.restart_weights,
                                  self.eta_min) for base in self.base_lrs]

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return self.lr_at(self.last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        return self.lr_at(self.last_epoch)

    def state_dict(self) -> dict[str, Any]:
        """Plain values only (``torch.load(weights_only=True)`` reads them back)."""
        return {"last_epoch": self.last_epoch, "base_lrs": [float(b) for b in self.base_lrs]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = [float(b) for b in state_dict["base_lrs"]]
        for group, lr in zip(self.optimizer.param_groups, self.lr_at(self.last_epoch),
                             strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class ConstantLR(CosineRestartLR):
    """A constant learning rate with the same interface (``scheduler.name: constant``)."""

    def __init__(self, optimizer: Optimizer) -> None:
        super().__init__(optimizer, periods=(1,), restart_weights=(1.0,), eta_min=0.0)

    def lr_at(self, step: int) -> list[float]:
        return [float(base) for base in self.base_lrs]


class FlowWarmup:
    """Fixed-flow warm-up: the flow network takes no updates for the first ``iters`` steps.

    BasicSR sets ``requires_grad=False`` on the flow network for the first ``fix_flow``
    iterations, so Adam skips its parameters entirely (no moment updates); afterwards it trains
    at the rate of its own parameter group (``lr x flow_lr_mult``). Steps are 0-based: steps
    ``0 .. iters-1`` are frozen.

    Args:
        module: The flow network (the model's ``flow_net``), or None for models without one.
        iters: Number of frozen steps (0 disables the warm-up).
    """

    def __init__(self, module: nn.Module | None, iters: int) -> None:
        self.module = module
        self.iters = int(iters)
        self._frozen: bool | None = None

    def frozen_at(self, step: int) -> bool:
        """Whether the flow network is frozen during 0-based ``step``."""
        return self.module is not None and step < self.iters

    def apply(self, step: int) -> bool:
        """Set ``requires_grad`` for ``step``; True when this changed which parameters train."""
        if self.module is None:
            return False
        frozen = self.frozen_at(step)
        if frozen == self._frozen:
            return False
        self.module.requires_grad_(not frozen)
        changed = self._frozen is not None
        self._frozen = frozen
        return changed

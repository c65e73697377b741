"""The selection that meets a latency budget: searched on the table, checked by a measurement.

1. **Search.** The table's prediction falls as units are removed (its grids are monotone), so
   the number of units removed in ranking order (global scope), or the equal ratio of every
   group (local scope), is bisected for the *fewest* removed units whose predicted latency is
   within the budget: the largest model that fits.
2. **Check.** The compact model of that selection is built and timed in the named runtime.
3. **Correct.** When the measured latency is more than :data:`TOLERANCE` off the budget, the
   next selection is, at most :data:`CORRECTIONS` times: when measurements lie on both sides
   of the budget (the dense model's own measurement counts), the number of removed units
   interpolated linearly between the closest two (regula falsi on real measurements); else the
   table's search for the budget scaled by ``budget / measured`` (the table's error at that
   size, taken as proportional). The measured selection closest to the budget is kept (ties:
   the one within the budget).

A budget outside the predicted range (below the smallest model the method can make, or above
the dense model by more than the tolerance) is refused in one line before anything is built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from srprune.errors import UserError
from srprune.pruning.criteria import (
    Order,
    Scope,
    local_quotas,
    rank_units,
    select_units,
    take_quotas,
)
from srprune.pruning.groups import Group

Removed = dict[str, torch.Tensor]
TOLERANCE = 0.10
"""Relative distance of the measured latency from the budget accepted without correction."""
CORRECTIONS = 2
"""Re-searches (each followed by one more measurement) after the first measurement."""


@dataclass
class LatencyFit:
    """The chosen selection and how it was found.

    Attributes:
        removed: removed units per group.
        ratio: fraction of all units removed.
        predicted_ms, measured_ms: the table's prediction and the measurement of the compact
            model (ms per output frame).
        budget_ms: the budget asked for.
        attempts: every searched budget with its prediction and measurement, in order.
    """

    removed: Removed
    ratio: float
    predicted_ms: float
    measured_ms: float
    budget_ms: float
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def relative_error(self) -> float:
        return (self.measured_ms - self.budget_ms) / self.budget_ms


def smallest_at_most(n_max: int, value: Callable[[int], float], limit: float) -> int:
    """The smallest n in [0, n_max] with ``value(n) <= limit`` (``value`` non-increasing);
    ``n_max`` when none is."""
    lo, hi = 0, n_max
    if value(0) <= limit:
        return 0
    while hi - lo > 1:  # value(lo) > limit; the answer is in (lo, hi]
        mid = (lo + hi) // 2
        if value(mid) <= limit:
            hi = mid
        else:
            lo = mid
    return hi


class Searcher:
    """Selections by the number ``n`` of units removed, and their predicted latency."""

    def __init__(self, groups: list[Group], scores: dict[str, torch.Tensor], scope: Scope,
                 order: Order, seed: int, predict: Callable[[Removed], float]) -> None:
        self.total = sum(g.units for g in groups)
        self.most = self.total - len(groups)
        if scope == "global":
            def select(n: int) -> Removed:
                return select_units(groups, scores, n / self.total, scope, order, seed)
        else:
            ranking = rank_units(groups, scores, order, seed)

            def select(n: int) -> Removed:
                return take_quotas(groups, ranking, local_quotas(groups, n / self.total))
        self.select = select
        self.predict = functools.cache(lambda n: predict(select(n)))

    def range_ms(self) -> tuple[float, float]:
        """(smallest, dense) predicted latency."""
        return self.predict(self.most), self.predict(0)

    def search(self, budget: float) -> int:
        return smallest_at_most(self.most, self.predict, budget)


def check_budget(budget: float, smallest: float, dense: float, where: str) -> None:
    """Refuse a budget the method cannot reach, naming the reachable range."""
    reach = f"reachable: {smallest:.3g} ms to {dense:.3g} ms per frame"
    if budget > dense * (1 + TOLERANCE):
        raise UserError(f"latency target {budget:g} ms is above the dense model's predicted "
                        f"{dense:.3g} ms per frame {where}: nothing to remove ({reach})")
    if budget < smallest:
        raise UserError(f"latency target {budget:g} ms is below the smallest model this method "
                        f"can make, predicted {smallest:.3g} ms per frame {where} with one unit "
                        f"left per group ({reach})")


def _bracketed(tried: dict[int, float], budget: float) -> int | None:
    """The n between the closest measured selections on either side of the budget (linear in
    the measurements), or None without such a pair or room between them."""
    over = [n for n, ms in tried.items() if ms > budget]
    under = [n for n, ms in tried.items() if ms <= budget]
    if not over or not under:
        return None
    a, b = max(over), min(under)  # fewer removed units: slower
    if b - a < 2:
        return None
    t = (tried[a] - budget) / (tried[a] - tried[b])
    return min(max(a + round(t * (b - a)), a + 1), b - 1)


def fit_latency(searcher: Searcher, budget: float, measure: Callable[[Removed], float],
                where: str, dense_ms: float | None = None,
                say: Callable[[str], None] = lambda line: None) -> LatencyFit:
    """Search, measure and correct (see the module docstring); ``dense_ms``: the dense
    model's measured latency (a known point for the correction)."""
    smallest, dense = searcher.range_ms()
    check_budget(budget, smallest, dense, where)
    aim = budget
    attempts: list[dict[str, Any]] = []
    tried: dict[int, float] = {}
    known = {0: dense_ms} if dense_ms is not None else {}
    n = searcher.search(aim)
    for _ in range(1 + CORRECTIONS):
        if n not in tried:
            tried[n] = measure(searcher.select(n))
        measured = tried[n]
        attempts.append({"searched_ms": aim, "removed_units": n,
                         "predicted_ms": searcher.predict(n), "measured_ms": measured})
        say(f"[latency] {n} units removed: predicted {searcher.predict(n):.4g} ms, measured "
            f"{measured:.4g} ms (budget {budget:g} ms)")
        if abs(measured - budget) <= TOLERANCE * budget:
            break
        between = _bracketed({**known, **tried}, budget)
        if between is not None:
            n, aim = between, searcher.predict(between)
        else:
            aim = min(max(aim * budget / measured, smallest), dense)
            n = searcher.search(aim)
    best = min(tried, key=lambda k: (abs(tried[k] - budget), tried[k] > budget))
    return LatencyFit(removed=searcher.select(best), ratio=best / searcher.total,
                      predicted_ms=searcher.predict(best), measured_ms=tried[best],
                      budget_ms=budget, attempts=attempts)

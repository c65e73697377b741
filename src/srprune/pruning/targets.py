"""Size targets: prune to a number of MACs or params instead of a ratio of units.

``macs=4.0G`` (SR part: MACs per frame without the flow network),
``macs+flow=4.0G`` (with one flow-network pass per frame; pruned too with ``prune.flow``, at
``prune.flow_ratio``), ``params=0.7M`` or ``ratio=0.5``.
The selection that meets a size target is searched on the scores alone (sizes come from
:class:`~srprune.pruning.sizes.SizeModel`: no surgery, no training), so every method can be
compared at equal size, as the papers do:

* global ranking: the number of units removed (in score order) is bisected; the size changes by
  one unit at a time;
* local ranking: the same ratio in every group is bisected, then single units are added to or
  given back from the groups (greedily, at most a unit or so per group) until the size is within
  0.2 % of the target, because the coarse steps of equal ratios (a shrinking residual stream
  narrows every conv that touches it) can miss a target by several percent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

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

Kind = Literal["macs", "macs+flow", "params", "ratio"]
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
Removed = dict[str, torch.Tensor]
TOLERANCE = 0.01  # a target within 1 % of the reachable range is met as closely as it can be


@dataclass(frozen=True)
class SizeTarget:
    """What the compact model should weigh."""

    kind: Kind
    value: float

    @classmethod
    def parse(cls, text: str) -> SizeTarget:
        """``macs=4.0G`` / ``macs+flow=4G`` / ``params=0.7M`` / ``ratio=0.5``."""
        m = re.fullmatch(r"\s*(macs\+flow|macs|params|ratio)\s*=\s*([0-9.eE+-]+)\s*([kKmMgGtT]?)"
                         r"\s*", text)
        if not m:
            raise ValueError(f"size target {text!r} is not macs=4.0G, macs+flow=4.0G, "
                             "params=0.7M, ratio=0.5 or latency=40ms@torch")
        try:
            value = float(m[2]) * _SUFFIX[m[3].lower()]
        except ValueError:
            raise ValueError(f"size target {text!r}: {m[2]!r} is not a number") from None
        kind = m[1]
        if kind == "ratio" and not 0.0 <= value < 1.0:
            raise ValueError(f"size target {text!r}: a ratio must be in [0, 1)")
        if kind != "ratio" and not value > 0:
            raise ValueError(f"size target {text!r}: must be > 0")
        return cls(kind, value)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}"


@dataclass(frozen=True)
class TargetFit:
    """The selection that meets a target, and how close it came."""

    removed: Removed
    ratio: float
    size: float
    relative_error: float


def _bisect(n_max: int, size_at: Callable[[int], float], target: float) -> int:
    """The n in [0, n_max] whose (non-increasing) size is closest to ``target``."""
    at = functools.cache(size_at)
    if at(n_max) >= target:
        return n_max
    if at(0) <= target:
        return 0
    lo, hi = 0, n_max  # at(lo) > target >= at(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if at(mid) <= target:
            hi = mid
        else:
            lo = mid
    return min((lo, hi), key=lambda k: abs(at(k) - target))


def _human(value: float) -> str:
    """4.2G, 0.71M, 980k: three significant digits and a suffix."""
    for suffix, unit in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= unit:
            return f"{value / unit:.3g}{suffix}"
    return f"{value:.3g}"


def check_reachable(kind: str, target: float, smallest: float, dense: float,
                    tolerance: float = TOLERANCE) -> None:
    """Refuse a target outside [smallest, dense] (give or take ``tolerance``), naming the range
    this method can reach on this model."""
    what = "params" if kind == "params" else "MACs per frame"
    reach = f"reachable: {kind}={_human(smallest)} to {kind}={_human(dense)}"
    if target > dense * (1 + tolerance):
        raise UserError(f"size target {kind}={_human(target)} is above the dense model's "
                        f"{_human(dense)} {what}: nothing to remove ({reach})")
    if target < smallest * (1 - tolerance):
        raise UserError(f"size target {kind}={_human(target)} is below the smallest model this "
                        f"method can make, {_human(smallest)} {what}, with one unit left per "
                        f"group ({reach})")


def fit_selection(groups: list[Group], scores: dict[str, torch.Tensor], scope: Scope,
                  order: Order, seed: int, size: Callable[[Removed], float],
                  target: float, kind: str = "size") -> TargetFit:
    """The removal whose compact size (``size(removed)``) is closest to ``target``.

    A target outside the sizes this selection can reach (above the dense model, or below every
    group kept at one unit) is refused by :func:`check_reachable` before any search.
    """
    total = sum(g.units for g in groups)
    most = total - len(groups)  # every group keeps a unit
    if scope == "global":
        def select(n: int) -> Removed:
            return select_units(groups, scores, n / total, scope, order, seed)

        at = functools.cache(lambda n: size(select(n)))
        check_reachable(kind, target, at(most), at(0))
        removed = select(_bisect(most, at, target))
    else:
        ranking = rank_units(groups, scores, order, seed)

        def quotas(n: int) -> list[int]:
            return local_quotas(groups, n / total)

        at = functools.cache(lambda k: size(take_quotas(groups, ranking, quotas(k))))
        fewest = size(take_quotas(groups, ranking, [g.units - 1 for g in groups]))
        check_reachable(kind, target, min(fewest, at(most)), at(0))
        n = _bisect(most, at, target)
        removed = _refine(groups, ranking, quotas(n), size, target)
    achieved = size(removed)
    return TargetFit(removed=removed, ratio=sum(len(v) for v in removed.values()) / total,
                     size=achieved, relative_error=abs(achieved - target) / target)


def _refine(groups: list[Group], ranking: dict[str, torch.Tensor], quota: list[int],
            size: Callable[[Removed], float], target: float, tolerance: float = 0.002
            ) -> Removed:
    """Greedy single-unit moves (one more or one fewer unit in a group) toward ``target``."""
    def error(q: list[int]) -> float:
        return abs(size(take_quotas(groups, ranking, q)) - target) / target

    best = error(quota)
    while best > tolerance:
        move, move_err = None, best
        for i, g in enumerate(groups):
            for d in (1, -1):
                if 0 <= quota[i] + d <= g.units - 1:
                    quota[i] += d
                    e = error(quota)
                    quota[i] -= d
                    if e < move_err:
                        move, move_err = (i, d), e
        if move is None:
            break
        quota[move[0]] += move[1]
        best = move_err
    return take_quotas(groups, ranking, quota)

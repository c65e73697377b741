"""A layer's width grid and bilinear interpolation on it.

Each axis of a layer is measured at its narrowest reachable width, at multiples of a step (8,
or a quarter of the full width rounded up to a multiple of 8 when that is larger) and at its
full width; a width in between is interpolated bilinearly. Measured latencies are made
non-decreasing along both axes (a running maximum) before use: a narrower layer is never
predicted slower than a wider one, so the predicted latency of a selection falls as units are
removed and a budget can be bisected.
"""

from __future__ import annotations

import bisect
import math

SIMD = 8


def axis_grid(narrowest: int, full: int) -> list[int]:
    """Widths measured on one axis: ``narrowest``, multiples of the step, ``full``."""
    narrowest = max(1, min(narrowest, full))
    step = max(SIMD, math.ceil(full / 4 / SIMD) * SIMD)
    inner = range(step * (narrowest // step + 1), full, step)
    return sorted({narrowest, *inner, full})


def monotone(values: list[list[float]]) -> list[list[float]]:
    """``values[i][j]`` made non-decreasing in ``i`` and in ``j`` (running maxima)."""
    out = [list(row) for row in values]
    for i, row in enumerate(out):
        for j in range(len(row)):
            best = row[j]
            if i:
                best = max(best, out[i - 1][j])
            if j:
                best = max(best, row[j - 1])
            row[j] = best
    return out


def _bracket(axis: list[int], x: float) -> tuple[int, float]:
    """(index i, fraction t) with ``x`` between ``axis[i]`` and ``axis[i + 1]`` (clamped)."""
    if len(axis) == 1 or x <= axis[0]:
        return 0, 0.0
    if x >= axis[-1]:
        return len(axis) - 2, 1.0
    i = bisect.bisect_right(axis, x) - 1
    return i, (x - axis[i]) / (axis[i + 1] - axis[i])


def interpolate(ins: list[int], outs: list[int], values: list[list[float]], c_in: float,
                c_out: float) -> float:
    """Bilinear interpolation of ``values[i][j]`` (at ``ins[i]``, ``outs[j]``)."""
    i, s = _bracket(ins, c_in)
    j, t = _bracket(outs, c_out)
    i1 = min(i + 1, len(ins) - 1)
    j1 = min(j + 1, len(outs) - 1)
    top = values[i][j] * (1 - t) + values[i][j1] * t
    bottom = values[i1][j] * (1 - t) + values[i1][j1] * t
    return top * (1 - s) + bottom * s

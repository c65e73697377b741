"""The latency table of a model: per prunable layer, its latency over a width grid, plus the
measured remainder.

Layers whose widths a selection can change (every layer a group's port touches) are timed
alone at each point of their width grid (:mod:`srprune.latency.grid`), with the activation that
follows them; layers with the same use and full widths share one grid. The whole dense model
is timed too, and the *remainder* (the whole model minus the table's layers at full width:
the flow network, the unpruned layers, warps, shuffles, additions, the runtime's overheads) is
kept as a constant, so the table predicts exactly the measured dense latency and, for any
widths, ``remainder + sum(calls per frame x interpolated latency)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from srprune.latency.calls import LayerUse, layer_uses
from srprune.latency.grid import axis_grid, interpolate, monotone
from srprune.latency.timers import Timer
from srprune.models.contract import flow_network
from srprune.profile import example_input
from srprune.progress import Ticker
from srprune.pruning.groups import Group
from srprune.pruning.handlers import prunable_layers
from srprune.pruning.sizes import layer_widths

Widths = dict[str, tuple[int, int]]


@dataclass
class Grid:
    """Measured ms per call of one layer use at every (``ins[i]``, ``outs[j]``)."""

    ins: list[int]
    outs: list[int]
    ms: list[list[float]] = field(default_factory=list)

    def at(self, c_in: float, c_out: float) -> float:
        return interpolate(self.ins, self.outs, self.ms, c_in, c_out)


@dataclass
class LatencyTable:
    """Per-layer latencies of one model in one runtime at one LR size.

    Attributes:
        grids: measured grids by shape key (the layer use and its full widths).
        layers: ``path -> (shape key, calls per output frame)`` of the timed layers.
        dense_ms: the whole dense model, measured (ms per output frame).
        remainder_ms: ``dense_ms`` minus the timed layers at full width.
        facts: what the table was measured under (runtime, version, CPU, threads, size).
    """

    grids: dict[str, Grid]
    layers: dict[str, tuple[str, float]]
    dense_ms: float
    remainder_ms: float
    facts: dict[str, Any]

    def predict(self, widths: Widths) -> float:
        """Predicted ms per output frame of the model with the timed layers at ``widths``."""
        return self.remainder_ms + sum(
            calls * self.grids[key].at(*widths[name]) for name, (key, calls) in
            self.layers.items())

    def to_dict(self) -> dict[str, Any]:
        return {"facts": self.facts, "dense_ms": self.dense_ms,
                "remainder_ms": self.remainder_ms,
                "layers": {k: list(v) for k, v in self.layers.items()},
                "grids": {k: {"ins": g.ins, "outs": g.outs, "ms": g.ms}
                          for k, g in self.grids.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyTable:
        grids = {k: Grid([int(v) for v in g["ins"]], [int(v) for v in g["outs"]],
                         [[float(v) for v in row] for row in g["ms"]])
                 for k, g in data["grids"].items()}
        for g in grids.values():
            if len(g.ms) != len(g.ins) or any(len(row) != len(g.outs) for row in g.ms):
                raise ValueError("a grid's values do not match its widths")
        layers = {k: (str(v[0]), float(v[1])) for k, v in data["layers"].items()}
        if any(key not in grids for key, _ in layers.values()):
            raise ValueError("a layer names a grid the table lacks")
        return cls(grids, layers, float(data["dense_ms"]), float(data["remainder_ms"]),
                   dict(data["facts"]))


@dataclass
class TablePlan:
    """What a table measures, known before timing anything (its fingerprint is made of this).

    Attributes:
        uses: ``path -> (use, calls per frame)`` of the layers to time.
        grids: shape key -> the (empty) grid to measure.
        keys: path -> shape key.
        full: path -> full widths.
    """

    uses: dict[str, tuple[LayerUse, float]]
    grids: dict[str, Grid]
    keys: dict[str, str]
    full: Widths

    def describe(self) -> dict[str, Any]:
        """The plan as plain values."""
        return {"layers": {n: [self.keys[n], calls] for n, (_, calls) in self.uses.items()},
                "grids": {k: [g.ins, g.outs] for k, g in self.grids.items()}}


def plan_table(model: nn.Module, groups: list[Group], lr_size: tuple[int, int],
               frames: int) -> TablePlan:
    """The layers a selection of ``groups`` can narrow, their uses and width grids."""
    flow = flow_network(model)
    skip = flow if isinstance(flow, nn.Module) else None
    example = example_input(model, lr_size, frames, "meta")
    layers = prunable_layers(model)
    full = layer_widths(layers, groups, {})
    narrow = layer_widths(layers, groups, {g.name: torch.arange(g.units - 1) for g in groups})
    uses = layer_uses(model, example, frames, skip)
    timed = {n: uses[n] for n in full if full[n] != narrow[n] and n in uses}
    keys = {n: f"{use.key()}[{full[n][0]}->{full[n][1]}]" for n, (use, _) in timed.items()}
    lows: dict[str, tuple[int, int]] = {}
    for n, key in keys.items():
        lo = lows.get(key, full[n])
        lows[key] = (min(lo[0], narrow[n][0]), min(lo[1], narrow[n][1]))
    grids = {}
    for n, key in keys.items():
        if key not in grids:
            grids[key] = Grid(axis_grid(lows[key][0], full[n][0]),
                              axis_grid(lows[key][1], full[n][1]))
    return TablePlan(timed, grids, keys, full)


def measure_table(model: nn.Module, plan: TablePlan, lr_size: tuple[int, int], frames: int,
                  timer: Timer, facts: dict[str, Any],
                  say: Callable[[str], None] = lambda line: None) -> LatencyTable:
    """Time every grid of ``plan`` and the whole model (progress lines through ``say``)."""
    layers = dict(model.named_modules())
    first = {key: next(n for n, k in plan.keys.items() if k == key) for key in plan.grids}
    total = sum(len(g.ins) * len(g.outs) for g in plan.grids.values())
    ticker = Ticker(total + 1)
    done = 0
    for i, (key, grid) in enumerate(plan.grids.items()):
        name = first[key]
        points = [(a, b) for a in grid.ins for b in grid.outs]
        values = timer.layer(layers[name], plan.uses[name][0], points)
        it = iter(values)
        grid.ms = monotone([[next(it) for _ in grid.outs] for _ in grid.ins])
        done += len(points)
        if ticker.due(done):
            say(f"[latency] layer {i + 1}/{len(plan.grids)} ({len(points)} widths) "
                f"{ticker.timing(done)}")
    dense = timer.model(model, lr_size, frames)
    say(f"[latency] whole model: {dense:.1f} ms per frame {ticker.timing(total + 1)}")
    layer_map = {n: (plan.keys[n], calls) for n, (_, calls) in plan.uses.items()}
    table = LatencyTable(plan.grids, layer_map, dense, 0.0, facts)
    table.remainder_ms = dense - table.predict(plan.full)
    return table

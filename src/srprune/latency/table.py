"""The latency table of a model: per prunable layer, its latency over a width grid, plus the
measured remainder.

Layers whose widths a selection can change (every layer a group's port touches) are timed
alone at each point of their width grid (:mod:`srprune.latency.grid`), with the activation that
follows them; layers with the same use and full widths share one grid. The table predicts
``remainder + scale x sum(calls per frame x interpolated latency)``, calibrated on two whole
models timed interleaved (same machine load): the dense model and a *reference* compact model
(every group at about half its units, an odd count). ``scale`` (clamped to [1/4, 4]) carries
the layers' isolated timings over to the whole graph (caches, fusions, layout reorders, the
load at the time); the *remainder* (the flow network, the unpruned layers, warps, shuffles,
the gathers and scatters of a pruned model, the runtime's overheads) is a constant. The
prediction is exact at both models.
"""

from __future__ import annotations

import copy
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
from srprune.pruning.surgery import remove_units

Widths = dict[str, tuple[int, int]]
SCALE_RANGE = (0.25, 4.0)


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
        remainder_ms: what the timed layers do not account for (see the module docstring).
        facts: what the table was measured under (runtime, version, CPU, threads, size).
        scale: factor from the layers' isolated timings to their share of the whole model.
        reference_ms: the reference compact model, measured beside the dense one.
    """

    grids: dict[str, Grid]
    layers: dict[str, tuple[str, float]]
    dense_ms: float
    remainder_ms: float
    facts: dict[str, Any]
    scale: float = 1.0
    reference_ms: float | None = None

    def layers_ms(self, widths: Widths) -> float:
        """The timed layers' isolated latency at ``widths`` (ms per output frame)."""
        return sum(calls * self.grids[key].at(*widths[name])
                   for name, (key, calls) in self.layers.items())

    def predict(self, widths: Widths) -> float:
        """Predicted ms per output frame of the model with the timed layers at ``widths``."""
        return self.remainder_ms + self.scale * self.layers_ms(widths)

    def to_dict(self) -> dict[str, Any]:
        return {"facts": self.facts, "dense_ms": self.dense_ms,
                "remainder_ms": self.remainder_ms, "scale": self.scale,
                "reference_ms": self.reference_ms,
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
        reference = data.get("reference_ms")
        return cls(grids, layers, float(data["dense_ms"]), float(data["remainder_ms"]),
                   dict(data["facts"]), float(data.get("scale", 1.0)),
                   None if reference is None else float(reference))


@dataclass
class TablePlan:
    """What a table measures, known before timing anything (its fingerprint is made of this).

    Attributes:
        uses: ``path -> (use, calls per frame)`` of the layers to time.
        grids: shape key -> the (empty) grid to measure.
        keys: path -> shape key.
        full: path -> full widths.
        groups: the groups the plan was made for.
        reference: the reference compact model's removal (:func:`reference_cut` per group).
        reference_widths: path -> widths of the timed layers in the reference model.
    """

    uses: dict[str, tuple[LayerUse, float]]
    grids: dict[str, Grid]
    keys: dict[str, str]
    full: Widths
    groups: list[Group]
    reference: dict[str, torch.Tensor]
    reference_widths: Widths

    def describe(self) -> dict[str, Any]:
        """The plan as plain values."""
        return {"layers": {n: [self.keys[n], calls] for n, (_, calls) in self.uses.items()},
                "grids": {k: [g.ins, g.outs] for k, g in self.grids.items()},
                "reference": {k: len(v) for k, v in self.reference.items()}}


def reference_cut(units: int) -> int:
    """Units the reference model removes from a group: about half, leaving an odd count (most
    selections leave widths that are not multiples of 8, which runtimes handle more slowly)."""
    cut = units // 2
    return cut - 1 if cut >= 2 and (units - cut) % 2 == 0 else cut


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
    reference = {g.name: torch.arange(reference_cut(g.units)) for g in groups}
    return TablePlan(timed, grids, keys, full, groups, reference,
                     layer_widths(layers, groups, reference))


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
    reference = remove_units(copy.deepcopy(model), plan.groups, plan.reference)
    whole = timer.models({"dense": model, "reference": reference}, lr_size, frames)
    say(f"[latency] whole model: {whole['dense']:.1f} ms per frame, reference compact model "
        f"{whole['reference']:.1f} ms {ticker.timing(total + 1)}")
    layer_map = {n: (plan.keys[n], calls) for n, (_, calls) in plan.uses.items()}
    table = LatencyTable(plan.grids, layer_map, whole["dense"], 0.0, facts,
                         reference_ms=whole["reference"])
    table.scale = calibrated_scale(table, plan, whole["dense"], whole["reference"])
    table.remainder_ms = whole["dense"] - table.scale * table.layers_ms(plan.full)
    return table


def calibrated_scale(table: LatencyTable, plan: TablePlan, dense_ms: float,
                     reference_ms: float) -> float:
    """The factor that makes the table's layers explain the measured difference between the
    dense and the reference model (1 when that difference cannot be measured)."""
    saved = table.layers_ms(plan.full) - table.layers_ms(plan.reference_widths)
    if saved <= 0:
        return 1.0
    return min(max((dense_ms - reference_ms) / saved, SCALE_RANGE[0]), SCALE_RANGE[1])

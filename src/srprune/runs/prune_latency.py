"""The select stage under a latency target (``--target latency=40ms@openvino:180x320``).

The per-layer latency table of the dense model (``srprune.latency``: measured once on this
machine for the runtime, threads and size, then cached) predicts the latency of any selection;
the selection is searched on it, the compact model of the result is built from the dense
weights and timed in the runtime, and the search is corrected when that measurement is more
than 10 % off (``srprune.latency.fit``). The table's fingerprint is part of the select stage's
fingerprint, so a changed budget, runtime, size, thread count or table redoes the selection.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from srprune.latency.cache import cached_table, table_facts, table_fingerprint
from srprune.latency.fit import TOLERANCE, LatencyFit, Searcher, fit_latency
from srprune.latency.table import TablePlan, plan_table
from srprune.latency.timers import Timer, make_timer
from srprune.pruning.config import PruneSettings
from srprune.pruning.criteria import round_kept_units
from srprune.pruning.groups import Group
from srprune.pruning.handlers import prunable_layers
from srprune.pruning.latency_target import LatencyTarget
from srprune.pruning.methods.recipe import Recipe
from srprune.pruning.sizes import layer_widths
from srprune.pruning.surgery import remove_units

Removed = dict[str, torch.Tensor]
TIMERS: dict[str, Callable[[str, int], Timer]] = {}
"""Timers by runtime that replace the real ones (tests inject fakes here)."""


@dataclass
class LatencyJob:
    """What a latency target measures: where, how, and the table's plan."""

    target: LatencyTarget
    lr_size: tuple[int, int]
    frames: int
    timer: Timer
    plan: TablePlan

    def where(self) -> str:
        h, w = self.lr_size
        n = torch.get_num_threads()
        return f"in {self.target.runtime} at {h}x{w}, {n} thread{'s' if n != 1 else ''}"


_JOBS: dict[tuple, LatencyJob] = {}


def latency_job(model: nn.Module, groups: list[Group], s: PruneSettings) -> LatencyJob:
    """The job of ``s.target`` (a latency target) on ``model``'s ``groups`` (kept for the
    process: the stages' fingerprints ask for it again, and planning costs a forward pass)."""
    target = LatencyTarget.parse(s.target or "")
    key = (hashlib.sha256(str(model).encode()).hexdigest(), tuple(g.name for g in groups), s,
           torch.get_num_threads(), id(TIMERS.get(target.runtime)))
    if key not in _JOBS:
        _JOBS.clear()
        _JOBS[key] = _new_job(model, groups, s, target)
    return _JOBS[key]


def _new_job(model: nn.Module, groups: list[Group], s: PruneSettings, target: LatencyTarget
             ) -> LatencyJob:
    lr_size = target.lr_size or tuple(s.report_lr_size)
    make = TIMERS.get(target.runtime) or (lambda rt, n: make_timer(rt, n))
    timer = make(target.runtime, s.latency_repeats)
    plan = plan_table(model, groups, lr_size, s.latency_frames)
    return LatencyJob(target, lr_size, s.latency_frames, timer, plan)


def latency_inputs(model: nn.Module, groups: list[Group], s: PruneSettings) -> dict[str, Any]:
    """The select stage's extra fingerprint: the table's (nothing is timed)."""
    job = latency_job(model, groups, s)
    facts = table_facts(model, job.plan, job.timer, job.lr_size, job.frames)
    return {"table": table_fingerprint(facts), "runtime": facts["version"],
            "threads": facts["threads"], "lr_size": list(job.lr_size)}


def compact_latency(model: nn.Module, groups: list[Group], removed: Removed, job: LatencyJob
                    ) -> float:
    """Measured ms per frame of ``model`` without the ``removed`` units (weights don't
    matter for latency: the dense ones are cut)."""
    compact = remove_units(copy.deepcopy(model), groups, removed)
    return job.timer.model(compact, job.lr_size, job.frames)


def choose_for_latency(model: nn.Module, groups: list[Group], scores: dict[str, torch.Tensor],
                       recipe: Recipe, s: PruneSettings,
                       say: Callable[[str], None] = lambda line: None
                       ) -> tuple[LatencyFit, dict[str, Any]]:
    """The selection meeting the latency target, and what the selection file records."""
    job = latency_job(model, groups, s)
    table, path, hit = cached_table(model, job.plan, job.timer, job.lr_size, job.frames, say)
    if hit:
        say(f"[latency] table from the cache: {path}")
    layers = prunable_layers(model)

    def rounded(removed: Removed) -> Removed:
        return round_kept_units(groups, scores, removed, s.round_to)

    def predict(removed: Removed) -> float:
        return table.predict(layer_widths(layers, groups, rounded(removed)))

    searcher = Searcher(groups, scores, recipe.scope, recipe.order, s.seed, predict)
    fit = fit_latency(searcher, job.target.budget_ms,
                      lambda removed: compact_latency(model, groups, rounded(removed), job),
                      job.where(), table.dense_ms, say)
    record = {"budget_ms": fit.budget_ms, "runtime": job.target.runtime,
              "version": table.facts.get("version"), "lr_size": list(job.lr_size),
              "frames": job.frames, "threads": torch.get_num_threads(),
              "cpu": table.facts.get("cpu"), "predicted_ms": fit.predicted_ms,
              "measured_ms": fit.measured_ms, "relative_error": fit.relative_error,
              "dense_measured_ms": table.dense_ms, "remainder_ms": table.remainder_ms,
              "attempts": fit.attempts, "table": str(path), "table_from_cache": hit}
    return fit, record


def report_latency(target: dict[str, Any], compact: nn.Module, s: PruneSettings
                   ) -> dict[str, Any]:
    """The report's latency-target row: the budget, the table's prediction and the measurements
    of the compact model (at selection, and now, unless the report's latency is off)."""
    t = target["latency"]
    row = {"target": target["target"], "budget_ms": t["budget_ms"], "runtime": t["runtime"],
           "lr_size": t["lr_size"], "threads": t["threads"], "predicted_ms": t["predicted_ms"],
           "measured_at_selection_ms": t["measured_ms"], "measured_ms": t["measured_ms"],
           "attempts": len(t["attempts"])}
    if s.latency:
        make = TIMERS.get(t["runtime"]) or (lambda rt, n: make_timer(rt, n))
        timer = make(t["runtime"], s.latency_repeats)
        row["measured_ms"] = timer.model(compact, tuple(t["lr_size"]), int(t["frames"]))
    row["relative_error"] = (row["measured_ms"] - row["budget_ms"]) / row["budget_ms"]
    row["within_tolerance"] = abs(row["relative_error"]) <= TOLERANCE
    return row

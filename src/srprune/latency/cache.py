"""Latency tables on disk, reused only when everything they depend on is the same.

A table is stored as ``<cache>/<fingerprint>.json``, where the fingerprint is the sha256 of:
the runtime and its version, the CPU model, the thread count, the LR size and clip length, the
timing repeats, the whole model's structure (its module tree, every width included) and the
table's plan (each timed layer's use, calls per frame and width grid). Any change gives another
file name, so a table is re-measured, never reused across a change. ``<cache>`` is
``$SRPRUNE_LATENCY_CACHE`` when set, else ``$XDG_CACHE_HOME/srprune/latency`` (default
``~/.cache/srprune/latency``). A damaged file is measured again and replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srprune.io.atomic import write_text_atomic
from srprune.io.bounded_json import read_json
from srprune.latency.table import LatencyTable, TablePlan, measure_table
from srprune.latency.timers import Timer

ENV = "SRPRUNE_LATENCY_CACHE"
FORMAT = 3


def cache_dir() -> Path:
    """Where tables are kept (see the module docstring)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "srprune" / "latency"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what ``platform`` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table_facts(model: nn.Module, plan: TablePlan, timer: Timer, lr_size: tuple[int, int],
                frames: int) -> dict[str, Any]:
    """Everything a table depends on, as plain values (its fingerprint is their hash)."""
    return {"format": FORMAT, "runtime": timer.runtime, "version": timer.version(),
            "cpu": cpu_model(), "threads": torch.get_num_threads(),
            "lr_size": list(lr_size), "frames": frames,
            "repeats": getattr(timer, "repeats", None),
            "model": hashlib.sha256(str(model).encode()).hexdigest(), "plan": plan.describe()}


def table_fingerprint(facts: dict[str, Any]) -> str:
    """The sha256 of ``facts`` (canonical JSON)."""
    text = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def cached_table(model: nn.Module, plan: TablePlan, timer: Timer, lr_size: tuple[int, int],
                 frames: int, say: Callable[[str], None] = lambda line: None
                 ) -> tuple[LatencyTable, Path, bool]:
    """(table, its file, whether it came from the cache): the stored table of this exact
    fingerprint, else a fresh measurement written there."""
    facts = table_facts(model, plan, timer, lr_size, frames)
    key = table_fingerprint(facts)
    path = cache_dir() / f"{key[:32]}.json"
    if path.is_file():
        try:
            data = read_json(path)
            if data.get("fingerprint") == key:
                return LatencyTable.from_dict(data["table"]), path, True
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            say(f"[latency] {path} is damaged: measuring again")
    h, w = lr_size
    say(f"[latency] measuring a latency table: {len(plan.grids)} layer shapes in "
        f"{timer.runtime} at {h}x{w}, {facts['threads']} thread(s); cached in {path.parent}")
    table = measure_table(model, plan, lr_size, frames, timer, {**facts, "plan": None}, say)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({"fingerprint": key, "table": table.to_dict()},
                                       indent=1))
    return table, path, False

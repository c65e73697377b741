"""The files a pruning run keeps beside its models: ``selection.json`` and the scale log.

``selection.json`` rows: ``{"group", "role", "layer", "units", "removed"}``; ASSL's alignment
adds ``aligned_to`` and ``removed_before_alignment`` to the rows of the residual streams.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from srprune.errors import UserError
from srprune.io.atomic import write_text_atomic

SELECTION = "selection.json"


def need(path: Path, stage: str) -> Path:
    """``path``, or a UserError telling to run the earlier stages first."""
    if not path.is_file():
        raise UserError(f"stage {stage} needs {path}; run the earlier stages first")
    return path


def read_selection(path: Path, stage: str) -> dict[str, Any]:
    """The content of ``selection.json`` (UserError naming ``stage`` when absent)."""
    return json.loads(need(path, stage).read_text())


def removed_sets(selection: Mapping[str, Any], aligned_only: bool = False
                 ) -> dict[str, torch.Tensor]:
    """Removed unit indices per group (only the aligned streams' with ``aligned_only``)."""
    return {g["group"]: torch.tensor(g["removed"], dtype=torch.long)
            for g in selection["groups"] if not aligned_only or "aligned_to" in g}


def record_alignment(path: Path, aligned: Mapping[str, torch.Tensor]) -> None:
    """Write the streams' shared index sets into ``selection.json`` (the per-layer choice
    before alignment is kept as ``removed_before_alignment``)."""
    data = json.loads(path.read_text())
    for row in data["groups"]:
        if row["group"] in aligned:
            row.setdefault("removed_before_alignment", row["removed"])
            row["removed"] = aligned[row["group"]].tolist()
            row["aligned_to"] = "first writer"
    write_text_atomic(path, json.dumps(data, indent=1))


def stream_kept(selection: Mapping[str, Any], hidden_states: Mapping[str, str | None]
                ) -> dict[str, torch.Tensor] | None:
    """Kept channels of each hidden state whose width a pruned group sets (``hidden_states``:
    the model contract's ``{state: group}``)."""
    rows = {g["group"]: g for g in selection["groups"]}
    kept = {}
    for state, group in hidden_states.items():
        g = rows.get(group) if group else None
        if g and g["removed"]:
            keep = torch.ones(g["units"], dtype=torch.bool)
            keep[torch.tensor(g["removed"], dtype=torch.long)] = False
            kept[state] = torch.nonzero(keep).flatten()
    return kept or None


def log_scales(folder: Path, log: list[dict[str, float]]) -> None:
    """Mean relative scale of selected vs kept units (and alpha, ASSL's mask agreement) over
    time, to ``folder/gammas.json`` and TensorBoard."""
    if not log:
        return
    write_text_atomic(folder / "gammas.json", json.dumps(log))
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # pragma: no cover - tensorboard is a dependency
        return
    with SummaryWriter(str(folder / "tb")) as w:
        for row in log:
            for key, value in row.items():
                if key != "step":
                    w.add_scalar(f"prune/{key}", value, row["step"])

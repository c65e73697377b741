"""Temporal error propagation: how a pruned recurrent model drifts from its dense parent, frame
by frame (the SSL paper's motivation for Temporal Finetuning).

For one clip, per frame index: the mean absolute difference between a pruned model's and the
dense model's outputs (in uint8 levels) and hidden states (every state the model's
``hidden_states`` contract names; a narrowed state is compared on the channels it kept), and
each model's PSNR against the ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srprune.io.atomic import atomic_path


@torch.no_grad()
def temporal_errors(dense: nn.Module, models: Mapping[str, nn.Module], lr: torch.Tensor,
                    gt: torch.Tensor | None = None,
                    kept: Mapping[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """Per-frame errors of each model in ``models`` against ``dense`` on clip ``lr`` (T,3,h,w).

    Returns:
        ``{"frames": T, "rows": {name: {"output_mae": [T], "hidden_mae": {state: [T]},
        "psnr": [T]}}}`` (``psnr`` against ``gt`` when given; the dense model's row has
        only ``psnr``).
    """
    x = lr.unsqueeze(0)
    ref_out, ref_hidden = dense.eval()(x, return_hidden="all")
    rows: dict[str, Any] = {"dense": {}}
    if gt is not None:
        rows["dense"]["psnr"] = _psnr(ref_out[0], gt)
    for name, model in models.items():
        out, hidden = model.eval()(x, return_hidden="all")
        row: dict[str, Any] = {
            "output_mae": ((out[0] - ref_out[0]).abs().mean((1, 2, 3)) * 255).tolist(),
            "hidden_mae": {}}
        for state in sorted(hidden.keys() & ref_hidden.keys()):
            teacher = ref_hidden[state][0]
            student = hidden[state][0]
            if student.shape[1] != teacher.shape[1] and kept and state in kept:
                teacher = teacher.index_select(1, kept[state])
            if student.shape == teacher.shape:
                row["hidden_mae"][state] = (student - teacher).abs().mean((1, 2, 3)).tolist()
        if gt is not None:
            row["psnr"] = _psnr(out[0], gt)
        rows[name] = row
    return {"frames": int(lr.shape[0]), "rows": rows}


def _psnr(sr: torch.Tensor, gt: torch.Tensor) -> list[float]:
    """PSNR per frame on uint8-rounded RGB (the REDS convention)."""
    a = (sr.clamp(0, 1) * 255).round()
    b = (gt.clamp(0, 1) * 255).round()
    mse = ((a - b) ** 2).mean((1, 2, 3)).clamp_min(1e-10)
    return (10 * torch.log10(255.0**2 / mse)).tolist()


def plot_temporal(errors: dict[str, Any], path: Path, title: str = "") -> None:
    """Output and hidden-state error against the dense model, per frame index."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {k: v for k, v in errors["rows"].items() if "output_mae" in v}
    states = sorted({s for v in rows.values() for s in v["hidden_mae"]})
    fig, axes = plt.subplots(1, 1 + len(states), figsize=(4.2 * (1 + len(states)), 3.4),
                             dpi=120, squeeze=False)
    frames = range(errors["frames"])
    for name, row in rows.items():
        axes[0][0].plot(frames, row["output_mae"], marker="o", ms=3, label=name)
        for ax, state in zip(axes[0][1:], states, strict=True):
            if state in row["hidden_mae"]:
                ax.plot(frames, row["hidden_mae"][state], marker="o", ms=3, label=name)
    axes[0][0].set_title("output vs dense (uint8 levels)")
    for ax, state in zip(axes[0][1:], states, strict=True):
        ax.set_title(f"hidden state '{state}' vs dense")
    for ax in axes[0]:
        ax.set_xlabel("frame index")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean absolute error")
    axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)

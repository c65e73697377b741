"""The report of an FMP run: dense vs compact with all and non-zero counts, and the budgets."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model
from srprune.models.bicubic import Bicubic, BicubicConfig
from srprune.models.registry import build_model
from srprune.profile import count_macs, count_params, latency_side_by_side
from srprune.runs.prune_report import plot_ratios

if TYPE_CHECKING:
    from torch import nn


def _size_row(model: nn.Module, lr_size: tuple[int, int], file: Any = None) -> dict[str, Any]:
    params, nonzero = count_params(model)
    macs, _ = count_macs(model, lr_size)
    nz_macs, _ = count_macs(model, lr_size, nonzero=True)
    row: dict[str, Any] = {"params": params, "nonzero_params": nonzero, "macs": macs,
                           "nonzero_macs": nz_macs}
    if file is not None:
        row["file_bytes"] = file.stat().st_size
    return row


def write_fmp_report(out: Path, selection: dict[str, Any], arch: Any,
                     reference_path: Path | None, compact_path: Path,
                     before_finetune: Path | None, *, lr_size: tuple[int, int], device: str,
                     latency_repeats: int,
                     validate: Callable[[Any], dict[str, float]] | None) -> dict[str, Any]:
    """Measure and write report.json, report.md and ratios.png into ``out``.

    Args:
        selection: the run's selection.json.
        arch: the searched architecture's config (the dense row when there is no reference).
        reference_path: a trained dense model of that architecture (None: untrained row only).
        compact_path, before_finetune: the compact model, and the one before finetuning.
        validate: scores a model on the validation data (None: no quality columns).
    """
    compact = load_model(compact_path)
    if reference_path is not None:
        dense, dense_name = load_model(reference_path), "dense (reference)"
    else:
        dense, dense_name = build_model(arch), "dense (untrained architecture)"
    models: dict[str, Any] = {"bicubic": Bicubic(BicubicConfig(scale=arch.scale))}
    rows: dict[str, dict[str, Any]] = {"bicubic": {}}
    models[dense_name] = dense
    rows[dense_name] = _size_row(dense, lr_size, reference_path)
    if before_finetune is not None:
        models["pruned (before finetune)"] = load_model(before_finetune)
        rows["pruned (before finetune)"] = _size_row(models["pruned (before finetune)"],
                                                     lr_size, before_finetune)
    models["compact"] = compact
    rows["compact"] = _size_row(compact, lr_size, compact_path)
    runs = latency_side_by_side({"dense": dense, "compact": compact}, lr_size, 1, device,
                                repeats=latency_repeats)
    rows[dense_name]["latency_ms"] = statistics.median(runs["dense"])
    rows["compact"]["latency_ms"] = statistics.median(runs["compact"])
    if validate is not None:
        for name, model in models.items():
            if name == dense_name and reference_path is None:
                continue  # an untrained network has no score worth printing
            rows[name].update(validate(model.to(device)))
    d, c = rows[dense_name], rows["compact"]
    report = {
        "method": "fmp", "settings": selection["settings"], "lr_size": list(lr_size),
        "device": device, "compact": str(compact_path), "rows": rows,
        "achieved": selection["achieved"], "search_iters_done": selection["search_iters_done"],
        "converged_at": selection["converged_at"],
        "completed_by_force": selection["completed_by_force"],
        "nonzero_param_reduction": d["nonzero_params"] / c["nonzero_params"],
        "nonzero_mac_reduction": d["nonzero_macs"] / c["nonzero_macs"],
        "speedup": d["latency_ms"] / c["latency_ms"],
    }
    write_text_atomic(out / "report.json", json.dumps(report, indent=2))
    plot_ratios(selection, out / "ratios.png")
    write_text_atomic(out / "report.md", fmp_report_markdown(report))
    return report


def fmp_report_markdown(r: dict[str, Any]) -> str:
    """The report as Markdown: the size/quality table, then the budget table."""
    s = r["settings"]
    h, w = r["lr_size"]
    lines = [f"# FMP: {s['criterion']} criterion, budgets in {s['metric']} "
             f"(gamma_C {s['gamma_c']}, gamma_W {s['gamma_w']})", "",
             f"MACs per image at LR {h}x{w}; latency on {r['device']} (median, interleaved). "
             "Non-zero counts skip weights that are exactly zero.", "",
             "| model | params | non-zero params | GMACs | non-zero GMACs | file | ms | PSNR | "
             "SSIM |", "|---|---|---|---|---|---|---|---|---|"]

    def fmt(row: dict[str, Any], key: str, div: float, spec: str, unit: str = "") -> str:
        return format(row[key] / div, spec) + unit if key in row else "-"

    for name, row in r["rows"].items():
        lines.append(f"| {name} | {fmt(row, 'params', 1e3, ',.1f', 'K')} | "
                     f"{fmt(row, 'nonzero_params', 1e3, ',.1f', 'K')} | "
                     f"{fmt(row, 'macs', 1e9, '.3f')} | {fmt(row, 'nonzero_macs', 1e9, '.3f')} | "
                     f"{fmt(row, 'file_bytes', 2**20, '.3f', ' MB')} | "
                     f"{fmt(row, 'latency_ms', 1, '.1f')} | {fmt(row, 'psnr', 1, '.2f')} | "
                     f"{fmt(row, 'ssim', 1, '.4f')} |")
    lines += ["", "| metric | channel prune ratio | weight prune ratio | total remaining |",
              "|---|---|---|---|"]
    for metric, a in r["achieved"].items():
        lines.append(f"| {metric} | {100 * a['channel']:.2f} % | {100 * a['weight']:.2f} % | "
                     f"{100 * (1 - a['channel'] - a['weight']):.2f} % |")
    how = (f"converged at iteration {r['converged_at']}" if not r["completed_by_force"] else
           f"did not converge in {r['search_iters_done']} iterations and was completed by "
           "removing the smallest latents/indicators")
    lines += ["", f"The search {how}. Non-zero params /{r['nonzero_param_reduction']:.2f}, "
              f"non-zero MACs /{r['nonzero_mac_reduction']:.2f}, latency /{r['speedup']:.2f} "
              "(dense kernels: weight sparsity saves storage and MACs, not time).", "",
              "![per-group channel pruning ratios](ratios.png)", ""]
    return "\n".join(lines)

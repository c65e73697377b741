"""The report of a pruning run: report.json, report.md and the per-layer ratio plot."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from srprune.io.atomic import atomic_path, write_text_atomic
from srprune.io.model_file import load_model
from srprune.profile import count_macs, count_params, flow_child, latency_side_by_side

ROLE_COLOURS = {"rsc_in": "#4c72b0", "filter": "#55a868", "rsc_out": "#c44e52",
                "pixel_shuffle": "#8172b2", "stream": "#ccb974"}


def plot_ratios(selection: dict[str, Any], path: Path) -> None:
    """Bar chart of the pruning ratio of every group, in network order (the paper's Fig. 4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = selection["groups"]
    ratios = [len(r["removed"]) / r["units"] for r in rows]
    colours = [ROLE_COLOURS.get(r["role"], "#777777") for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.12 * len(rows) + 2), 4.2), dpi=120)
    ax.bar(range(len(rows)), ratios, color=colours, width=0.85)
    ax.set_ylim(0, 1.18)  # room for the legend above the bars
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xlabel("group (network order)")
    ax.set_ylabel("pruning ratio")
    ax.set_title(f"{selection['method']} at p = {selection['ratio']}: per-layer pruning ratios")
    if len(rows) <= 40:
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([r["group"] for r in rows], rotation=90, fontsize=6)
    handles = [Patch(color=colour, label=role) for role, colour in ROLE_COLOURS.items()
               if any(r["role"] == role for r in rows)]
    ax.legend(handles=handles, fontsize=7, ncol=5, loc="upper center")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def ratio_summary(selection: dict[str, Any]) -> dict[str, float]:
    """Mean pruning ratio per role (e.g. RSC inputs vs outputs, upsampling)."""
    by_role: dict[str, list[float]] = {}
    for r in selection["groups"]:
        by_role.setdefault(r["role"], []).append(len(r["removed"]) / r["units"])
    return {role: statistics.fmean(v) for role, v in by_role.items()}


def write_report(out: Path, selection: dict[str, Any], dense_path: Path, compact_path: Path,
                 before_finetune: Path | None, *, lr_size: tuple[int, int], device: str,
                 latency_frames: int, latency_repeats: int,
                 validate: Callable[[Any], dict[str, float]] | None,
                 temporal: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measure dense vs compact and write report.json, report.md and ratios.png into ``out``.

    Args:
        selection: the run's selection.json.
        compact_path: the compact model to report (finetuned if there is one).
        before_finetune: the compact model before finetuning, scored as its own row (None:
            no such row).
        lr_size, latency_frames, latency_repeats: where MACs and latency are measured.
        validate: scores a model on the validation data (None: no quality rows).
        temporal: per-frame drift from the dense model (``runs/propagation.py``), written to
            temporal.json and plotted in temporal.png (None: not measured).
    """
    dense = load_model(dense_path)
    compact = load_model(compact_path)
    sized: dict[str, dict[str, Any]] = {}
    for name, model in (("dense", dense), ("compact", compact)):
        params, _ = count_params(model)
        macs, parts = count_macs(model, lr_size)
        sized[name] = {"params": params, "macs_per_frame": macs,
                       "macs_per_frame_excl_flow": macs - parts.get(flow_child(model), 0.0)}
    runs = latency_side_by_side({"dense": dense, "compact": compact}, lr_size, latency_frames,
                                device, repeats=latency_repeats)
    for name, row in sized.items():
        row["latency_ms_per_frame"] = statistics.median(runs[name])
        row["latency_runs_ms"] = runs[name]
    if validate is None:
        rows = sized
    else:  # reading order; the pruned-before-finetune model has the compact one's size
        from srprune.models.bicubic import Bicubic, BicubicConfig

        models = {"bicubic": Bicubic(BicubicConfig(scale=dense.config.scale)), "dense": dense}
        rows = {"bicubic": {}, "dense": sized["dense"]}
        if before_finetune is not None:
            models["pruned (before finetune)"] = load_model(before_finetune)
            rows["pruned (before finetune)"] = dict(sized["compact"])
        models["compact"], rows["compact"] = compact, sized["compact"]
        for name, model in models.items():
            rows[name].update(validate(model.to(device)))
    d, c = rows["dense"], rows["compact"]
    report = {
        "method": selection["method"], "ratio": selection["ratio"],
        "recipe": selection["recipe"], "dense": str(dense_path),
        "compact": str(compact_path), "lr_size": list(lr_size), "device": device,
        "latency": {"frames": latency_frames, "repeats": latency_repeats},
        "rows": rows,
        "param_reduction": d["params"] / c["params"],
        "mac_reduction": d["macs_per_frame"] / c["macs_per_frame"],
        "mac_reduction_excl_flow": d["macs_per_frame_excl_flow"] / c["macs_per_frame_excl_flow"],
        "speedup": d["latency_ms_per_frame"] / c["latency_ms_per_frame"],
        "mean_ratio_by_role": ratio_summary(selection),
        "units": selection["units"], "units_removed": selection["removed"],
    }
    if temporal is not None:
        from srprune.runs.propagation import plot_temporal

        write_text_atomic(out / "temporal.json", json.dumps(temporal, indent=1))
        plot_temporal(temporal, out / "temporal.png",
                      f"{selection['method']} at p = {selection['ratio']:.3g}: drift from the "
                      f"dense model on clip {temporal['clip']}")
        report["temporal"] = {name: {"output_mae_first": row["output_mae"][0],
                                     "output_mae_last": row["output_mae"][-1]}
                              for name, row in temporal["rows"].items() if "output_mae" in row}
    write_text_atomic(out / "report.json", json.dumps(report, indent=2))
    plot_ratios(selection, out / "ratios.png")
    write_text_atomic(out / "report.md", report_markdown(report))
    return report


def report_markdown(r: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    h, w = r["lr_size"]
    lines = [f"# {r['method']} at p = {r['ratio']}", "",
             f"Dense: `{r['dense']}`; compact: `{r['compact']}`. MACs per output frame and "
             f"latency at LR {h}x{w} on {r['device']} (median, runs interleaved).", "",
             "| model | params | GMACs/frame | GMACs w/o flow net | ms/frame | PSNR | SSIM |",
             "|---|---|---|---|---|---|---|"]
    for name, row in r["rows"].items():
        params = f"{row['params'] / 1e6:.3f} M" if row.get("params") else "-"
        macs = f"{row['macs_per_frame'] / 1e9:.2f}" if row.get("macs_per_frame") else "-"
        excl = row.get("macs_per_frame_excl_flow")
        excl = f"{excl / 1e9:.2f}" if excl else "-"
        lat = f"{row['latency_ms_per_frame']:.1f}" if "latency_ms_per_frame" in row else "-"
        psnr = f"{row['psnr']:.2f}" if "psnr" in row else "-"
        ssim = f"{row['ssim']:.4f}" if "ssim" in row else "-"
        lines.append(f"| {name} | {params} | {macs} | {excl} | {lat} | {psnr} | {ssim} |")
    lines += ["", f"Params /{r['param_reduction']:.2f}, MACs /{r['mac_reduction']:.2f} "
              f"(/{r['mac_reduction_excl_flow']:.2f} without the flow network, which is never "
              f"pruned), latency /{r['speedup']:.2f}; {r['units_removed']} of {r['units']} "
              "units removed.", "", "Mean pruning ratio by group role: " + ", ".join(
                  f"{k} {v:.2f}" for k, v in r["mean_ratio_by_role"].items()) + ".", "",
              "![per-layer pruning ratios](ratios.png)", ""]
    if r.get("temporal"):
        drift = "; ".join(f"{name} {v['output_mae_first']:.2f} at the first frame, "
                          f"{v['output_mae_last']:.2f} at the last"
                          for name, v in r["temporal"].items())
        lines += ["Drift from the dense model per frame (mean absolute output difference in "
                  f"uint8 levels): {drift}; hidden states in temporal.json.", "",
                  "![temporal error propagation](temporal.png)", ""]
    return "\n".join(lines)

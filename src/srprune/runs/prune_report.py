"""The report of a pruning run: report.json, report.md and the per-layer ratio plot."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from srprune.io.atomic import atomic_path, write_text_atomic
from srprune.io.model_file import load_model
from srprune.models.bicubic import Bicubic, BicubicConfig
from srprune.profile import count_macs, count_params, flow_child, latency_side_by_side
from srprune.runs.propagation import plot_temporal

ROLE_COLOURS = {"rsc_in": "#4c72b0", "filter": "#55a868", "rsc_out": "#c44e52",
                "pixel_shuffle": "#8172b2", "stream": "#ccb974", "flow": "#64b5cd"}


def ratio_text(ratio: float) -> str:
    """A pruning ratio as titles print it: 4 significant digits (0.2699, not 0.269886...)."""
    return f"{float(ratio):.4g}"


def plot_ratios(selection: dict[str, Any], path: Path) -> None:
    """Bar chart of the pruning ratio of every group, in network order (the paper's Fig. 4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = selection["groups"]
    ratios = [len(r["removed"]) / r["units"] for r in rows]
    colours = [ROLE_COLOURS.get(r["role"], "#777777") for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.14 * len(rows) + 2), 5.2), dpi=120)
    ax.bar(range(len(rows)), ratios, color=colours, width=0.85)
    ax.set_ylim(0, 1.18)  # room for the legend above the bars
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xlabel("channel group (network order)")
    ax.set_ylabel("pruning ratio")
    ax.set_title(f"{selection['method']} at p = {ratio_text(selection['ratio'])}: per-layer "
                 "pruning ratios")
    ax.set_xticks(range(len(rows)))  # every group named, however many (the figure widens)
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
                 validate: Callable[[Any], dict[str, float]] | None, latency: bool = True,
                 latency_lr_size: tuple[int, int] | None = None,
                 temporal: dict[str, Any] | None = None,
                 fidelity: Callable[[Any], dict[str, float]] | None = None,
                 distill: dict[str, Any] | None = None,
                 drift: dict[str, Any] | None = None,
                 latency_target: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measure dense vs compact and write report.json, report.md and ratios.png into ``out``.

    Args:
        selection: the run's selection.json.
        compact_path: the compact model to report (finetuned if there is one).
        before_finetune: the compact model before finetuning, scored as its own row (None:
            no such row).
        lr_size, latency_frames, latency_repeats: where MACs and latency are measured.
        latency: time the models (False: the report says latency was not measured).
        latency_lr_size: LR size of the latency runs (None: ``lr_size``).
        validate: scores a model on the validation data (None: no quality rows).
        temporal: per-frame drift from the dense model (``runs/propagation.py``), written to
            temporal.json and plotted in temporal.png (None: not measured).
        fidelity: scores a model against the dense model's output on held-out LR clips
            (``eval/fidelity.py``; distillation), None: no such columns.
        distill: how the compact model was distilled (``data``, ``loss``, ``held_out`` clip
            names), recorded in the report (None: trained on HR).
        drift: the compact model's per-frame PSNR against the dense model over a long clip
            (``runs/drift.py``'s ``drift_record``; None: not measured).
        latency_target: a latency target's budget, prediction and measurements
            (``runs/prune_latency.report_latency``), None: no latency target.
    """
    dense = load_model(dense_path)
    compact = load_model(compact_path)
    sized: dict[str, dict[str, Any]] = {}
    for name, model in (("dense", dense), ("compact", compact)):
        params, _ = count_params(model)
        macs, parts = count_macs(model, lr_size)
        sized[name] = {"params": params, "macs_per_frame": macs,
                       "macs_per_frame_excl_flow": macs - parts.get(flow_child(model), 0.0)}
    timing = latency_setup(device, lr_size, latency_frames, latency_repeats, latency,
                           latency_lr_size)
    if latency:
        runs = latency_side_by_side({"dense": dense, "compact": compact},
                                    tuple(timing["lr_size"]), latency_frames, device,
                                    warmup=timing["warmup"], repeats=latency_repeats)
        for name, row in sized.items():
            row["latency_ms_per_frame"] = statistics.median(runs[name])
            row["latency_runs_ms"] = runs[name]
    rows = _quality_rows(sized, dense, compact, before_finetune, device, validate, fidelity)
    d, c = rows["dense"], rows["compact"]
    report = {
        "method": selection["method"], "ratio": selection["ratio"],
        "recipe": selection["recipe"], "dense": str(dense_path),
        "compact": str(compact_path), "lr_size": list(lr_size), "device": device,
        "latency": timing,
        "rows": rows,
        "param_reduction": d["params"] / c["params"],
        "mac_reduction": d["macs_per_frame"] / c["macs_per_frame"],
        "mac_reduction_excl_flow": d["macs_per_frame_excl_flow"] / c["macs_per_frame_excl_flow"],
        "speedup": (d["latency_ms_per_frame"] / c["latency_ms_per_frame"]) if latency else None,
        "mean_ratio_by_role": ratio_summary(selection),
        "units": selection["units"], "units_removed": selection["removed"],
    }
    optional = {"distill": distill, "drift": drift, "latency_target": latency_target}
    report.update({key: value for key, value in optional.items() if value is not None})
    if temporal is not None:
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


def _quality_rows(sized: dict[str, dict[str, Any]], dense: Any, compact: Any,
                  before_finetune: Path | None, device: str,
                  validate: Callable[[Any], dict[str, float]] | None,
                  fidelity: Callable[[Any], dict[str, float]] | None
                  ) -> dict[str, dict[str, Any]]:
    """The report's rows in reading order with PSNR/SSIM to HR (``validate``) and to the dense
    model's output (``fidelity``; not for the dense model itself); the pruned-before-finetune
    model has the compact one's size."""
    if validate is None and fidelity is None:
        return sized
    models = {"bicubic": Bicubic(BicubicConfig(scale=dense.config.scale)), "dense": dense}
    rows: dict[str, dict[str, Any]] = {"bicubic": {}, "dense": sized["dense"]}
    if before_finetune is not None:
        models["pruned (before finetune)"] = load_model(before_finetune)
        rows["pruned (before finetune)"] = dict(sized["compact"])
    models["compact"], rows["compact"] = compact, sized["compact"]
    for name, model in models.items():
        if validate is not None:
            rows[name].update(validate(model.to(device)))
        if fidelity is not None and name != "dense":
            rows[name].update(fidelity(model.to(device)))
    return rows


def latency_setup(device: str, lr_size: tuple[int, int], frames: int, repeats: int,
                  measured: bool, latency_lr_size: tuple[int, int] | None) -> dict[str, Any]:
    """What the report times (or that it times nothing): size, clip, runs, threads, device."""
    if not measured:
        return {"measured": False}
    size = latency_lr_size or lr_size
    return {"measured": True, "lr_size": list(size), "frames": frames, "repeats": repeats,
            "warmup": 1, "threads": torch.get_num_threads(), "device": device,
            "memory_format": "channels_last", "order": "dense and compact interleaved",
            "statistic": "median ms per output frame"}


def latency_sentence(t: dict[str, Any]) -> str:
    """One line saying what was timed."""
    if not t.get("measured", True):
        return "Latency not measured (`--no-latency` / `prune.latency: false`)."
    if "threads" not in t:  # a report written before this was recorded
        return f"Latency: {t.get('frames')} frames x {t.get('repeats')} runs."
    h, w = t["lr_size"]
    return (f"Latency: median of {t['repeats']} runs (after {t['warmup']} warm-up) of a "
            f"{t['frames']}-frame clip at LR {h}x{w} on {t['device']}, {t['threads']} "
            f"thread{'s' if t['threads'] != 1 else ''}, {t['memory_format']}, dense and "
            "compact interleaved; ms per output frame.")


def latency_target_sentence(t: dict[str, Any]) -> str:
    """One line: the latency budget beside the table's prediction and the measurements."""
    h, w = t["lr_size"]
    again = ("" if t["measured_ms"] == t["measured_at_selection_ms"] else
             f", {t['measured_at_selection_ms']:.4g} ms when it was selected")
    return (f"Latency target `{t['target']}`: budget {t['budget_ms']:.4g} ms per frame in "
            f"{t['runtime']} at LR {h}x{w} ({t['threads']} thread"
            f"{'s' if t['threads'] != 1 else ''}); the latency table predicted "
            f"{t['predicted_ms']:.4g} ms; measured **{t['measured_ms']:.4g} ms** "
            f"({100 * t['relative_error']:+.1f} % from the budget{again}; "
            f"{t['attempts']} selection(s) measured).")


def distill_sentence(d: dict[str, Any]) -> str:
    """One line saying how the compact model was distilled and where fidelity was measured."""
    held = ", ".join(d.get("held_out", [])) or "-"
    return (f"Distilled from the dense model on the LR frames of `{d['data']}` ({d['loss']} "
            f"loss, no HR); \"to dense\": PSNR/SSIM against the dense model's output on "
            f"held-out {held}.")


def report_markdown(r: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    h, w = r["lr_size"]
    timed = r.get("speedup") is not None
    to_hr = any("psnr" in row for row in r["rows"].values()) or not r.get("distill")
    to_dense = any("fidelity_psnr" in row for row in r["rows"].values())
    quality = (["PSNR", "SSIM"] if to_hr else []) + (
        ["PSNR to dense", "SSIM to dense"] if to_dense else [])
    lines = [f"# {r['method']} at p = {ratio_text(r['ratio'])}", "",
             f"Dense: `{r['dense']}`; compact: `{r['compact']}`. MACs per output frame at LR "
             f"{h}x{w}. " + latency_sentence(r.get("latency", {})), "",
             "| " + " | ".join(["model", "params", "GMACs/frame", "GMACs w/o flow net",
                                 *(["ms/frame"] if timed else []), *quality]) + " |",
             "|---|---|---|---|" + ("---|" if timed else "") + "---|" * len(quality)]
    if r.get("distill"):
        lines[2:2] = [distill_sentence(r["distill"]), ""]
    for name, row in r["rows"].items():
        params = f"{row['params'] / 1e6:.3f} M" if row.get("params") else "-"
        macs = f"{row['macs_per_frame'] / 1e9:.2f}" if row.get("macs_per_frame") else "-"
        excl = row.get("macs_per_frame_excl_flow")
        excl = f"{excl / 1e9:.2f}" if excl else "-"
        lat = f"{row['latency_ms_per_frame']:.1f}" if "latency_ms_per_frame" in row else "-"
        cells = []
        for key, shown in (("psnr", to_hr), ("fidelity_psnr", to_dense)):
            if shown:
                ssim_key = key.replace("psnr", "ssim")
                cells += [f"{row[key]:.2f}" if key in row else "-",
                          f"{row[ssim_key]:.4f}" if ssim_key in row else "-"]
        lat = f" {lat} |" if timed else ""
        lines.append(f"| {name} | {params} | {macs} | {excl} |{lat}"
                     + "".join(f" {c} |" for c in cells))
    speed = f", latency /{r['speedup']:.2f}" if timed else ""
    flow = ("pruned too" if "flow" in r["mean_ratio_by_role"] else "left whole")
    lines += ["", f"Params /{r['param_reduction']:.2f}, MACs /{r['mac_reduction']:.2f} "
              f"(/{r['mac_reduction_excl_flow']:.2f} without the flow network, {flow})"
              f"{speed}; {r['units_removed']} of {r['units']} "
              "units removed.", "", "Mean pruning ratio by group role: " + ", ".join(
                  f"{k} {v:.2f}" for k, v in r["mean_ratio_by_role"].items()) + ".", "",
              "![per-layer pruning ratios](ratios.png)", ""]
    if r.get("latency_target"):
        lines += [latency_target_sentence(r["latency_target"]), ""]
    if r.get("temporal"):
        drift = "; ".join(f"{name} {v['output_mae_first']:.2f} at the first frame, "
                          f"{v['output_mae_last']:.2f} at the last"
                          for name, v in r["temporal"].items())
        lines += ["Drift from the dense model per frame (mean absolute output difference in "
                  f"uint8 levels): {drift}; hidden states in temporal.json.", "",
                  "![temporal error propagation](temporal.png)", ""]
    if r.get("drift"):
        lines += [drift_sentence(r["drift"]), ""]
    return "\n".join(lines)


def drift_sentence(d: dict[str, Any]) -> str:
    """The long-clip drift as one paragraph: where, the two window means, the verdict."""
    h, w = d["lr_size"]
    return (f"Temporal drift ({d['compared']}; clip {d['clip']} played forward and backward to "
            f"{d['frames']} frames at LR {h}x{w}, PSNR per frame in report.json"
            + (f"; measured in {d['seconds']:.1f} s" if "seconds" in d else "")
            + f"): {d['summary']}.")

"""Does ``--target latency=...`` land within 10 % of the budget? Shipped BasicVSR-32-8, SSL.

    python bench/latency_target.py --lr-size 90x160 --threads 1 --runtimes torch openvino \
        --fractions 0.8 0.6 0.5 --repeats 5

For each runtime: the latency table of the dense model (``srprune.latency``; measured, or read
from the cache when this machine already has it), then for budgets at the given fractions of
the dense model's measured latency, the select stage of ``srprune prune --method ssl --target
latency=Bms@RUNTIME:HxW`` (``runs/prune_select.choose_units``: search on the table, build the
compact model, time it, correct). Only sizes matter for latency, so no training is run: the
compact models are cut from the dense weights. At the end the dense model and every compact
model are timed again, interleaved round after round (``--repeats`` rounds, median and
min-max), so machine noise hits all alike. Writes ``results/latency_target.{json,md}``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srprune.commands.common import parse_size
from srprune.export.graph_checks import probe_inputs
from srprune.export.onnx_writer import export_onnx
from srprune.export.runtime import ExportedModel
from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model
from srprune.latency.cache import cached_table, cpu_model
from srprune.profile import latency_side_by_side, time_interleaved
from srprune.pruning.config import PruneSettings
from srprune.pruning.methods import get_recipe
from srprune.pruning.surgery import remove_units
from srprune.runs.prune_latency import latency_job
from srprune.runs.prune_recipe import effective_recipe, prunable_groups
from srprune.runs.prune_select import choose_units

SHIPPED = Path(__file__).resolve().parents[1] / "src/srprune/assets/" \
    "demo_basicvsr-32-8_fp16.safetensors"


def interleaved(models: dict[str, torch.nn.Module], runtime: str, lr: tuple[int, int],
                frames: int, repeats: int) -> dict[str, list[float]]:
    """ms per frame of every model, run in turn round after round in ``runtime``."""
    if runtime == "torch":
        return latency_side_by_side(models, lr, frames, "cpu", warmup=1, repeats=repeats)
    with tempfile.TemporaryDirectory() as tmp:
        calls, per = {}, {}
        for name, model in models.items():
            path = Path(tmp) / f"{len(calls)}.onnx"
            info = export_onnx(copy.deepcopy(model).float(), path, lr, frames)
            exported = ExportedModel(path, runtime, torch.get_num_threads())
            rng = np.random.default_rng(0)
            inputs = [rng.random(z.shape, dtype=np.float32) for z in probe_inputs(info)]
            calls[name] = lambda e=exported, x=inputs: e.run(x)
            per[name] = info.frames if info.kind == "window" else 1
        return time_interleaved(calls, 1, repeats, per)


def one_runtime(runtime: str, args: argparse.Namespace) -> dict[str, Any]:
    """Table, selections at every budget, then the interleaved check."""
    h, w = args.lr_size
    dense = load_model(SHIPPED).float().eval()
    recipe = get_recipe("ssl")

    def settings(budget: float) -> PruneSettings:
        return PruneSettings(target=f"latency={budget:.4g}ms@{runtime}:{h}x{w}",
                             latency_frames=args.frames, latency_repeats=args.repeats_select)

    def say(line: str) -> None:
        print(f"  [{runtime}] {line}", flush=True)

    t0 = time.monotonic()
    probe = settings(1.0)  # the table of this runtime, size and thread count (or the cache's)
    job = latency_job(dense, prunable_groups(dense, effective_recipe(recipe, probe)), probe)
    table_data, table, _ = cached_table(dense, job.plan, job.timer, job.lr_size, job.frames,
                                        say)
    dense_ms = table_data.dense_ms
    rows, compacts = [], {}
    for fraction in args.fractions:
        s = settings(fraction * dense_ms)
        choice = choose_units(dense, effective_recipe(recipe, s), s, SHIPPED.name, say)
        t = choice.latency
        compacts[f"{fraction:g}"] = remove_units(copy.deepcopy(dense), choice.groups,
                                                 choice.removed)
        rows.append({"fraction": fraction, "budget_ms": t["budget_ms"], "ratio": choice.ratio,
                     "predicted_ms": t["predicted_ms"], "selected_ms": t["measured_ms"],
                     "attempts": len(t["attempts"])})
    runs = interleaved({"dense": dense, **compacts}, runtime, args.lr_size, args.frames,
                       args.repeats)
    dense_now = statistics.median(runs["dense"])
    dense_best = min(runs["dense"])
    for row in rows:
        r = runs[f"{row['fraction']:g}"]
        row.update(measured_ms=statistics.median(r), min_ms=min(r), max_ms=max(r),
                   error=(statistics.median(r) - row["budget_ms"]) / row["budget_ms"],
                   error_min=(min(r) - row["budget_ms"]) / row["budget_ms"])
        # the fastest run, against the budget moved by the dense model's own change (fastest
        # run now vs the table's) since the table was measured
        row["error_drift_corrected"] = min(r) / (row["budget_ms"] * dense_best / dense_ms) - 1
    return {"runtime": runtime, "table": str(table), "table_dense_ms": dense_ms,
            "dense_ms": dense_now, "dense_min_ms": dense_best,
            "dense_max_ms": max(runs["dense"]), "rows": rows,
            "seconds": time.monotonic() - t0}


def markdown(data: dict[str, Any]) -> str:
    h, w = data["lr_size"]
    lines = [f"# `--target latency=...` on the shipped BasicVSR-32-8 (SSL) at LR {h}x{w}", "",
             f"CPU {data['cpu']}, {data['threads']} thread(s), {data['frames']}-frame clips, "
             f"load average {data['load_start']:.1f} at the start and {data['load_end']:.1f} at "
             f"the end (a shared machine: ~6 agents on 2 cores). Budgets are fractions of the "
             f"dense model's latency in the table (the fastest of its runs, as every latency "
             f"target timing). *selected*: the select stage's own measurement of its choice "
             f"(after its corrections); *now*: {data['repeats']} rounds in which the dense and "
             f"every compact model run in turn, median and min-max. *error*: vs the budget, of "
             f"the median and of the fastest run; *drift-corrected*: the fastest run against "
             f"the budget scaled by the dense model's change (fastest runs) since its table was "
             f"measured, i.e. what is left when the machine's load is taken out.",
             "", f"Re-run: `{data['command']}`", ""]
    for r in data["runs"]:
        lines += [f"## {r['runtime']}", "",
                  f"Dense: {r['dense_ms']:.1f} ms per frame now, median ({r['dense_min_ms']:.1f}-"
                  f"{r['dense_max_ms']:.1f}), {r['table_dense_ms']:.1f} ms when the table was "
                  f"measured; {r['seconds']:.0f} s for this runtime.", "",
                  "| budget | p | table predicted | selected (measured) | selections measured "
                  "| now: median (min-max) | error (median) | error (fastest) "
                  "| drift-corrected |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for x in r["rows"]:
            lines.append(
                f"| {x['fraction']:g} x dense = {x['budget_ms']:.1f} ms | {x['ratio']:.3f} | "
                f"{x['predicted_ms']:.1f} | {x['selected_ms']:.1f} | {x['attempts']} | "
                f"{x['measured_ms']:.1f} ({x['min_ms']:.1f}-{x['max_ms']:.1f}) | "
                f"{100 * x['error']:+.1f} % | {100 * x['error_min']:+.1f} % | "
                f"{100 * x['error_drift_corrected']:+.1f} % |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lr-size", type=parse_size, default=(90, 160), metavar="HxW")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--runtimes", nargs="+", default=["torch", "openvino"])
    p.add_argument("--fractions", nargs="+", type=float, default=[0.8, 0.6, 0.5])
    p.add_argument("--repeats", type=int, default=5, help="rounds of the final check")
    p.add_argument("--repeats-select", type=int, default=3,
                   help="runs per timing of the table and the select stage")
    p.add_argument("--out", type=Path, default=Path("results") / "latency_target")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    h, w = args.lr_size
    data: dict[str, Any] = {
        "lr_size": [h, w], "threads": args.threads, "frames": args.frames,
        "repeats": args.repeats, "cpu": cpu_model(), "torch": torch.__version__,
        "load_start": os.getloadavg()[0], "runs": [],
        "command": f"python bench/latency_target.py --lr-size {h}x{w} --threads "
                   f"{args.threads} --runtimes {' '.join(args.runtimes)} --fractions "
                   f"{' '.join(f'{f:g}' for f in args.fractions)} --repeats {args.repeats}"}
    for runtime in args.runtimes:
        print(f"[bench] {runtime}", flush=True)
        data["runs"].append(one_runtime(runtime, args))
    data["load_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(data, indent=2) + "\n")
    write_text_atomic(args.out.with_suffix(".md"), markdown(data) + "\n")
    print(markdown(data))


if __name__ == "__main__":
    main()

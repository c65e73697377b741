"""FMP vs SSL vs ASSL vs L1 vs Scratch on one image-SR network at one shared params budget.

    python bench/fmp_vs_channel.py --dense runs/fmp_compare/dense/model.safetensors \\
        --fmp-run runs/fmp_demo/params_total --runs runs/fmp_compare \\
        --out results/fmp_demo/compare

The FMP run (its own config; searched from scratch) fixes the budget: the share of the dense
params it keeps (non-zero). Every channel-pruning method then runs ``srprune prune --target
params=N`` to that many params (the selection that meets it is searched before any training)
with ``configs/prune/edsr_demo.yaml`` (resumable) and all are tabulated:
non-zero params, MACs, latency, PSNR/SSIM and the training each got.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model
from srprune.profile import count_params, latency_side_by_side

METHODS = ("ssl", "assl", "l1", "scratch")


def side_by_side_latency(paths: dict[str, Path], lr_size: tuple[int, int]) -> dict[str, float]:
    """Median ms per image of every model, all timed in one interleaved run."""
    runs = latency_side_by_side({k: load_model(v) for k, v in paths.items()}, lr_size, 1,
                                "cpu", warmup=1, repeats=5)
    return {k: statistics.median(v) for k, v in runs.items()}


def row(method: str, report: dict, iters: str) -> dict:
    """One table row from a report.json (SSL-style or FMP-style)."""
    c = report["rows"]["compact"]
    return {"method": method, "model": report["compact"], "params": c["params"],
            "nonzero_params": c.get("nonzero_params", c["params"]),
            "macs": c.get("macs", c.get("macs_per_frame")),
            "nonzero_macs": c.get("nonzero_macs", c.get("macs_per_frame")),
            "latency_ms": c.get("latency_ms", c.get("latency_ms_per_frame")),
            "psnr": c.get("psnr"), "ssim": c.get("ssim"), "training": iters}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dense", type=Path, required=True, help="trained dense model")
    p.add_argument("--fmp-run", type=Path, required=True, action="append",
                   help="a finished FMP run folder (the first sets the budget; repeat to add "
                        "rows, e.g. a longer finetune)")
    p.add_argument("--runs", type=Path, required=True, help="folder for the channel runs")
    p.add_argument("--config", type=Path, default=Path("configs/prune/edsr_demo.yaml"))
    p.add_argument("--out", type=Path, required=True, help="output path without suffix")
    args = p.parse_args()
    dense_params = count_params(load_model(args.dense))[0]
    rows, share = [], None
    for run in args.fmp_run:
        fmp = json.loads((run / "report.json").read_text())
        share = share or fmp["rows"]["compact"]["nonzero_params"] / dense_params
        sel = json.loads((run / "selection.json").read_text())
        log = (run / "finetune" / "train_log.jsonl").read_text().splitlines()
        ft_iters = max(json.loads(line)["iter"] for line in log)
        rows.append(row("FMP", fmp, f"search {sel['search_iters_done']} + finetune {ft_iters}, "
                                    "from scratch"))
    for method in METHODS:
        out = args.runs / method
        if not (out / "report.json").is_file():
            cmd = [sys.executable, "-m", "srprune", "prune", "--method", method, "--target",
                   f"params={share * dense_params:.10g}", "--model", str(args.dense),
                   "--config", str(args.config), "--out", str(out), "--quiet"]
            print(" ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)
        report = json.loads((out / "report.json").read_text())
        iters = {"scratch": "2 x finetune, from scratch"}.get(
            method, "dense 1000 + regularise + finetune 1000" if method != "l1"
            else "dense 1000 + finetune 1000")
        rows.append(row(method.upper() if method != "scratch" else "Scratch", report, iters)
                    | {"ratio": report["ratio"]})
    first = json.loads((args.runs / METHODS[0] / "report.json").read_text())
    d = first["rows"]["dense"]
    lr_size = tuple(first["lr_size"])
    models = {"dense": args.dense} | {f"{i}": Path(r["model"]) for i, r in enumerate(rows)}
    ms = side_by_side_latency(models, lr_size)
    for i, r in enumerate(rows):
        r["latency_ms"] = ms[f"{i}"]
        r["speedup"] = ms["dense"] / ms[f"{i}"]
    lines = [f"# FMP vs channel pruning at one params budget ({100 * share:.1f} % of the dense "
             "params kept)", "",
             f"EDSR-4-32 x4 on the embedded photos; MACs and latency at LR "
             f"{lr_size[0]}x{lr_size[1]}, every model timed in one interleaved run on the CPU "
             "(median of 5); PSNR/SSIM on Y, border = scale, on the 4 held-out photos. Made by "
             "`bench/fmp_vs_channel.py`.", "",
             "| method | p | params (non-zero) | GMACs (non-zero) | ms | speedup | PSNR | SSIM | "
             "training (iterations) |", "|---|---|---|---|---|---|---|---|---|",
             f"| dense | - | {d['params'] / 1e3:.1f}K | {d['macs_per_frame'] / 1e9:.2f} | "
             f"{ms['dense']:.1f} | 1.00 | {d['psnr']:.2f} | {d['ssim']:.4f} | 1000 |"]
    for r in rows:
        lines.append(f"| {r['method']} | {r.get('ratio', '-')} | "
                     f"{r['params'] / 1e3:.1f}K ({r['nonzero_params'] / 1e3:.1f}K) | "
                     f"{r['macs'] / 1e9:.2f} ({r['nonzero_macs'] / 1e9:.2f}) | "
                     f"{r['latency_ms']:.1f} | {r['speedup']:.2f} | {r['psnr']:.2f} | "
                     f"{r['ssim']:.4f} | "
                     f"{r['training']} |")
    b = first["rows"].get("bicubic")
    if b:
        lines += ["", f"Bicubic: {b['psnr']:.2f} dB / {b['ssim']:.4f}."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(rows, indent=1))
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""FMP's convergence criteria x budget metrics (the FMP supplement's Table 3), at small scale.

    python bench/fmp_criteria.py --config configs/prune/fmp_edsr_demo.yaml \\
        --runs runs/fmp_demo --out results/fmp_demo/table3

Runs ``srprune prune --method fmp`` once per (metric, criterion) with the config's budgets
(resumable: finished runs are skipped), then writes OUT.json and OUT.md: total remaining, channel
and weight prune ratios in FLOPs and Params, the search length, and PSNR/SSIM after finetuning.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from srprune.io.atomic import write_text_atomic

METRICS = ("params", "flops")
CRITERIA = {"channel": "Channel", "weight": "Weight", "total_fixed": "Total Fixed",
            "total": "Total"}


def run_all(config: Path, runs: Path, extra: list[str]) -> dict[str, dict]:
    """Run (or skip) every cell; return each cell's report."""
    reports = {}
    for metric in METRICS:
        for criterion in CRITERIA:
            out = runs / f"{metric}_{criterion}"
            if not (out / "report.json").is_file():
                cmd = [sys.executable, "-m", "srprune", "prune", "--method", "fmp", "--config",
                       str(config), "--out", str(out), "--quiet",
                       "--set", f"fmp.metric={metric}", "--set", f"fmp.criterion={criterion}"]
                for item in extra:
                    cmd += ["--set", item]
                print(" ".join(cmd), flush=True)
                subprocess.run(cmd, check=True)
            reports[f"{metric}_{criterion}"] = json.loads((out / "report.json").read_text())
    return reports


def table(reports: dict[str, dict], config: Path) -> str:
    """The Markdown table (percentages of the dense network, as in the supplement)."""
    first = next(iter(reports.values()))
    s = first["settings"]
    lines = [f"# FMP convergence criteria (small-scale Table 3): {config}", "",
             f"gamma_C = {s['gamma_c']}, gamma_W = {s['gamma_w']}; ratios are percentages of the "
             "dense network (remaining = 100 - channel - weight); PSNR/SSIM on Y, border = "
             "scale, on the validation images after finetuning. Made by "
             "`bench/fmp_criteria.py`.", "",
             "| metric | criterion | remaining FLOPs | remaining Params | channel FLOPs | "
             "channel Params | weight FLOPs | weight Params | search iters | PSNR | SSIM |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in reports.items():
        metric, criterion = key.split("_", 1)
        a = r["achieved"]
        compact = r["rows"]["compact"]

        def pct(v: float) -> str:
            return f"{100 * v:.2f}"

        lines.append(
            f"| {'Params' if metric == 'params' else 'FLOPs'} | {CRITERIA[criterion]} | "
            f"{pct(1 - a['flops']['channel'] - a['flops']['weight'])} | "
            f"{pct(1 - a['params']['channel'] - a['params']['weight'])} | "
            f"{pct(a['flops']['channel'])} | {pct(a['params']['channel'])} | "
            f"{pct(a['flops']['weight'])} | {pct(a['params']['weight'])} | "
            f"{r['search_iters_done']}{' (completed)' if r['completed_by_force'] else ''} | "
            f"{compact.get('psnr', float('nan')):.2f} | {compact.get('ssim', float('nan')):.4f} |")
    bic = first["rows"].get("bicubic", {})
    if bic:
        lines += ["", f"Bicubic: {bic['psnr']:.2f} dB / {bic['ssim']:.4f}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, required=True, help="FMP pruning config")
    p.add_argument("--runs", type=Path, required=True, help="folder for the runs")
    p.add_argument("--out", type=Path, required=True, help="output path without suffix")
    p.add_argument("--set", dest="extra", action="append", default=[],
                   help="extra config override for every run, e.g. train.iters=500")
    args = p.parse_args()
    reports = run_all(args.config, args.runs, args.extra)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(reports, indent=1))
    write_text_atomic(args.out.with_suffix(".md"), table(reports, args.config))
    print(table(reports, args.config))


if __name__ == "__main__":
    main()

"""Side-by-side table of several ``srprune prune`` runs (their report.json files).

    python bench/prune_summary.py runs/demo_prune --out results/demo_prune

Writes OUT.json and OUT.md: per method params, MACs (with and without the flow network),
latency, PSNR/SSIM before and after finetuning, next to the dense model and bicubic.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from srprune.io.atomic import write_text_atomic


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, help="folder with one subfolder per method")
    p.add_argument("--out", type=Path, required=True, help="output path without suffix")
    args = p.parse_args()
    reports = {d.name: json.loads((d / "report.json").read_text())
               for d in sorted(args.runs.iterdir()) if (d / "report.json").is_file()}
    if not reports:
        raise SystemExit(f"no report.json under {args.runs}")
    first = next(iter(reports.values()))
    dense, bic = first["rows"]["dense"], first["rows"].get("bicubic", {})
    h, w = first["lr_size"]
    lines = [f"# Pruning runs in `{args.runs}`", "",
             f"MACs per frame and latency at LR {h}x{w} on {first['device']}; PSNR/SSIM on the "
             "validation clips. Made by `bench/prune_summary.py` from each run's report.json.",
             "", "| model | p | params | GMACs | GMACs w/o flow | ms/frame | PSNR before FT | "
             "PSNR / SSIM |", "|---|---|---|---|---|---|---|---|"]
    if bic:
        lines.append(f"| bicubic | - | - | - | - | - | - | {bic['psnr']:.2f} / "
                     f"{bic['ssim']:.4f} |")
    lines.append(f"| dense | 0 | {dense['params'] / 1e6:.3f} M | "
                 f"{dense['macs_per_frame'] / 1e9:.2f} | "
                 f"{dense.get('macs_per_frame_excl_flow', 0) / 1e9:.2f} | "
                 f"{dense['latency_ms_per_frame']:.0f} | - | "
                 f"{dense.get('psnr', float('nan')):.2f} / {dense.get('ssim', float('nan')):.4f} |")
    for name, r in reports.items():
        c = r["rows"]["compact"]
        before = r["rows"].get("pruned (before finetune)", {}).get("psnr")
        lines.append(
            f"| {name} | {r['ratio']} | {c['params'] / 1e6:.3f} M | "
            f"{c['macs_per_frame'] / 1e9:.2f} | "
            f"{c.get('macs_per_frame_excl_flow', 0) / 1e9:.2f} | "
            f"{c['latency_ms_per_frame']:.0f} | "
            f"{'-' if before is None else f'{before:.2f}'} | "
            f"{c.get('psnr', float('nan')):.2f} / {c.get('ssim', float('nan')):.4f} |")
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(reports, indent=2))
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Temporal error propagation with and without Temporal Finetuning, bidirectional and uni.

For each dense model: `srprune prune --method ssl` at p = 0.5 with the demo's pruning config,
once as SSL runs it (lambda_tf 0.01) and once with `prune.temporal_finetune=false`; each run's
report measures, per frame of the first held-out clip, the compact model's output and
hidden-state drift from the dense model (runs/propagation.py). Collects both into
results/temporal_tf.{json,md,png}.

    python bench/temporal_tf.py --config configs/prune/ssl_tiny.yaml \\
        --models src/srprune/assets/demo_basicvsr-32-8_fp16.safetensors \\
        src/srprune/assets/demo_basicvsr-uni-32-8_fp16.safetensors
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from srprune.cli import main as srprune
from srprune.io.atomic import atomic_path, write_text_atomic
from srprune.io.model_file import load_model

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--set", "prune.latency_repeats=1", "--set", "prune.report_lr_size=[64, 64]",
        "--set", "data.val.max_frames=20", "--set", "data.val.max_clips=1"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=Path, nargs="+", required=True)
    p.add_argument("--config", type=Path, default=ROOT / "configs/prune/demo_ssl.yaml")
    p.add_argument("--work", type=Path, default=ROOT / "runs/temporal_tf")
    p.add_argument("--out", type=Path, default=ROOT / "results/temporal_tf")
    p.add_argument("--device", default="cpu")
    p.add_argument("--tables-only", action="store_true",
                   help="rewrite the Markdown and the plot from the JSON of an earlier run")
    args = p.parse_args()
    results = []
    if args.tables_only:
        results = json.loads(args.out.with_suffix(".json").read_text())
    for dense in [] if args.tables_only else args.models:
        kind = "bidirectional" if load_model(dense).config.bidirectional else "uni"
        for tf in (True, False):
            folder = args.work / f"{kind}_{'tf' if tf else 'no_tf'}"
            cmd = ["prune", "--method", "ssl", "--ratio", "0.5", "--model", str(dense),
                   "--config", str(args.config), "--out", str(folder), "--device", args.device,
                   "--quiet", *FAST, "--set", f"prune.temporal_finetune={str(tf).lower()}"]
            if srprune(cmd) != 0:
                raise SystemExit(f"prune failed: {' '.join(cmd)}")
            temporal = json.loads((folder / "temporal.json").read_text())
            results.append({"model": kind, "tf": tf, "dense": str(dense), "folder": str(folder),
                            **temporal})
    if not args.tables_only:
        write_text_atomic(args.out.with_suffix(".json"), json.dumps(results, indent=1))
    config = args.config.resolve()
    shown = config.relative_to(ROOT) if config.is_relative_to(ROOT) else config
    lines = ["# Temporal error propagation with and without Temporal Finetuning", "",
             f"SSL at p = 0.5 on the dense models {', '.join(str(m) for m in args.models)} "
             f"with {shown}, first held-out clip ({results[0]['clip']}, "
             f"{results[0]['frames']} frames). Output drift: mean "
             "absolute difference from the dense model's output in uint8 levels; hidden: mean "
             "absolute difference of the hidden states; PSNR against GT. Made by "
             "`python bench/temporal_tf.py` (see its docstring; the command line was `"
             + " ".join(["python bench/temporal_tf.py", *_argv()]) + "`).", "",
             "| model | TF | output drift, frame 0 | output drift, last | output drift, mean | "
             "hidden drift, mean per state | PSNR mean (dense) |", "|---|---|---|---|---|---|---|"]
    for r in results:
        row = r["rows"]["compact"]
        hidden = ", ".join(f"{k} {statistics.fmean(v):.4f}" for k, v in row["hidden_mae"].items())
        lines.append(f"| {r['model']} | {'on' if r['tf'] else 'off'} | {row['output_mae'][0]:.2f} "
                     f"| {row['output_mae'][-1]:.2f} | {statistics.fmean(row['output_mae']):.2f} "
                     f"| {hidden} | {statistics.fmean(row['psnr']):.2f} "
                     f"({statistics.fmean(r['rows']['dense']['psnr']):.2f}) |")
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    _plot(results, args.out.with_suffix(".png"))
    print("\n".join(lines))


def _argv() -> list[str]:
    import sys

    return [a for a in sys.argv[1:] if a != "--tables-only"]


def _plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(r["model"] for r in results))
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 3.6), dpi=120,
                             squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        for r in (r for r in results if r["model"] == kind):
            row = r["rows"]["compact"]
            ax.plot(range(r["frames"]), row["output_mae"], marker="o", ms=3,
                    label=f"TF {'on' if r['tf'] else 'off'}")
        ax.set_title(f"BasicVSR ({kind}), SSL p = 0.5")
        ax.set_xlabel("frame index")
        ax.set_ylabel("output drift from dense (uint8 levels)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


if __name__ == "__main__":
    main()

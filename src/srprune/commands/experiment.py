"""Run the paper's comparison on one dense model: every method at every ratio, SSL's ablations
(Table 2) and pruning criteria (Table 4); write tables shaped like the paper's and a
PSNR-vs-MACs plot.

The experiment YAML names a pruning config (data, finetuning and `prune:` settings shared by all
runs), the dense model (`dense: FILE`, or `train_config: FILE.yaml` to train it first), and the
grid (`methods`, `ratios`, `seeds`, `extra` cells, `control`, `ablation_ratio`,
`criteria_ratios`). Each run has its own folder under OUT/runs; an interrupted experiment
resumes and finished runs are skipped. Every stage of every run is fingerprinted with the whole
effective config: after an edit to the experiment or its pruning YAML, exactly the affected
stages are redone (never silently reused). Cells with several seeds show mean ± std.
See configs/experiments/basicvsr32.yaml and docs/experiments.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="experiment YAML")
    p.add_argument("--out", help="output folder (overrides `out`)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (overrides `device`)")
    p.add_argument("--shard", metavar="I/N",
                   help="run only every N-th planned run from the I-th (1-based), no tables: "
                        "start N shards side by side (e.g. one per core), then run once "
                        "without --shard to write the tables (finished runs are skipped)")
    p.add_argument("--dry-run", action="store_true", help="list the planned runs and exit")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from srprune.errors import UserError
    from srprune.runs.experiment import load_experiment, plan, run_experiment

    shard = None
    if args.shard is not None:
        i, _, n = args.shard.partition("/")
        if not (i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n)):
            raise UserError(f"--shard wants I/N with 1 <= I <= N, got {args.shard!r}")
        shard = (int(i), int(n))
    cfg = load_experiment(args.config)
    if args.out:
        cfg = dataclasses.replace(cfg, out=args.out)
    if args.device:
        cfg = dataclasses.replace(cfg, device=args.device)
    if args.dry_run:
        for spec in plan(cfg):
            print(f"{spec.table:7} {spec.row:34} {spec.method:8} p={spec.ratio} "
                  f"seed={spec.seed} -> {Path(cfg.out) / 'runs' / spec.folder}")
        return 0
    summary = run_experiment(cfg, quiet=args.quiet, shard=shard)
    if shard is not None:
        print(f"shard {shard[0]}/{shard[1]}: {len(summary['runs'])} runs done; run again "
              "without --shard to write the tables")
        return 0
    print("wrote: " + ", ".join(summary.get("written", [])))
    return 0

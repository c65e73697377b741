"""Prune a trained model and finetune it: a plain, smaller, faster model comes out.

Stages (each resumable and runnable alone with --stages):
  select      score units (L1 norm; SSL: per-weight mean) and choose the fraction --ratio to
              remove, or the units that meet --target macs=4.0G|params=0.7M
  regularize  growing L2 on the chosen units' scaling factors (flow network frozen): SSL's gammas,
              or ASSL's weight-norm scales after aligning the residual streams' writers
  remove      fold the scales and physically remove the units (RSC gathers/scatters,
              whole pixel-shuffle groups)
  finetune    Charbonnier (+ Temporal Finetuning for SSL) on the config's data
  report      params, MACs, latency and PSNR/SSIM before/after; per-layer ratio plot

Reruns into the same --out: every stage records what produced it (OUT/run.json: method,
settings, ratio, the dense model's hash, data, seed, srprune version). A finished stage with the
same inputs is skipped; an interrupted training stage resumes; a stage whose inputs changed is
refused with one line naming what changed. --force redoes every requested stage (and with it
every later stage, whose inputs then change). `--stages select,remove` removes the selected units
straight from the dense weights (one-shot, no regularisation).

Methods: ssl (Structured Sparsity Learning), l1 (L1-norm filter pruning), assl (Aligned
Structured Sparsity Learning: weight norm, per-layer selection, an alignment term, then one
index set per residual stream, so the hidden state shrinks), assl-shared (the same streams with
one shared gamma per stream unit instead), scratch (the SSL-compact architecture from random
weights, twice the finetune iterations).

fmp (Flexible Meta Pruning, image models): its own stages search, finetune, report. It
searches from an untrained network (the config's model section, or --model's architecture),
prunes channels and single weights together to budgets in params or FLOPs set in an `fmp:`
section (metric, criterion, gamma_c, gamma_w, ...), and stores zeros sparsely. See docs/fmp.md.

The config is a training config (data, optim, loss, train = the finetuning run) with a
`prune:` section (ratio, target, scope, order, residual, pixel_shuffle, temporal_finetune,
score_norm, delta, t1, tau, t2, reg_iters, reg_lr, scale_lr, align_iters, align_weight,
lambda_tf, ...).
See docs/pruning.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srprune.commands.common import resolve_device
from srprune.errors import UserError
from srprune.runs.prune import STAGES


def add_arguments(p: argparse.ArgumentParser) -> None:
    from srprune.pruning.methods import METHODS

    p.add_argument("--method", required=True, choices=[*METHODS, "fmp"],
                   help="pruning method")
    p.add_argument("--model", type=Path,
                   help="trained dense model (.safetensors; import others with convert); "
                        "fmp: optional, its architecture replaces the config's model")
    p.add_argument("--config", required=True, type=Path, help="pruning YAML config")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--ratio", type=float, help="fraction of prunable units to remove "
                                               "(overrides prune.ratio)")
    p.add_argument("--target", metavar="SIZE",
                   help="prune to a size instead of a ratio: macs=4.0G (per frame at "
                        "prune.report_lr_size, without the flow network), macs+flow=4.0G, "
                        "params=0.7M or ratio=0.5 (overrides prune.target)")
    p.add_argument("--stages", default=None,
                   help=f"comma-separated stages to run (default: all: {','.join(STAGES)}; "
                        "fmp: search,finetune,report)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. train.iters=200 or prune.tau=0.05")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--force", action="store_true",
                   help="redo the requested stages even when their output exists or was made "
                        "with other settings (later stages then follow)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from srprune.pruning.methods import get_recipe
    from srprune.runs.prune import PrunePipeline, load_prune_config

    if args.method == "fmp":
        from srprune.commands.prune_fmp import run_fmp

        return run_fmp(args)
    if args.model is None:
        raise UserError(f"--method {args.method} needs --model (the trained dense model)")
    if not args.model.is_file():
        raise UserError(f"model file not found: {args.model}")
    overrides = [*args.overrides, *([("prune.target", args.target)] if args.target else [])]
    settings, cfg = load_prune_config(args.config, args.model, overrides, args.ratio)
    stages = [s.strip() for s in (args.stages or ",".join(STAGES)).split(",") if s.strip()]
    pipe = PrunePipeline(get_recipe(args.method), settings, cfg, args.model, args.out,
                         resolve_device(args.device), quiet=args.quiet)
    pipe.run(stages, force=args.force)
    return 0

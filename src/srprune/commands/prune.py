"""Prune a trained model and finetune it: a plain, smaller, faster model comes out.

Stages (each resumable and runnable alone with --stages):
  select      score units (L1 norm) and choose the fraction --ratio to remove
  regularize  SSL: growing L2 on the chosen units' scaling factors (SPyNet frozen)
  remove      fold the scales and physically remove the units (RSC gathers/scatters,
              whole pixel-shuffle groups)
  finetune    Charbonnier (+ Temporal Finetuning for SSL) on the config's data
  report      params, MACs, latency and PSNR/SSIM before/after; per-layer ratio plot

Methods: ssl (Structured Sparsity Learning), l1 (L1-norm filter pruning), assl (aligned
pruning: one index set per residual stream, so the hidden state shrinks), scratch (the
SSL-compact architecture from random weights, twice the finetune iterations).

The config is a training config (data, optim, loss, train = the finetuning run) with a
`prune:` section (ratio, scope, order, residual, pixel_shuffle, temporal_finetune, delta, t1,
tau, t2, reg_iters, reg_lr, lambda_tf, ...). See docs/pruning.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srprune.commands.common import resolve_device
from srprune.errors import UserError
from srprune.pruning.pipeline import STAGES


def add_arguments(p: argparse.ArgumentParser) -> None:
    from srprune.pruning.methods import METHODS

    p.add_argument("--method", required=True, choices=list(METHODS), help="pruning method")
    p.add_argument("--model", required=True, type=Path,
                   help="trained dense model (.safetensors; import others with convert)")
    p.add_argument("--config", required=True, type=Path, help="pruning YAML config")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--ratio", type=float, help="fraction of prunable units to remove "
                                               "(overrides prune.ratio)")
    p.add_argument("--stages", default=",".join(STAGES),
                   help=f"comma-separated stages to run (default: all: {','.join(STAGES)})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. train.iters=200 or prune.tau=0.05")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--force", action="store_true", help="redo stages whose output exists")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def load_prune_config(path: Path, dense: Path, overrides: list[str], ratio: float | None):
    """(PruneSettings, TrainConfig) from a pruning YAML plus overrides."""
    from srprune.pruning.config import settings_from_dict
    from srprune.train.config import apply_overrides, config_from_dict, read_yaml

    data = apply_overrides(read_yaml(path), overrides)
    prune = dict(data.pop("prune", None) or {})
    if ratio is not None:
        prune["ratio"] = ratio
    data["model"] = {"file": str(dense)}
    try:
        return settings_from_dict(prune), config_from_dict(data)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def run(args: argparse.Namespace) -> int:
    from srprune.pruning.methods import get_recipe
    from srprune.pruning.pipeline import PrunePipeline

    if not args.model.is_file():
        raise UserError(f"model file not found: {args.model}")
    settings, cfg = load_prune_config(args.config, args.model, args.overrides, args.ratio)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    pipe = PrunePipeline(get_recipe(args.method), settings, cfg, args.model, args.out,
                         resolve_device(args.device), quiet=args.quiet)
    pipe.run(stages, force=args.force)
    return 0

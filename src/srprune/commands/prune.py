"""Prune a trained model and finetune it: a plain, smaller, faster model comes out.

Stages (each resumable and runnable alone with --stages):
  select      score units (L1 norm; SSL: per-weight mean) and choose the fraction --ratio to
              remove, or the units that meet --target macs=4.0G|params=0.7M, or a latency
              budget --target latency=40ms@openvino:180x320 (a per-layer latency table of
              this machine, cached; the compact model is timed and the choice corrected)
  regularize  growing L2 on the chosen units' scaling factors (flow network frozen unless
              --prune-flow): SSL's gammas, or ASSL's weight-norm scales after aligning the
              residual streams' writers
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
lambda_tf, flow, flow_ratio, flow_distill, flow_lr_mult, ...).
See docs/pruning.md.

--distill --data DIR: no HR anywhere. DIR holds LR frames (images, folders of frames or video
files); the regularise and finetune stages train the student on random LR crops against the
frozen dense model's output on the same crops (`distill:` section: loss, feature_weight,
max_frames, val_clips, val_frames), and the report scores fidelity to the dense model on a
held-out part of DIR. --config is optional then (100 regularisation + 300 finetuning
iterations; --reg-iters / --finetune-iters change them, as on `srprune demo`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srprune.commands.common import float_arg, int_arg, resolve_device
from srprune.errors import UserError
from srprune.runs.prune import STAGES


def ratio_arg(text: str) -> float:
    """An argparse type: a ratio 0 <= P < 1."""
    value = float_arg(0.0, 1.0)(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is out of bounds (0 <= P < 1)")
    return value


def check_size_flags(ratio: float | None, target: str | None) -> None:
    """``--target`` is a valid size and does not come with ``--ratio`` (one line otherwise)."""
    from srprune.pruning.latency_target import parse_target

    if target is None:
        return
    if ratio is not None:
        raise UserError(f"--target {target} and --ratio {ratio:g} both set the size; give one")
    if not target.strip():
        raise UserError("--target is empty; give a size such as macs=4.0G, params=0.7M, "
                        "ratio=0.5 or latency=40ms@torch")
    try:
        parse_target(target)
    except ValueError as e:
        raise UserError(f"--target: {e}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    from srprune.pruning.methods import METHODS

    p.add_argument("--method", required=True, choices=[*METHODS, "fmp"],
                   help="pruning method")
    p.add_argument("--model", type=Path,
                   help="trained dense model (.safetensors; import others with convert); "
                        "fmp: optional, its architecture replaces the config's model")
    p.add_argument("--config", type=Path,
                   help="pruning YAML config (optional with --distill --data: defaults)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--ratio", type=ratio_arg, help="fraction of prunable units to remove, "
                                                   "0 <= P < 1 (overrides prune.ratio)")
    p.add_argument("--target", metavar="SIZE",
                   help="prune to a size instead of a ratio: macs=4.0G (per frame at "
                        "prune.report_lr_size, without the flow network), macs+flow=4.0G, "
                        "params=0.7M, ratio=0.5, or a latency budget per frame: "
                        "latency=40ms[@torch|@onnxruntime|@openvino][:HxW] (default torch at "
                        "prune.report_lr_size, --threads threads; searched on a per-layer "
                        "latency table measured once and cached in ~/.cache/srprune/latency or "
                        "$SRPRUNE_LATENCY_CACHE, then checked by timing the compact model) "
                        "(overrides prune.target; not with --ratio). A size outside what the "
                        "method can reach is refused with the range")
    p.add_argument("--stages", default=None,
                   help=f"comma-separated stages to run (default: all: {','.join(STAGES)}; "
                        "fmp: search,finetune,report)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. train.iters=200 or prune.tau=0.05")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--force", action="store_true",
                   help="redo the requested stages even when their output exists or was made "
                        "with other settings (later stages then follow)")
    p.add_argument("--no-latency", action="store_true",
                   help="skip the report's latency measurement (sets prune.latency=false; "
                        "the report says it was not measured)")
    p.add_argument("--prune-flow", action="store_true",
                   help="prune the optical-flow network too, at prune.flow_ratio (default: "
                        "the same ratio) and train it in the pruning stages with flow "
                        "distillation from the dense model (sets prune.flow; weight "
                        "prune.flow_distill); off: it stays whole, as in the SSL paper")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                   help="autocast precision of the regularize and finetune stages (sets "
                        "train.precision; fp16 needs CUDA); losses stay fp32")
    p.add_argument("--distill", action="store_true",
                   help="train against the dense model's output on LR frames only (no HR): "
                        "needs --data DIR or distill.data in the config")
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="LR frames for --distill: a folder of images, of frame folders or of "
                        "videos, or one video file (sets distill.data)")
    p.add_argument("--reg-iters", type=int_arg(1, 1_000_000), default=None,
                   help="regularisation iterations, with the demo's short growing-L2 schedule "
                        "(sets prune.reg_iters, delta, t1, tau, t2, scale_lr, align_iters)")
    p.add_argument("--finetune-iters", type=int_arg(1, 10_000_000), default=None,
                   help="finetuning iterations of the compact model (sets train.iters)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _check_flags(args: argparse.Namespace) -> None:
    """The flag combinations that cannot work, as one line each."""
    if args.method == "fmp":
        for flag in ("distill", "data", "reg_iters", "finetune_iters", "prune_flow"):
            if getattr(args, flag):
                raise UserError(f"--{flag.replace('_', '-')} is for the channel-pruning methods;"
                                " fmp takes its settings from the config's fmp section")
        if args.config is None:
            raise UserError("--method fmp needs --config (with an fmp section)")
        return
    if args.data is not None and not args.distill:
        raise UserError("--data gives the LR frames of --distill; add --distill (HR training "
                        "data comes from --config)")
    if args.config is None and args.data is None:
        raise UserError("--config is needed (or --distill --data DIR, which has defaults)")
    check_size_flags(args.ratio, args.target)
    if args.model is None:
        raise UserError(f"--method {args.method} needs --model (the trained dense model)")
    if not args.model.is_file():
        raise UserError(f"model file not found: {args.model}")


def _overrides(args: argparse.Namespace) -> list:
    """--set and the flags as config overrides: the iteration flags first (so --set refines
    them), then --set, then the flags that name one key."""
    from srprune.pruning.config import short_schedule

    overrides: list = []
    if args.reg_iters is not None:
        overrides += [(f"prune.{k}", v) for k, v in short_schedule(args.reg_iters).items()]
    if args.finetune_iters is not None:
        overrides.append(("train.iters", args.finetune_iters))
    overrides += list(args.overrides)
    if args.data is not None:
        overrides.append(("distill.data", str(args.data)))
    if args.target is not None:
        overrides.append(("prune.target", args.target))
    if args.ratio is not None:  # --ratio replaces a target the config sets, as it does its ratio
        overrides.append(("prune.target", None))
    if args.no_latency:
        overrides.append(("prune.latency", False))
    if args.prune_flow:
        overrides.append(("prune.flow", True))
    if args.precision:
        overrides.append(("train.precision", args.precision))
    return overrides


def run(args: argparse.Namespace) -> int:
    from srprune.pruning.methods import get_recipe
    from srprune.runs.distill import (
        check_distill_data,
        default_config,
        distill_stages,
        load_distill_settings,
    )
    from srprune.runs.prune import PRUNE_STAGES, PrunePipeline, load_prune_config

    _check_flags(args)
    if args.method == "fmp":
        from srprune.commands.prune_fmp import run_fmp

        return run_fmp(args)
    overrides = _overrides(args)
    source = args.config
    if source is None:
        from srprune.io.model_file import load_model

        source = default_config(load_model(args.model).is_video, args.data)
    settings, cfg = load_prune_config(source, args.model, overrides, args.ratio)
    distill = load_distill_settings(source, overrides)
    if args.distill and distill is None:
        raise UserError("--distill needs --data DIR (or distill.data in the config)")
    if distill is not None:  # read and check the frames before the run folder exists
        from srprune.io.model_file import load_model

        check_distill_data(distill, cfg, load_model(args.model))
    stages = [s.strip() for s in (args.stages or ",".join(STAGES)).split(",") if s.strip()]
    table = distill_stages(distill) if distill is not None else PRUNE_STAGES
    pipe = PrunePipeline(get_recipe(args.method), settings, cfg, args.model, args.out,
                         resolve_device(args.device), quiet=args.quiet, stages=table)
    pipe.run(stages, force=args.force)
    from srprune.train.distributed import shutdown

    shutdown(pipe.env)
    return 0

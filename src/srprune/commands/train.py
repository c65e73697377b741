"""Train a model from a YAML config.

The config has sections model, data, optim, loss, train and out (see configs/ and
``srprune.train.config``). Any key can be overridden with ``--set section.key=value`` (repeatable,
value parsed as YAML); ``--out``, ``--iters``, ``--device`` and ``--precision`` are shorthands
for ``out``, ``train.iters``, ``train.device`` and ``train.precision`` and win over ``--set``.
Unknown keys are errors.

Writes OUT/model.safetensors, OUT/checkpoints/last.pt (every train.ckpt_every iterations),
OUT/train_log.jsonl, OUT/config.json and TensorBoard events in OUT/tb. ``--resume`` continues
from OUT/checkpoints/last.pt and reproduces an uninterrupted run. For several processes:
``torchrun --nproc_per_node N -m srprune.cli train --config ...`` (data.batch_size is the global
batch).
"""

from __future__ import annotations

import argparse

from srprune.commands.common import int_arg
from srprune.train.config import MAX_ITERS, load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE.yaml", help="training config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set optim.lr=1e-4 (repeatable)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoints/last.pt")
    p.add_argument("--out", help="output folder (overrides `out`)")
    p.add_argument("--iters", type=int_arg(1, MAX_ITERS),
                   help=f"training iterations, 1 to {MAX_ITERS:.0e} (overrides train.iters)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (overrides train.device)")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"],
                   help="forward-pass autocast (overrides train.precision; fp16 needs CUDA); "
                        "losses stay fp32")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")
    p.add_argument("--print-config", action="store_true",
                   help="print the validated config as JSON and exit")


def flag_overrides(args: argparse.Namespace) -> list[tuple[str, object]]:
    """``--out/--iters/--device`` as (key, value) overrides (applied after ``--set``)."""
    flags = (("out", args.out), ("train.iters", args.iters), ("train.device", args.device),
             ("train.precision", getattr(args, "precision", None)))
    return [(key, value) for key, value in flags if value is not None]


def run(args: argparse.Namespace) -> int:
    import json

    cfg = load_config(args.config, [*args.set, *flag_overrides(args)])
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    from srprune.train.run import run_training

    result = run_training(cfg, resume=args.resume, quiet=args.quiet)
    if result.model_path is not None and not args.quiet:
        val = result.last_val
        score = f" (val PSNR {val['psnr']:.2f} dB, SSIM {val['ssim']:.4f})" if val else ""
        print(f"wrote {result.model_path} after {result.iters_done} iterations{score}")
    return 0

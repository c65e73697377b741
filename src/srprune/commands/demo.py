"""Prune a trained BasicVSR on the embedded clips and report that it is smaller and faster.

Starts from the dense BasicVSR-32-8 that ships with srprune (or, with --train, trains one on the
embedded clips first), prunes it with SSL at p = 0.5 (--method, --ratio), finetunes briefly,
and writes OUT/report.md: params, MACs, latency and PSNR/SSIM of bicubic, dense and compact on
held-out clips, an MP4 upscaled by the compact model and side-by-side crops. A few minutes on
2 CPU cores. Nothing is downloaded: the clips are rendered from the photos inside
scikit-image. Running the demo again reuses or resumes what is in --out (and redoes what a
changed option affects).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srprune.commands.common import int_arg, resolve_device


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    from srprune.pruning.methods import METHODS

    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    p.add_argument("--method", choices=list(METHODS), default="ssl",
                   help="pruning method (default ssl)")
    p.add_argument("--ratio", type=_ratio, default=0.5,
                   help="fraction of prunable units removed (default 0.5)")
    p.add_argument("--unidirectional", action="store_true",
                   help="the causal variant (forward propagation only, streamable)")
    p.add_argument("--reg-iters", type=int_arg(1, 1_000_000), default=40,
                   help="regularisation iterations (default 40)")
    p.add_argument("--finetune-iters", type=int_arg(1, 10_000_000), default=150,
                   help="finetuning iterations of the compact model (default 150)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--seed", type=int_arg(0, 2**32 - 1), default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    t = p.add_argument_group("training the dense model first (--train)")
    t.add_argument("--train", action="store_true",
                   help="train the dense model on the embedded clips instead of starting "
                        "from the shipped one (how the shipped one was made)")
    t.add_argument("--feat", type=int_arg(1, 256), default=32,
                   help="channels of the dense model (default 32)")
    t.add_argument("--blocks", type=int_arg(0, 64), default=8,
                   help="residual blocks per recurrent branch (default 8)")
    t.add_argument("--flow-feat", type=int_arg(2, 32), default=8,
                   help="the flow network's first hidden width (official 32; kept at zero flow; "
                        "default 8)")
    t.add_argument("--iters", type=int_arg(1, 10_000_000), default=800,
                   help="training iterations (default 800)")


def run(args: argparse.Namespace) -> int:
    from srprune.demo import DemoOptions, demo_markdown, run_demo
    from srprune.errors import UserError

    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file, not a folder")
    opt = DemoOptions(out=args.out, device=resolve_device(args.device), seed=args.seed,
                      quiet=args.quiet, causal=args.unidirectional,
                      method=args.method, ratio=args.ratio, finetune_iters=args.finetune_iters,
                      reg_iters=args.reg_iters, train=args.train, num_feat=args.feat,
                      num_block=args.blocks, flow_feat=args.flow_feat, iters=args.iters)
    report = run_demo(opt)
    print(demo_markdown(report))
    print(f"report: {args.out / 'report.md'} ({report['seconds']:.0f} s in all)")
    return 0

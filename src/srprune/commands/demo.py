"""Train a small BasicVSR on the embedded clips for a few minutes, compare it with bicubic on
held-out clips, upscale one clip to an MP4, and write a report (table + side-by-side crops).

Nothing is downloaded: the clips are rendered from the photos inside scikit-image. Running the
demo again resumes or reuses what is already in --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srprune.commands.common import int_arg, resolve_device


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    p.add_argument("--feat", type=int_arg(1, 256), default=16,
                   help="BasicVSR channels (default 16)")
    p.add_argument("--blocks", type=int_arg(0, 64), default=3,
                   help="residual blocks per trunk (default 3)")
    p.add_argument("--flow-feat", type=int_arg(2, 256), default=32,
                   help="SPyNet's first hidden width (official 32; kept at zero flow)")
    p.add_argument("--iters", type=int_arg(1, 10_000_000), default=600,
                   help="training iterations (default 600)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--seed", type=int_arg(0, 2**32 - 1), default=0)
    p.add_argument("--unidirectional", action="store_true",
                   help="BasicVSR-uni (forward propagation only, streamable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from srprune.demo import DemoOptions, demo_markdown, run_demo
    from srprune.errors import UserError

    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file, not a folder")
    opt = DemoOptions(num_feat=args.feat, num_block=args.blocks, iters=args.iters, out=args.out,
                      device=resolve_device(args.device), seed=args.seed,
                      quiet=args.quiet, bidirectional=not args.unidirectional,
                      flow_feat=args.flow_feat)
    report = run_demo(opt)
    print(demo_markdown(report))
    print(f"report: {args.out / 'report.md'} ({report['seconds']:.0f} s in all)")
    return 0

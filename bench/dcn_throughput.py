"""What BasicVSR++'s deformable alignment costs on this machine, against plain convolutions.

    python bench/dcn_throughput.py --lr-size 90x160 --threads 2 --repeats 5

At the official width (C = 64, 2C = 128 input channels, 16 deformable groups), one alignment
step of one branch is timed op by op, interleaved, NCHW, inference mode: the offset-conv stack
(``conv_offset``, four plain 3x3 convs), the deformable convolution of
:mod:`srprune.models.deform` (``grid_sample`` sampling + one matmul) with the dense group layout
and with a pruned input (every channel samples at its own group's grid), its two halves
(sampling alone, matmul alone), and a plain ``Conv2d`` of the deformable conv's shape as the
yardstick (same MACs). Writes ``results/dcn_throughput.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path

import torch

from srprune.commands.common import parse_size
from srprune.io.atomic import write_text_atomic
from srprune.models.deform import modulated_deform_conv2d, sample_taps
from srprune.models.deform_align import SecondOrderDeformableAlignment
from srprune.profile import time_interleaved


def alignment_ops(c: int, groups: int, hw: tuple[int, int]) -> dict[str, tuple[object, float]]:
    """``{op: (call, MACs)}`` of one alignment step at width ``c``."""
    h, w = hw
    g = torch.Generator().manual_seed(0)
    align = SecondOrderDeformableAlignment(2 * c, c, groups).eval()
    x = torch.rand(1, 2 * c, h, w, generator=g)
    cond = torch.rand(1, 3 * c + 4, h, w, generator=g)
    flow1, flow2 = (torch.randn(1, 2, h, w, generator=g) for _ in range(2))
    with torch.no_grad():
        offset, mask = align.offsets(cond[:, :3 * c], flow1, flow2)
    keep = torch.arange(0, 2 * c, 2)  # half the input channels, every group keeps some
    group_of = keep // (2 * c // groups)
    plain = torch.nn.Conv2d(2 * c, c, 3, 1, 1).eval()
    wgt, bias = align.weight, align.bias
    dcn_macs = 9.0 * 2 * c * c * h * w
    offset_macs = 9.0 * h * w * sum(m.in_channels * m.out_channels for m in align.conv_offset
                                    if isinstance(m, torch.nn.Conv2d))
    cols = sample_taps(x, offset, mask, (3, 3))
    return {
        "conv_offset (4 convs)": (lambda: align.conv_offset(cond), offset_macs),
        "plain conv3x3 2C->C": (lambda: plain(x), dcn_macs),
        "deformable conv 2C->C": (
            lambda: modulated_deform_conv2d(x, offset, mask, wgt, bias), dcn_macs),
        "  sampling only": (lambda: sample_taps(x, offset, mask, (3, 3)), 0.0),
        "  matmul only": (lambda: torch.matmul(wgt.reshape(c, -1), cols.reshape(
            1, -1, h * w)), dcn_macs),
        "deformable conv, pruned input (C of 2C)": (
            lambda: modulated_deform_conv2d(x[:, keep], offset, mask, wgt[:, keep], bias,
                                            channel_group=group_of), dcn_macs / 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lr-size", type=parse_size, default=(90, 160), metavar="HxW")
    parser.add_argument("--num-feat", type=int, default=64)
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("results") / "dcn_throughput")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ops = alignment_ops(args.num_feat, args.groups, args.lr_size)
    runs = time_interleaved({k: v[0] for k, v in ops.items()}, warmup=1, repeats=args.repeats)
    rows = []
    for name, (_, macs) in ops.items():
        ms = statistics.median(runs[name])
        rows.append({"op": name, "ms": ms, "gmacs": macs / 1e9,
                     "gmac_per_s": macs / 1e9 / (ms / 1000) if macs else None})
    h, w = args.lr_size
    load = os.getloadavg()[0]
    data = {"lr_size": [h, w], "load_average": load, "num_feat": args.num_feat,
            "groups": args.groups,
            "threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(), "rows": rows}
    lines = [f"# One BasicVSR++ alignment step at LR {h}x{w}, C = {args.num_feat}, "
             f"{args.groups} deformable groups",
             "", f"CPU, {args.threads} threads (load average {load:.1f} when it ended), torch "
             f"{torch.__version__}, median of {args.repeats}. Re-run: "
             f"`python bench/dcn_throughput.py --lr-size {h}x{w} "
             f"--threads {args.threads} --repeats {args.repeats}`.", "",
             "| op | ms | GMACs | GMAC/s |", "|---|---:|---:|---:|"]
    for r in rows:
        rate = f"{r['gmac_per_s']:.1f}" if r["gmac_per_s"] else "-"
        lines.append(f"| {r['op']} | {r['ms']:.1f} | {r['gmacs']:.2f} | {rate} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(data, indent=2) + "\n")
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Where an RSC block's time goes on the CPU: each op of a dense and a pruned residual block.

    python bench/rsc_block_costs.py --lr-size 90x160 --threads 1 --repeats 30

A dense BasicVSR block (C -> C -> C, plus the identity) against RSC blocks that read ``k_in``
stream channels (gather), keep ``k_mid`` filters and scatter-add ``k_out`` channels into the
C-wide stream, at C = 64 and half widths (even and odd). Every op is timed alone, all
interleaved, channels_last, inference mode; conv throughput in GMAC/s. The ratio of a block's
time to its MACs bounds how close a pruned network can come to its MAC reduction on this
machine. Writes ``results/rsc_block_costs.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from collections.abc import Callable
from pathlib import Path

import torch

from srprune.commands.common import parse_size
from srprune.io.atomic import write_text_atomic
from srprune.models.blocks import gather_channels, scatter_add_channels
from srprune.profile import time_interleaved


def _cl(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def block_ops(c: int, k_in: int, k_mid: int, k_out: int, hw: tuple[int, int]
              ) -> dict[str, tuple[Callable[[], object], float]]:
    """``{op: (call, MACs)}`` of one block; a dense block when all widths equal ``c``."""
    h, w = hw
    conv1 = torch.nn.Conv2d(k_in, k_mid, 3, 1, 1).eval().to(memory_format=torch.channels_last)
    conv2 = torch.nn.Conv2d(k_mid, k_out, 3, 1, 1).eval().to(memory_format=torch.channels_last)
    x = _cl(torch.rand(1, c, h, w))
    h_in = _cl(torch.rand(1, k_in, h, w))
    mid = _cl(torch.rand(1, k_mid, h, w))
    r = _cl(torch.rand(1, k_out, h, w))
    ops: dict[str, tuple[Callable[[], object], float]] = {}
    dense = (k_in, k_mid, k_out) == (c, c, c)
    if not dense:
        idx_in = torch.randperm(c)[:k_in].sort().values
        ops["gather"] = (lambda: gather_channels(x, idx_in), 0.0)
    ops["conv1"] = (lambda: conv1(h_in), 9.0 * k_in * k_mid * h * w)
    ops["relu"] = (lambda: torch.relu_(mid), 0.0)
    ops["conv2"] = (lambda: conv2(mid), 9.0 * k_mid * k_out * h * w)
    if dense:
        ops["add (in place)"] = (lambda: r.add_(x), 0.0)
    else:
        idx_out = torch.randperm(c)[:k_out].sort().values
        ops["scatter-add (copy of stream)"] = (lambda: scatter_add_channels(x, idx_out, r), 0.0)
        ops["scatter-add (in place)"] = (
            lambda: scatter_add_channels(x, idx_out, r, inplace=True), 0.0)
    return ops


def run(args: argparse.Namespace) -> dict:
    c = args.channels
    half, odd = c // 2, c // 2 - 5
    shapes = {"dense": (c, c, c), f"RSC {half}/{half}/{half}": (half, half, half),
              f"RSC {odd}/{odd + 2}/{odd}": (odd, odd + 2, odd)}
    ops = {f"{name}: {op}": fn for name, widths in shapes.items()
           for op, fn in block_ops(c, *widths, args.lr_size).items()}
    runs = time_interleaved({k: call for k, (call, _) in ops.items()}, args.warmup,
                            args.repeats)
    med = {k: statistics.median(v) for k, v in runs.items()}
    blocks = {}
    for name in shapes:
        keys = [k for k in ops if k.startswith(f"{name}:")
                and not k.endswith("scatter-add (copy of stream)")]
        macs = sum(ops[k][1] for k in keys)
        blocks[name] = {"ms": sum(med[k] for k in keys), "gmacs": macs / 1e9}
    d = blocks["dense"]
    for b in blocks.values():
        b["speedup"] = d["ms"] / b["ms"]
        b["mac_reduction"] = d["gmacs"] / b["gmacs"]
        b["speedup_over_mac_reduction"] = b["speedup"] / b["mac_reduction"]
    return {"device": f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)",
            "torch": torch.__version__, "lr_size": list(args.lr_size), "channels": c,
            "repeats": args.repeats, "ms": med,
            "gmac_per_s": {k: ops[k][1] / 1e9 / (med[k] / 1000) for k in ops if ops[k][1]},
            "blocks": blocks}


def markdown(r: dict) -> str:
    h, w = r["lr_size"]
    lines = ["# Where an RSC block's time goes (CPU)", "",
             f"`python bench/rsc_block_costs.py --lr-size {h}x{w} --threads "
             f"{r['device'].split(', ')[1].split()[0]} --repeats {r['repeats']}`: "
             f"{r['device']}, torch {r['torch']}, one {h}x{w} frame, channels_last, stream "
             f"width {r['channels']}; median ms per op, every op timed alone, all interleaved.",
             "", "| op | ms | GMAC/s |", "|---|---|---|"]
    for k, ms in r["ms"].items():
        rate = r["gmac_per_s"].get(k)
        lines.append(f"| {k} | {ms:.2f} | {'' if rate is None else f'{rate:.1f}'} |")
    lines += ["", "Whole blocks (sum of their ops; RSC with the in-place scatter-add, as at "
              "inference since `INPLACE_SCATTER`):", "",
              "| block | ms | GMACs | speedup | MAC reduction | speedup / MAC reduction |",
              "|---|---|---|---|---|---|"]
    for name, b in r["blocks"].items():
        lines.append(f"| {name} | {b['ms']:.2f} | {b['gmacs']:.3f} | {b['speedup']:.2f}x | "
                     f"{b['mac_reduction']:.2f}x | {b['speedup_over_mac_reduction']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lr-size", type=parse_size, default=(90, 160))
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--out", type=Path, default=Path("results/rsc_block_costs"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    r = run(args)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(r, indent=1))
    write_text_atomic(args.out.with_suffix(".md"), markdown(r))
    print(markdown(r))


if __name__ == "__main__":
    main()

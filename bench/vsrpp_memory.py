"""Peak memory of one BasicVSR++ forward pass on the CPU against its inference-memory formula.

    python bench/vsrpp_memory.py --case 64x8x64x80 --case 64x4x128x160 --case 16x8x128x160

Each case (C x T x h x w, 2 blocks per branch) runs in a fresh process: peak RSS growth of one
``no_grad`` forward pass after a small warm-up pass, in float32 values per LR pixel, next to
``T x per_frame + fixed`` from the model's ``@register_arch(memory=...)``. Prints a table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch


def measure(c: int, t: int, h: int, w: int) -> dict[str, float]:
    """One case, in this process."""
    from srprune.models.basicvsrpp import BasicVSRPlusPlus, BasicVSRPPConfig
    from srprune.models.spec import spec_for

    torch.set_num_threads(1)
    cfg = BasicVSRPPConfig(num_feat=c, num_block=2)
    model = BasicVSRPlusPlus(cfg).eval()
    x = torch.rand(1, t, 3, h, w)
    with torch.no_grad():
        model(x[:, :2, :, :8, :8])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        model(x)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    per_frame, fixed = spec_for(cfg).memory.inference(cfg)
    return {"measured": (peak - before) / 4 / (h * w), "formula": t * per_frame + fixed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", default=None, metavar="CxTxHxW")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*map(int, args.one.split("x")))))
        return
    print("| C | T | LR | measured floats / px | formula | share |\n|---|---|---|---:|---:|---:|")
    for case in args.case or ["64x8x64x80", "64x4x128x160", "16x8x128x160"]:
        out = subprocess.run([sys.executable, __file__, "--one", case], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out)
        c, t, h, w = case.split("x")
        print(f"| {c} | {t} | {h}x{w} | {r['measured']:,.0f} | {r['formula']:,.0f} | "
              f"{r['measured'] / r['formula']:.0%} |")


if __name__ == "__main__":
    main()

"""What the prune report's temporal-drift check costs on the demo: seconds of
``runs/drift.model_drift`` (dense and compact over the embedded long clip, PSNR per frame).

The dense model is the shipped BasicVSR-32-8 (the demo's), the compact one its L1 selection at
p = 0.5 removed (``srprune.Pruner``, no training: the cost does not depend on the weights), the
clip the demo's first held-out clip (12 frames of 32x32 LR) played ping-pong to 100 frames, as
the demo's report measures it. Prints the median of ``--repeats`` runs.

    OMP_NUM_THREADS=1 python bench/drift_cost.py --threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from importlib import resources
from pathlib import Path

import torch

import srprune
from srprune.io.model_file import load_model
from srprune.models.demo_model import SHIPPED
from srprune.runs.drift import embedded_long_clip, model_drift


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dense = load_model(Path(str(resources.files("srprune") / "assets" / SHIPPED[False])))
    compact = load_model(Path(str(resources.files("srprune") / "assets" / SHIPPED[False])))
    pruner = srprune.Pruner(compact, torch.rand(1, 2, 3, 32, 32), method="l1", ratio=0.5)
    compact = pruner.finalize()
    name, frames = embedded_long_clip(4, args.frames)
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        report = model_drift(dense, compact, frames)
        runs.append(time.perf_counter() - start)
    params = [sum(p.numel() for p in m.parameters()) for m in (dense, compact)]
    print(f"clip {name}, {len(frames)} frames of {frames[0].shape[0]}x{frames[0].shape[1]} LR; "
          f"dense {params[0]:,} params, compact {params[1]:,}; {args.threads} thread(s)")
    print(f"model_drift: median {statistics.median(runs):.2f} s over {args.repeats} runs "
          f"({', '.join(f'{r:.2f}' for r in runs)}); {report.summary()}")


if __name__ == "__main__":
    main()

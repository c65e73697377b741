"""Peak memory of ``srprune upscale`` on a short and a long clip: it must not grow with length.

Renders a clip of each length at one LR size (a random texture panning over the frame, encoded
with H.264), upscales each in a fresh process and reports that process's peak resident set size
next to the bound ``upscale`` planned (docs/limits.md). Writes
``results/upscale_memory.{json,md}``.

    python bench/upscale_memory.py --lr-size 528x720 --frames 30,270
    python bench/upscale_memory.py --lr-size 528x720 --frames 30,270 --max-memory 4G
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from srprune.commands.common import parse_size
from srprune.data.video import VideoWriter
from srprune.io.atomic import write_text_atomic

DEFAULT_MODEL = "results/models/demo_basicvsr_dense_fp16.safetensors"
_BASELINE = ("import resource; from srprune.cli import build_parser; build_parser(); "
             "import av, PIL.Image; from srprune.io.model_file import load_model; "
             "load_model({model!r}); print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF)"
             ".ru_maxrss)")
_PEAK = ("import resource, sys; from srprune.cli import main; code = main(sys.argv[1:]); "
         "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)")


def render_clip(path: Path, frames: int, size: tuple[int, int], seed: int = 0) -> None:
    """A random texture panning 3 pixels per frame (something for the flow network to track)."""
    h, w = size
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (h // 8 + 2, (w + 3 * frames) // 8 + 2, 3), dtype=np.uint8)
    texture = np.kron(texture, np.ones((8, 8, 1), dtype=np.uint8))
    with VideoWriter(path, 25, w, h) as writer:
        for t in range(frames):
            writer.write(np.ascontiguousarray(texture[:h, 3 * t:3 * t + w]))


def measure(model: str, clip: Path, out: Path, extra: list[str]) -> dict:
    """Upscale ``clip`` in a fresh process; its peak RSS, wall time and the planned bound."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK, "upscale", "--model", model, "--input",
                           str(clip), "--output", str(out), "--device", "cpu", *extra],
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"upscale failed: {proc.stderr.strip()}")
    peak = int(re.search(r"PEAK_KB (\d+)", proc.stdout)[1]) * 1024
    line = next(x for x in proc.stdout.splitlines() if x.startswith("wrote"))
    return {"peak_bytes": peak, "seconds": round(seconds, 1), "upscale_says": line}


def baseline(model: str) -> int:
    """Peak RSS of a process that imports everything upscale needs and loads the model."""
    proc = subprocess.run([sys.executable, "-c", _BASELINE.format(model=model)],
                          capture_output=True, text=True, check=True)
    return int(re.search(r"PEAK_KB (\d+)", proc.stdout)[1]) * 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--lr-size", type=parse_size, default=(528, 720))
    p.add_argument("--frames", default="30,270", help="comma-separated clip lengths")
    p.add_argument("--max-memory", default=None, help="passed to upscale")
    p.add_argument("--chunk", default=None, help="passed to upscale")
    p.add_argument("--overlap", default=None, help="passed to upscale")
    p.add_argument("--out", type=Path, default=Path("results/upscale_memory"))
    args = p.parse_args()
    extra = [x for flag in ("max_memory", "chunk", "overlap") if getattr(args, flag)
             for x in (f"--{flag.replace('_', '-')}", getattr(args, flag))]
    rows = []
    base = baseline(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.frames.split(",")):
            clip = Path(tmp) / f"clip{n}.mp4"
            render_clip(clip, n, args.lr_size)
            row = {"frames": n, **measure(args.model, clip, Path(tmp) / f"sr{n}.mp4", extra)}
            row["peak_minus_start_bytes"] = row["peak_bytes"] - base
            rows.append(row)
            print(json.dumps(row), flush=True)
    h, w = args.lr_size
    report = {"model": args.model, "lr_size": [h, w], "max_memory": args.max_memory,
              "start_bytes": base,
              "machine": platform.platform(), "rows": rows}
    lines = [f"# upscale peak memory vs clip length ({Path(args.model).name}, LR {h}x{w})", "",
             "`python bench/upscale_memory.py --lr-size "
             f"{h}x{w} --frames {args.frames}"
             + "".join(f" {x}" for x in extra) + "`", "",
             f"A process that only imports srprune, PyTorch and PyAV and loads the model peaks at "
             f"{base / 2**20:,.0f} MB; the plan's bound is on what upscale adds to that.", "",
             "| frames | peak RSS | peak - start | wall time | upscale's plan |",
             "|---|---|---|---|---|"]
    for r in rows:
        plan = r["upscale_says"].split("; ", 1)[-1][:-1]
        lines.append(f"| {r['frames']} | {r['peak_bytes'] / 2**20:,.0f} MB | "
                     f"{r['peak_minus_start_bytes'] / 2**20:,.0f} MB | {r['seconds']} s | "
                     f"{plan} |")
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(report, indent=2) + "\n")
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Which roles should stay float by default in `srprune quantize`: PSNR drop vs speed.

For the dense demo BasicVSR-32-8 and the committed SSL p = 0.5 compact one, exported as a
window of --frames frames at --lr-size, quantized for onnxruntime (QDQ) and OpenVINO (NNCF) with
each kept-float role set, this scores the INT8 file against its own float export on held-out
clips and times both in the runtime, interleaved (medians of --repeats rounds). One extra
onnxruntime row quantizes only the convolutions (op_types_to_quantize=Conv), the test of why
QDQ gains little on the compact model.

Calibration data: the embedded synthetic video generator (srprune.data.synthetic, the demo's
photos and motions) rendered larger (GT 640x640, LR 160x160, 8 frames per clip, 4 validation
clips): the embedded set's 32x32 LR frames are smaller than the graph. The last clip is held
out (srprune.quantize.calibration).

Re-run (about 15 minutes on 2 loaded cores):
    OMP_NUM_THREADS=2 python bench/int8_defaults.py --threads 2
writes results/int8_defaults.json and results/int8_defaults.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from srprune.commands.common import parse_size
from srprune.data.synthetic import build_default_video
from srprune.quantize.api import evaluate_file, prepare, quantize_prepared
from srprune.train.datasets import cache_dir

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"dense": ROOT / "src/srprune/assets/demo_basicvsr-32-8_fp16.safetensors",
          "compact": ROOT / "results/models/basicvsr-32-8_ssl_p0.5_s0_fp16.safetensors"}
KEEP_SETS = "-;flow;flow,head,tail"  # ';'-separated role sets ('-': none)
CONV_ONLY = {"op_types_to_quantize": ["Conv"]}


def calibration_dir() -> Path:
    """LR clips of 160x160 from the embedded generator (built once, cached)."""
    root = build_default_video(cache_dir() / "synthetic-video-x4-gt640", 0, gt_size=640,
                               num_frames=8, train_clips_per_photo=1, val_clips_per_photo=1)
    return root / "val" / "LR" / "X4"


def rows_for(name: str, path: Path, calib: Path, args: argparse.Namespace) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prep = prepare(path, calib, work, lr_size=args.lr_size, frames=args.frames,
                       calib_frames=args.calib_frames, threads=args.threads)
        sets = [tuple(r for r in s.split(",") if r and r != "-") for s in args.sets.split(";")]
        runs = [(rt, keep, None) for rt in args.runtimes.split(",") for keep in sets]
        if args.conv_only:
            runs.append(("onnxruntime", ("flow",), CONV_ONLY))
        for i, (runtime, keep, options) in enumerate(runs):
            out = work / f"int8_{i}{'.onnx' if runtime == 'onnxruntime' else '.xml'}"
            start = time.perf_counter()
            record = quantize_prepared(prep, runtime, keep, out, work, options)
            seconds = time.perf_counter() - start
            report = evaluate_file(prep, out, runtime, record, threads=args.threads,
                                   repeats=args.repeats, drift_frames=0)
            row = {"model": name, "runtime": runtime, "kept_fp32": list(keep),
                   "kept_nodes": record.kept_nodes,
                   "variant": "conv only" if options else "default ops",
                   "psnr_db": report.psnr_db, "fp32_ms": round(1e3 * report.latency_fp32_s, 1),
                   "int8_ms": round(1e3 * report.latency_int8_s, 1),
                   "speedup": round(report.speedup, 3), "quantize_s": round(seconds, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    lr, frames, threads = meta["lr_size"], meta["frames"], meta["threads"]
    lines = ["# INT8 kept-float role sets (bench/int8_defaults.py)\n",
             f"BasicVSR-32-8 window of {frames} frames at LR {lr[0]}x{lr[1]}, {threads} threads "
             "on a shared, loaded 2-core machine; latency: medians of `rounds` interleaved rounds "
             "(float and INT8 alternating); PSNR of INT8 against its own float export on the "
             "held-out clip. Re-run: `OMP_NUM_THREADS=2 python bench/int8_defaults.py "
             "--threads 2` (then `--runtimes openvino \"--sets=-;flow;flow,head;flow,tail\" "
             "--no-conv-only --repeats 9 --merge` and `--runtimes onnxruntime --sets=flow,head "
             "--no-conv-only --merge` for the later rows).\n",
             "| model | runtime | kept float | ops | nodes | PSNR dB | fp32 ms | INT8 ms | "
             "speedup | rounds |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['runtime']} | {', '.join(r['kept_fp32']) or '-'} | "
                     f"{r['variant']} | {r['kept_nodes']} | {r['psnr_db']:.2f} | "
                     f"{r['fp32_ms']:.1f} | {r['int8_ms']:.1f} | {r['speedup']:.2f}x | "
                     f"{r.get('repeats', meta['repeats'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lr-size", type=parse_size, default=(90, 160))
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--calib-frames", type=int, default=8)
    p.add_argument("--models", default="dense,compact")
    p.add_argument("--runtimes", default="onnxruntime,openvino")
    p.add_argument("--sets", default=KEEP_SETS, help="';'-separated role sets, '-' for none")
    p.add_argument("--no-conv-only", dest="conv_only", action="store_false")
    p.add_argument("--merge", action="store_true", help="append the rows to --out's json")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "int8_defaults")
    args = p.parse_args()
    calib = calibration_dir()
    rows = [r for name in args.models.split(",") for r in rows_for(name, MODELS[name], calib,
                                                                    args)]
    meta = {"lr_size": list(args.lr_size), "frames": args.frames, "threads": args.threads,
            "repeats": args.repeats, "calib_frames": args.calib_frames}
    if args.merge:
        old = json.loads(args.out.with_suffix(".json").read_text())
        meta = {k: v for k, v in old.items() if k != "rows"}
        rows = old["rows"] + [{**r, "repeats": args.repeats} for r in rows]
    args.out.with_suffix(".json").write_text(json.dumps({**meta, "rows": rows}, indent=2))
    args.out.with_suffix(".md").write_text(markdown(rows, meta))


if __name__ == "__main__":
    main()

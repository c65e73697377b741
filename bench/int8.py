"""INT8 side by side: dense fp32 PyTorch, compact fp32 PyTorch, compact fp32 / INT8 in
onnxruntime and OpenVINO, all interleaved in one run.

Models (x4, ``--ratio`` p = 0.5 by default):

* ``basicvsr-32-8``: the shipped dense demo model and the committed SSL-compact one
  (``results/models/basicvsr-32-8_ssl_p0.5_s0_fp16.safetensors``), trained: PSNR against the
  ground truth is meaningful;
* ``basicvsr-64-30``, ``edsr``, ``srvgg``: random seeded weights, compact by a local L1
  selection at ``--ratio`` (``rsc`` residual blocks for BasicVSR, ``coupled`` otherwise);
  latency does not depend on the values; their PSNR columns compare variants only.

Video models run as ``--frames``-frame windows (ms per frame = window / T). Each compact model
is exported and quantized by ``srprune.quantize.api`` exactly as ``srprune quantize`` does
(default float roles of each runtime), calibrated on the embedded synthetic video generator
rendered at GT 640x640 (LR 160x160 clips, centre-cropped to ``--lr-size``; the last clip is
held out). Every variant runs once per round after a warm-up round; medians are reported and
each ratio is taken inside one run. Drift (``basicvsr-32-8`` only): INT8 against fp32 over
``--drift-frames`` frames, from the quantize report.

    OMP_NUM_THREADS=2 python bench/int8.py --threads 2 --lr-size 160x160 --frames 3 --rounds 3

writes ``results/int8.json`` and ``results/int8.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srprune.commands.common import parse_size
from srprune.data.images import list_images, read_image
from srprune.data.synthetic import build_default_video
from srprune.eval.metrics import psnr, tensor_to_uint8
from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model, save_model
from srprune.models.registry import create_model
from srprune.profile import count_macs, count_params
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.surgery import remove_units
from srprune.quantize.api import (
    DEFAULT_KEEP,
    evaluate_file,
    prepare,
    quantize_prepared,
)
from srprune.quantize.report import open_model
from srprune.train.datasets import cache_dir

ROOT = Path(__file__).resolve().parents[1]
TRAINED = {"basicvsr-32-8": (ROOT / "src/srprune/assets/demo_basicvsr-32-8_fp16.safetensors",
                             ROOT / "results/models/basicvsr-32-8_ssl_p0.5_s0_fp16.safetensors")}
RANDOM = {"basicvsr-64-30": ("basicvsr", "rsc"), "edsr": ("edsr", "coupled"),
          "srvgg": ("srvgg", "coupled")}
VARIANTS = ("dense/pytorch", "compact/pytorch", "compact/onnxruntime", "int8/onnxruntime",
            "compact/openvino", "int8/openvino")
SUFFIX = {"onnxruntime": ".onnx", "openvino": ".xml"}


def calibration_root() -> Path:
    """Embedded synthetic clips rendered at GT 640 (LR 160x160; the set bench/int8_defaults.py
    uses). The bundled photos are at most 1000 px wide: clips of 180x320 LR would be rendered
    from upscaled photos at GT 1280, which took over 15 minutes on this 2-core machine."""
    return build_default_video(cache_dir() / "synthetic-video-x4-gt640", 0, gt_size=640,
                               num_frames=8, train_clips_per_photo=1, val_clips_per_photo=1)


def models_for(name: str, ratio: float, seed: int, work: Path
               ) -> tuple[torch.nn.Module, torch.nn.Module, Path]:
    """(dense, compact, compact file) of ``name``."""
    if name in TRAINED:
        dense_file, compact_file = TRAINED[name]
        return load_model(dense_file).eval(), load_model(compact_file).eval(), compact_file
    arch, mode = RANDOM[name]
    torch.manual_seed(seed)
    dense = create_model(arch, 4).eval()
    compact = create_model(arch, 4).eval()
    compact.load_state_dict(dense.state_dict())
    groups = compact.channel_groups(mode)
    remove_units(compact, groups, select_units(groups, score_groups(compact, groups), ratio,
                                               scope="local"))
    path = work / f"{name}_compact.safetensors"
    save_model(path, compact)
    return dense.eval(), compact.eval(), path


class TorchRunner:
    """A PyTorch model with the ``run(inputs)`` interface of an exported file (channels_last)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model.to(memory_format=torch.channels_last)

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        x = torch.from_numpy(inputs[0])
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return [self.model(x).numpy()]


def held_out_window(prep: Any, root: Path, frames: int) -> tuple[list[np.ndarray], list | None]:
    """(graph inputs of the first held-out window, its GT frames cropped to match or None)."""
    clip = prep.calib.held_out[0]
    lr = [f.astype(np.float32).transpose(2, 0, 1) / 255 for f in clip.frames[:frames]]
    x = np.stack(lr)[None] if prep.info.kind == "window" else lr[0][None]
    gt_dir = root / "val" / "GT" / clip.name
    if not gt_dir.is_dir():
        return [x], None
    h, w = clip.frames[0].shape[:2]
    gts = []
    for path in list_images(gt_dir)[:len(lr) if prep.info.kind == "window" else 1]:
        g = read_image(path)
        full_h, full_w = g.shape[0] // 4, g.shape[1] // 4
        y0, x0 = (full_h - h) // 2 * 4, (full_w - w) // 2 * 4
        gts.append(g[y0:y0 + 4 * h, x0:x0 + 4 * w])
    return [x], gts


def frames_of(out: np.ndarray) -> list[np.ndarray]:
    """uint8 (H, W, 3) frames of an (N, [T,] 3, H, W) output."""
    arr = out[0] if out.ndim == 5 else out
    return [tensor_to_uint8(torch.from_numpy(np.ascontiguousarray(a))) for a in arr]


def mean_psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return statistics.fmean(min(100.0, psnr(x, y)) for x, y in zip(a, b, strict=True))


def build(name: str, args: argparse.Namespace, root: Path, work: Path
          ) -> tuple[dict[str, Any], dict[str, Any], list[np.ndarray], int]:
    """(row, runners by variant, timing inputs, frames per call) of one model."""
    dense, compact, compact_file = models_for(name, args.ratio, args.seed, work)
    prep = prepare(compact_file, root / "val" / "LR" / "X4", work / name,
                   lr_size=args.lr_size, frames=args.frames, calib_frames=args.calib_frames,
                   threads=args.threads)
    macs = {k: count_macs(m, args.lr_size)[0] for k, m in (("dense", dense),
                                                          ("compact", compact))}
    row: dict[str, Any] = {
        "model": name, "kind": prep.info.kind, "trained": name in TRAINED,
        "params": {"dense": count_params(dense)[0], "compact": count_params(compact)[0]},
        "gmacs_per_frame": {k: v / 1e9 for k, v in macs.items()},
        "mac_reduction": macs["dense"] / macs["compact"], "quantize": {}}
    runners: dict[str, Any] = {"dense/pytorch": TorchRunner(dense),
                               "compact/pytorch": TorchRunner(compact)}
    for runtime in ("onnxruntime", "openvino"):
        out = work / f"{name}_int8{SUFFIX[runtime]}"
        t0 = time.perf_counter()
        record = quantize_prepared(prep, runtime, DEFAULT_KEEP[runtime], out, work / name)
        seconds = time.perf_counter() - t0
        drift = args.drift_frames if name in TRAINED and prep.info.kind != "image" else 0
        report = evaluate_file(prep, out, runtime, record, threads=args.threads, repeats=1,
                               drift_frames=drift)
        row["quantize"][runtime] = {"seconds": round(seconds, 1),
                                    "kept_fp32": record.to_dict()["kept_fp32"],
                                    "held_out_psnr_vs_fp32_db": report.psnr_db,
                                    "drift": report.drift}
        runners[f"compact/{runtime}"] = open_model(prep.fp32, runtime, prep.info, args.threads)
        runners[f"int8/{runtime}"] = open_model(out, runtime, prep.info, args.threads)
        print(f"[quantize] {name} {runtime}: {seconds:.0f} s, held-out PSNR vs fp32 "
              f"{report.psnr_db:.2f} dB", flush=True)
    inputs, gts = held_out_window(prep, root, args.frames)
    outs = {v: frames_of(r.run(inputs)[0]) for v, r in runners.items()}
    ref = outs["compact/pytorch"]
    row["psnr_vs_compact_fp32_db"] = {v: round(mean_psnr(o, ref), 2) for v, o in outs.items()
                                      if v != "compact/pytorch"}
    if gts is not None and name in TRAINED:
        row["psnr_vs_gt_db"] = {v: round(mean_psnr(o, gts), 2) for v, o in outs.items()}
    frames = args.frames if prep.info.kind == "window" else 1
    return row, runners, inputs, frames


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    root = calibration_root()
    work = Path(tempfile.mkdtemp(prefix="int8_bench_"))
    rows, runners, inputs, frames = [], {}, {}, {}
    for name in args.models:
        row, r, x, t = build(name, args, root, work)
        rows.append(row)
        runners[name], inputs[name], frames[name] = r, x, t
    times: dict[tuple[str, str], list[float]] = {(m, v): [] for m in args.models
                                                 for v in VARIANTS}
    for r in range(1 + args.rounds):
        for m in args.models:
            for v in VARIANTS:
                t0 = time.perf_counter()
                runners[m][v].run(inputs[m])
                if r > 0:
                    times[(m, v)].append((time.perf_counter() - t0) * 1000 / frames[m])
        print(f"[round {r}] done", flush=True)
    for row in rows:
        m = row["model"]
        med = {v: statistics.median(times[(m, v)]) for v in VARIANTS}
        row["ms_per_frame"] = med
        row["runs_ms"] = {v: times[(m, v)] for v in VARIANTS}
        row["speedup_vs_dense_pytorch"] = {v: med["dense/pytorch"] / med[v] for v in VARIANTS}
        row["int8_vs_own_fp32"] = {rt: med[f"compact/{rt}"] / med[f"int8/{rt}"]
                                   for rt in ("onnxruntime", "openvino")}
    import onnxruntime
    import openvino
    return {"lr_size": list(args.lr_size), "frames": args.frames, "ratio": args.ratio,
            "rounds": args.rounds, "threads": args.threads,
            "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "openvino": openvino.__version__,
            "command": " ".join(["python bench/int8.py", *sys.argv[1:]]), "rows": rows}


def render(res: dict[str, Any]) -> str:
    h, w = res["lr_size"]
    lines = ["# INT8: dense fp32 PyTorch vs compact fp32 / INT8 in PyTorch, onnxruntime, "
             "OpenVINO", "",
             f"`{res['command']}`: LR {h}x{w}, x4, {res['threads']} CPU threads "
             f"({res['cpu']}), torch {res['torch']}, onnxruntime {res['onnxruntime']}, "
             f"OpenVINO {res['openvino']}; p = {res['ratio']}; median of {res['rounds']} "
             f"interleaved rounds; video models as {res['frames']}-frame windows (ms per "
             "frame = window / T).", "",
             "| model | GMACs dense / compact | variant | ms/frame | x dense fp32 PyTorch "
             "| INT8 x own fp32 | PSNR vs compact fp32 (dB) | PSNR vs GT (dB) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in res["rows"]:
        g = row["gmacs_per_frame"]
        for i, v in enumerate(VARIANTS):
            head = (f"{row['model']} | {g['dense']:.1f} / {g['compact']:.1f}" if i == 0
                    else " | ")
            rt = v.split("/")[1]
            own = f"{row['int8_vs_own_fp32'][rt]:.2f}x" if v.startswith("int8") else ""
            fid = row["psnr_vs_compact_fp32_db"].get(v, "")
            gt = row.get("psnr_vs_gt_db", {}).get(v, "")
            lines.append(f"| {head} | {v} | {row['ms_per_frame'][v]:.0f} | "
                         f"{row['speedup_vs_dense_pytorch'][v]:.2f}x | {own} | {fid} | {gt} |")
    lines += ["", "## Quantization (defaults of `srprune quantize`)", "",
              "| model | runtime | kept fp32 | held-out PSNR INT8 vs fp32 (dB) | drift first 10 "
              "/ last 10 (dB) | quantize s |", "|---|---|---|---|---|---|"]
    for row in res["rows"]:
        for rt, q in row["quantize"].items():
            d = q["drift"]
            drift = (f"{d['first_mean_db']:.2f} / {d['last_mean_db']:.2f} over {d['frames']} "
                     "frames" + (" (growth)" if d["growth"] else "")) if d else "-"
            kept = ", ".join(q["kept_fp32"]["roles"]) or "nothing"
            lines.append(f"| {row['model']} | {rt} | {kept} | "
                         f"{q['held_out_psnr_vs_fp32_db']:.2f} | {drift} | {q['seconds']} |")
    lines += ["", "Every timed run is in the JSON (`runs_ms`). PSNR: RGB, no border crop, on the "
              "first held-out window (the last calibration clip, centre-cropped); 'vs GT' only "
              "for trained models."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["basicvsr-32-8", "basicvsr-64-30", "edsr",
                                                  "srvgg"],
                   choices=[*TRAINED, *RANDOM])
    p.add_argument("--lr-size", type=parse_size, default=(160, 160))
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calib-frames", type=int, default=16)
    p.add_argument("--drift-frames", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "results" / "int8"))
    args = p.parse_args()
    res = run(args)
    write_text_atomic(Path(args.out + ".json"), json.dumps(res, indent=2))
    write_text_atomic(Path(args.out + ".md"), render(res))
    print(render(res))


if __name__ == "__main__":
    main()

"""Which OpenVINO CPU kernels run the convolutions of a float and an INT8 file, and how long.

OpenVINO's per-node profile (PERF_COUNT) names each conv's implementation, e.g.
``brgconv_avx2_f32`` (float), ``jit_avx2_I8`` (INT8 on AVX2, no VNNI) or ``*_avx512_*`` /
``*vnni*`` / ``*amx*`` kernels on CPUs that have them: this tells how much INT8 can earn on the
machine at hand. Writes ``results/int8_kernels.{json,md}``.

    srprune export --model results/models/basicvsr-32-8_ssl_p0.5_s0_fp16.safetensors \\
        --output /tmp/k32.onnx --lr-size 64x64 --frames 3
    srprune quantize --model results/models/basicvsr-32-8_ssl_p0.5_s0_fp16.safetensors \\
        --calib ~/.cache/srprune/synthetic-video-x4-gt640/val/LR/X4 --output /tmp/k8.xml \\
        --lr-size 64x64 --frames 3 --drift-frames 0
    python bench/int8_kernels.py /tmp/k32.onnx /tmp/k8.xml --threads 2
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path
from typing import Any

import numpy as np

from srprune.io.atomic import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
CONVS = ("Convolution", "GroupConvolution")


def conv_kernels(core: Any, path: str, threads: int, runs: int) -> dict[str, float]:
    """ms per call in each conv implementation, and in every other node type (``other: T``),
    median of ``runs`` profiled calls."""
    compiled = core.compile_model(core.read_model(path), "CPU",
                                  {"PERF_COUNT": True, "INFERENCE_NUM_THREADS": threads,
                                   "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    rng = np.random.default_rng(0)
    inputs = [rng.random([d.get_length() for d in i.get_partial_shape()], np.float32)
              for i in compiled.inputs]
    request.infer(inputs)
    per_run: list[dict[str, float]] = []
    for _ in range(runs):
        request.infer(inputs)
        agg: dict[str, float] = collections.defaultdict(float)
        for p in request.get_profiling_info():
            ms = p.real_time.total_seconds() * 1000
            if p.node_type in CONVS:
                agg[p.exec_type] += ms
            else:
                agg[f"other: {p.node_type}"] += ms
        per_run.append(agg)
    keys = sorted({k for r in per_run for k in r})
    return {k: float(np.median([r.get(k, 0.0) for r in per_run])) for k in keys}


def main() -> None:
    import openvino as ov

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", help=".onnx / .xml files (float and INT8)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", default=str(ROOT / "results" / "int8_kernels"))
    args = p.parse_args()
    core = ov.Core()
    res = {"cpu": core.get_property("CPU", "FULL_DEVICE_NAME"),
           "capabilities": list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")),
           "openvino": ov.__version__, "threads": args.threads,
           "files": {Path(f).name: conv_kernels(core, f, args.threads, args.runs)
                     for f in args.files}}
    lines = ["# OpenVINO conv kernels: float vs INT8", "",
             f"`python bench/int8_kernels.py` (see its docstring for the files): CPU "
             f"{res['cpu']}, capabilities {', '.join(res['capabilities'])}, OpenVINO "
             f"{res['openvino']}, {args.threads} threads; ms per call in each conv "
             f"implementation, median of {args.runs} profiled calls.", "",
             "| file | kernel or node type | ms | share of the call |", "|---|---|---|---|"]
    for name, kernels in res["files"].items():
        total = sum(kernels.values())
        convs = sum(v for k, v in kernels.items() if not k.startswith("other"))
        top = sorted(kernels.items(), key=lambda kv: -kv[1])[:10]
        for k, ms in top:
            lines.append(f"| {name} | `{k}` | {ms:.1f} | {ms / total:.0%} |")
        lines.append(f"| {name} | **all convs / everything** | {convs:.1f} / {total:.1f} | "
                     f"{convs / total:.0%} |")
    write_text_atomic(Path(args.out + ".json"), json.dumps(res, indent=2))
    write_text_atomic(Path(args.out + ".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Which mobile runtime runs the BasicVSR-uni streaming cell with the fewest fallbacks?

Candidates: ExecuTorch with the XNNPACK backend, and OpenVINO (CPU plugin, reading srprune's ONNX
file). For each: which ops leave the optimised path (ExecuTorch: ops not delegated to XNNPACK,
which run in the portable kernels, and the number of delegate partitions; OpenVINO: ops the CPU
plugin does not support, and ops compiled to reference ``ref_*`` kernels), parity with PyTorch
and latency per frame (interleaved). ExecuTorch is optional and not in srprune's extras (it pulls
coremltools, pandas, scikit-learn, ...); install it beside srprune to include it:
``pip install executorch==1.5.1``. Writes ``results/mobile_fallbacks.{json,md}``.

    python bench/mobile_fallbacks.py --lr-size 90x160 --repeats 3
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srprune.commands.common import parse_size
from srprune.export.onnx_writer import export_onnx
from srprune.io.atomic import write_text_atomic
from srprune.models.registry import create_model
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.surgery import remove_units


def compact_uni(name: str, ratio: float, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_model(name).eval()
    groups = model.channel_groups("rsc")
    remove_units(model, groups, select_units(groups, score_groups(model, groups), ratio,
                                             scope="local"))
    return model


def executorch_runner(cell: torch.nn.Module, inputs: tuple[torch.Tensor, ...], tmp: Path
                      ) -> tuple[dict[str, Any], Any] | None:
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
            XnnpackPartitioner,
        )
        from executorch.exir import to_edge_transform_and_lower
        from executorch.runtime import Runtime
    except ImportError:
        return None
    t0 = time.perf_counter()
    edge = to_edge_transform_and_lower(torch.export.export(cell, inputs),
                                       partitioner=[XnnpackPartitioner()])
    graph = edge.exported_program().graph_module.graph
    ops = collections.Counter(str(n.target).split(">")[0].split(": ")[-1]
                              for n in graph.nodes if n.op == "call_function"
                              and "getitem" not in str(n.target))
    partitions = ops.pop("executorch_call_delegate", 0)
    path = tmp / "cell.pte"
    path.write_bytes(edge.to_executorch().buffer)
    method = Runtime.get().load_program(str(path)).load_method("forward")
    info = {"lower_s": time.perf_counter() - t0, "xnnpack_partitions": partitions,
            "not_delegated": dict(sorted(ops.items()))}

    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        return [o.numpy() for o in method.execute([torch.from_numpy(x) for x in xs])]

    return info, run


def openvino_runner(path: Path, threads: int) -> tuple[dict[str, Any], Any] | None:
    try:
        import openvino as ov
    except ImportError:
        return None
    core = ov.Core()
    model = core.read_model(str(path))
    supported = core.query_model(model, "CPU")
    unsupported = sorted({op.get_type_name() for op in model.get_ordered_ops()
                          if op.get_friendly_name() not in supported})
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                 "INFERENCE_NUM_THREADS": threads})
    kernels = collections.Counter()
    for node in compiled.get_runtime_model().get_ordered_ops():
        rt = node.get_rt_info()
        prim = rt["primitiveType"].astype(str)
        if prim.startswith("ref"):
            kernels[rt["layerType"].astype(str)] += 1
    request = compiled.create_infer_request()
    info = {"unsupported_ops": unsupported, "reference_kernels": dict(kernels),
            "ops": len(model.get_ordered_ops())}

    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        res = request.infer(xs)
        return [np.array(res[o]) for o in compiled.outputs]

    return info, run


def run(args: argparse.Namespace) -> dict[str, Any]:
    threads = torch.get_num_threads()
    h, w = args.lr_size
    model = compact_uni(args.model, args.ratio, args.seed)
    cell = model.export_module("stream").eval()
    g = torch.Generator().manual_seed(1)
    inputs = (torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g),
              torch.rand(1, model.cell_spec().states[0].channels, h, w, generator=g))
    with torch.no_grad():
        ref = [t.numpy() for t in cell(*inputs)]
    tmp = Path(tempfile.mkdtemp(prefix="mobile_"))
    onnx_path = tmp / "cell.onnx"
    export_onnx(model, onnx_path, args.lr_size)
    runners: dict[str, Any] = {}
    result: dict[str, Any] = {"model": f"{args.model} p={args.ratio} (SSL, RSC) streaming cell",
                              "lr_size": [h, w], "threads": threads, "runtimes": {}}
    for name, made in (("openvino", openvino_runner(onnx_path, threads)),
                       ("executorch-xnnpack", executorch_runner(cell, inputs, tmp))):
        if made is None:
            result["runtimes"][name] = {"available": False}
            continue
        info, fn = made
        out = fn([x.numpy() for x in inputs])
        info["max_abs_diff"] = max(float(np.abs(a - b).max()) for a, b in zip(out, ref,
                                                                               strict=True))
        result["runtimes"][name] = {"available": True, **info}
        runners[name] = fn
        print(name, json.dumps(info), flush=True)

    def torch_run(xs: list[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            return [t.numpy() for t in cell(*[torch.from_numpy(x) for x in xs])]

    runners = {"pytorch": torch_run, **runners}
    times: dict[str, list[float]] = {k: [] for k in runners}
    feeds = [x.numpy() for x in inputs]
    for r in range(1 + args.repeats):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn(feeds)
            if r:
                times[name].append((time.perf_counter() - t0) * 1000)
    for name, runs in times.items():
        result["runtimes"].setdefault(name, {"available": True})
        result["runtimes"][name]["ms_per_frame"] = statistics.median(runs)
        result["runtimes"][name]["runs_ms"] = runs
    return result


def markdown(res: dict[str, Any]) -> str:
    h, w = res["lr_size"]
    lines = ["# Mobile runtime for the streaming cell: fallbacks, parity, latency", "",
             f"`bench/mobile_fallbacks.py`: {res['model']}, LR {h}x{w}, {res['threads']} "
             "threads, float32; median of interleaved runs (PyTorch eager NCHW for reference).",
             "", "| runtime | off the optimised path | max abs diff vs PyTorch | ms per frame |",
             "|---|---|---|---|"]
    for name, r in res["runtimes"].items():
        if not r.get("available", True):
            lines.append(f"| {name} | not installed | | |")
            continue
        if name == "openvino":
            off = (f"{len(r['unsupported_ops'])} unsupported op types of {r['ops']} ops; "
                   f"reference kernels: {r['reference_kernels'] or 'none'}")
        elif name.startswith("executorch"):
            nd = ", ".join(f"{k} x{v}" for k, v in r["not_delegated"].items())
            off = f"{r['xnnpack_partitions']} XNNPACK partitions; not delegated: {nd}"
        else:
            off = "-"
        diff = f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r else "-"
        lines.append(f"| {name} | {off} | {diff} | {r['ms_per_frame']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="basicvsr-uni")
    p.add_argument("--lr-size", type=parse_size, default=(90, 160))
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results"))
    args = p.parse_args()
    res = run(args)
    write_text_atomic(args.out / "mobile_fallbacks.json", json.dumps(res, indent=1))
    write_text_atomic(args.out / "mobile_fallbacks.md", markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()

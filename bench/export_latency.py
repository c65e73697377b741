"""Dense vs compact, PyTorch eager vs onnxruntime vs OpenVINO, side by side in one run.

Models (x4, random seeded weights; latency does not depend on the values):

* BasicVSR-64-30 (bidirectional): a ``--frames``-frame window graph; ms per frame = window / T;
* BasicVSR-uni (64 x 30): the streaming cell, run over ``--frames`` frames (carrying the state);
* EDSR (16 x 64) and ESRB-6-256: the whole network, one frame.

Compact models: SSL removal at ``--ratio`` (RSC residual blocks, pixel-shuffle units, the same
ratio in every group) for BasicVSR; for EDSR / ESRB the structure FMP extracts (residual streams
pruned too, ``coupled``) at the same ratio, with half of the remaining weights set to zero (FMP's
single-weight zeros; dense kernels run them at full cost). Every variant runs once per round, all
interleaved, after one warm-up round; the median is reported. PyTorch runs in channels_last
(srprune's fastest); the runtimes get the same thread count. Parity: each runtime's output
against PyTorch on a real clip (a window panning across a bundled photo), float max |diff| and
max uint8 difference. ``--profile-ops`` adds the time share of GridSample (the flow warps) in
the uni cell per runtime. Writes ``results/export_latency.{json,md}``.

    python bench/export_latency.py --lr-size 90x160 --frames 3 --repeats 3 --profile-ops
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srprune.commands.common import parse_size
from srprune.data.synthetic import load_photo
from srprune.eval.metrics import tensor_to_uint8
from srprune.export.onnx_writer import export_onnx
from srprune.export.runtime import ExportedModel
from srprune.io.atomic import write_text_atomic
from srprune.models.registry import create_model
from srprune.profile import count_macs, count_params
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.surgery import remove_units

MODELS = [("basicvsr", 4, "rsc", "BasicVSR-64-30 (bi, window)"),
          ("basicvsr-uni", 4, "rsc", "BasicVSR-uni (streaming cell)"),
          ("edsr", 4, "coupled", "EDSR-16-64 x4 (FMP structure)"),
          ("esrb-6-256", 4, "coupled", "ESRB-6-256 x4 (FMP structure)")]
RUNTIMES = ("pytorch", "onnxruntime", "openvino")


def make_pair(name: str, scale: int, mode: str, ratio: float, seed: int
              ) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(dense, compact) with the same surviving weights."""
    torch.manual_seed(seed)
    dense = create_model(name, scale).eval()
    compact = create_model(name, scale).eval()
    compact.load_state_dict(dense.state_dict())
    groups = compact.channel_groups(mode)
    remove_units(compact, groups, select_units(groups, score_groups(compact, groups), ratio,
                                               scope="local"))
    if mode == "coupled":
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in compact.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.weight.mul_(torch.rand(m.weight.shape, generator=g) >= 0.5)
    return dense, compact


def real_clip(n: int, h: int, w: int) -> torch.Tensor:
    """(n, 3, h, w) in [0, 1], uint8-quantised: a window panning across a bundled photo."""
    photo = load_photo("astronaut")
    photo = torch.nn.functional.interpolate(photo[None].float(), size=(h + 4 * n, w + 4 * n),
                                            mode="area")[0]
    frames = [photo[:, 2 * i:2 * i + h, 3 * i:3 * i + w] for i in range(n)]
    return (torch.stack(frames) * 255).round().clamp(0, 255) / 255


class Variant:
    """One model in one runtime: ``step()`` runs the timed unit and returns its SR frames."""

    def __init__(self, model: torch.nn.Module, kind: str, runtime: str, onnx_path: Path | None,
                 clip: torch.Tensor, threads: int) -> None:
        self.kind, self.runtime, self.clip = kind, runtime, clip
        self.frames = clip.shape[0] if kind in ("stream", "window") else 1
        if runtime == "pytorch":
            self.model = model.to(memory_format=torch.channels_last).eval()
            self.cell = model.export_module("stream") if kind == "stream" else None
        else:
            self.exported = ExportedModel(onnx_path, runtime, threads)

    def step(self) -> np.ndarray:
        clip = self.clip
        if self.kind == "image":
            x = clip[:1]
            if self.runtime == "pytorch":
                with torch.inference_mode():
                    return self.model(x.contiguous(memory_format=torch.channels_last)).numpy()
            return self.exported.run([x.numpy()])[0]
        if self.kind == "window":
            if self.runtime == "pytorch":
                with torch.inference_mode():
                    return self.model(clip[None])[0].numpy()
            return self.exported.run([clip[None].numpy()])[0][0]
        outs = []
        prev, hidden = clip[:1], None
        for t in range(clip.shape[0]):
            lr = clip[t:t + 1]
            if self.runtime == "pytorch":
                with torch.inference_mode():
                    if hidden is None:
                        hidden = lr.new_zeros(1, self.model.cell_spec().states[0].channels,
                                               *lr.shape[-2:])
                    sr, hidden = self.cell(lr, prev, hidden)
                outs.append(sr.numpy())
            else:
                if hidden is None:
                    width = self.exported.info.cell.states[0].channels
                    hidden = np.zeros((1, width, *lr.shape[-2:]), np.float32)
                sr, hidden = self.exported.run([lr.numpy(), prev.numpy(), hidden])
                outs.append(sr)
            prev = lr
        return np.concatenate(outs)


def parity(got: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    q = max(int(np.abs(tensor_to_uint8(torch.from_numpy(a)).astype(int)
                       - tensor_to_uint8(torch.from_numpy(b)).astype(int)).max())
            for a, b in zip(got, ref, strict=True))
    return {"max_abs": float(np.abs(got - ref).max()), "max_uint8": q}


def reference(model: torch.nn.Module, kind: str, clip: torch.Tensor) -> np.ndarray:
    """PyTorch float32 NCHW output: ``forward`` on the clip (the cell must equal it)."""
    model = model.to(memory_format=torch.contiguous_format)
    with torch.inference_mode():
        if kind == "image":
            return model(clip[:1]).numpy()
        return model(clip[None])[0].numpy()


def op_share(path: Path, kind_inputs: list[np.ndarray], threads: int, op: str
             ) -> dict[str, dict[str, float]]:
    """ms per call in ``op`` and its share of the total, per runtime (one profiled call)."""
    import onnxruntime as ort
    import openvino as ov

    out: dict[str, dict[str, float]] = {}
    opts = ort.SessionOptions()
    opts.enable_profiling = True
    opts.intra_op_num_threads = threads
    opts.profile_file_prefix = str(path.with_suffix(""))
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feeds = dict(zip(names, kind_inputs, strict=True))
    sess.run(None, feeds)
    sess.run(None, feeds)
    events = json.loads(Path(sess.end_profiling()).read_text())
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    last_run = [e for e in nodes if e["ts"] >= max(e2["ts"] for e2 in events
                                                   if e2.get("name") == "model_run") - 1]
    total = sum(e["dur"] for e in last_run) / 1000
    in_op = sum(e["dur"] for e in last_run if e["args"].get("op_name") == op) / 1000
    out["onnxruntime"] = {"op_ms": in_op, "total_ms": total, "share": in_op / total}
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU",
                                  {"INFERENCE_PRECISION_HINT": "f32", "PERF_COUNT": True,
                                   "INFERENCE_NUM_THREADS": threads})
    req = compiled.create_infer_request()
    req.infer(kind_inputs)
    req.infer(kind_inputs)
    prof = req.get_profiling_info()
    total = sum(p.real_time.total_seconds() for p in prof) * 1000
    in_op = sum(p.real_time.total_seconds() for p in prof if p.node_type == op) * 1000
    impl = sorted({p.exec_type for p in prof if p.node_type == op})
    out["openvino"] = {"op_ms": in_op, "total_ms": total, "share": in_op / total,
                       "kernel": ", ".join(impl)}
    return out


def torch_op_share(cell: torch.nn.Module, inputs: list[torch.Tensor]) -> dict[str, float]:
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        cell(*inputs)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            cell(*inputs)
    ev = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ev) / 1000
    in_op = sum(e.self_cpu_time_total for e in ev if "grid_sampler" in e.key) / 1000
    return {"op_ms": in_op, "total_ms": total, "share": in_op / total}


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads or torch.get_num_threads())
    threads = torch.get_num_threads()
    h, w = args.lr_size
    clip = real_clip(args.frames, h, w)
    tmp = Path(tempfile.mkdtemp(prefix="export_latency_"))
    rows: list[dict[str, Any]] = []
    variants: dict[tuple[str, str, str], Variant] = {}
    keep = [m for m in MODELS if not args.only or m[0] in args.only]
    for name, scale, mode, label in keep:
        dense, compact = make_pair(name, scale, mode, args.ratio, args.seed)
        macs = {k: count_macs(m, args.lr_size)[0] for k, m in
                (("dense", dense), ("compact", compact))}
        row: dict[str, Any] = {"model": name, "label": label, "mode": mode,
                               "params": {"dense": count_params(dense)[0],
                                          "compact": count_params(compact)[0]},
                               "gmacs_per_frame": {k: v / 1e9 for k, v in macs.items()},
                               "mac_reduction": macs["dense"] / macs["compact"],
                               "export_s": {}, "parity": {}}
        for variant, model in (("dense", dense), ("compact", compact)):
            path = tmp / f"{name}_{variant}.onnx"
            t0 = time.perf_counter()
            info = export_onnx(model, path, args.lr_size, frames=args.frames)
            row["export_s"][variant] = time.perf_counter() - t0
            row["kind"] = info.kind
            ref = reference(model, info.kind, clip)
            for rt in RUNTIMES:
                v = Variant(model, info.kind, rt, path, clip, threads)
                variants[(name, variant, rt)] = v
                row["parity"][f"{variant}/{rt}"] = parity(v.step(), ref)
            print(f"[export] {label} {variant}: {row['export_s'][variant]:.0f} s, parity "
                  f"{ {k: v for k, v in row['parity'].items() if k.startswith(variant)} }",
                  flush=True)
            if args.profile_ops and info.kind == "stream":
                c = info.cell.states[0].channels
                inputs = [clip[1:2], clip[:1], torch.rand(1, c, h, w)]
                row.setdefault("gridsample", {})[variant] = {
                    "pytorch": torch_op_share(model.export_module("stream"), inputs),
                    **op_share(path, [x.numpy() for x in inputs], threads, "GridSample")}
        rows.append(row)
    times: dict[tuple[str, str, str], list[float]] = {k: [] for k in variants}
    # dense and compact of one model in one runtime run back to back, so that a paired ratio
    # sees the same machine load
    order = sorted(variants, key=lambda k: ([m[0] for m in keep].index(k[0]),
                                            RUNTIMES.index(k[2]), k[1] != "dense"))
    for r in range(1 + args.repeats):
        for key in order:
            v = variants[key]
            t0 = time.perf_counter()
            v.step()
            if r > 0:
                times[key].append((time.perf_counter() - t0) * 1000 / v.frames)
        print(f"[round {r}] done", flush=True)
    for row in rows:
        med = {f"{variant}/{rt}": statistics.median(times[(row["model"], variant, rt)])
               for variant in ("dense", "compact") for rt in RUNTIMES}
        row["ms_per_frame"] = med
        row["runs_ms"] = {f"{variant}/{rt}": times[(row["model"], variant, rt)]
                          for variant in ("dense", "compact") for rt in RUNTIMES}
        row["speedup"] = {rt: med[f"dense/{rt}"] / med[f"compact/{rt}"] for rt in RUNTIMES}
        runs = row["runs_ms"]
        row["speedup_paired"] = {rt: statistics.median(
            d / c for d, c in zip(runs[f"dense/{rt}"], runs[f"compact/{rt}"], strict=True))
            for rt in RUNTIMES}
        row["runtime_vs_pytorch"] = {f"{variant}/{rt}": med[f"{variant}/pytorch"]
                                     / med[f"{variant}/{rt}"]
                                     for variant in ("dense", "compact")
                                     for rt in RUNTIMES[1:]}
    import onnxruntime
    import openvino
    return {"lr_size": [h, w], "frames": args.frames, "ratio": args.ratio,
            "repeats": args.repeats, "threads": threads,
            "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "openvino": openvino.__version__,
            "rows": rows}


def paired(row: dict[str, Any], rt: str) -> str:
    """Median over rounds of dense / compact run back to back ('-' in older JSON)."""
    value = row.get("speedup_paired", {}).get(rt)
    return "-" if value is None else f"{value:.2f}x"


def markdown(res: dict[str, Any]) -> str:
    h, w = res["lr_size"]
    lines = [
        "# Export latency: dense vs compact in PyTorch, onnxruntime and OpenVINO", "",
        f"`bench/export_latency.py`, LR {h}x{w}, x4, {res['threads']} CPU threads "
        f"({res['cpu']}), torch {res['torch']}, onnxruntime {res['onnxruntime']}, "
        f"OpenVINO {res['openvino']}; ratio p = {res['ratio']}; median of {res['repeats']} "
        f"interleaved rounds; video: {res['frames']} frames per window / streamed clip.", "",
        "| model | GMACs/frame dense / compact | MAC red. | runtime | ms/frame dense | "
        "ms/frame compact | speedup: medians / paired / mins | vs PyTorch, dense / compact |",
        "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        g = r["gmacs_per_frame"]
        low = {k: min(v) for k, v in r["runs_ms"].items()}
        for i, rt in enumerate(RUNTIMES):
            ms = r["ms_per_frame"]
            vs = "1.00x / 1.00x" if rt == "pytorch" else (
                f"{r['runtime_vs_pytorch'][f'dense/{rt}']:.2f}x / "
                f"{r['runtime_vs_pytorch'][f'compact/{rt}']:.2f}x")
            head = (f"| {r['label']} | {g['dense']:.1f} / {g['compact']:.1f} | "
                    f"{r['mac_reduction']:.2f}x") if i == 0 else "| | |"
            lines.append(f"{head} | {rt} | {ms[f'dense/{rt}']:.0f} (min {low[f'dense/{rt}']:.0f})"
                         f" | {ms[f'compact/{rt}']:.0f} (min {low[f'compact/{rt}']:.0f}) | "
                         f"{r['speedup'][rt]:.2f}x / {paired(r, rt)} / "
                         f"{low[f'dense/{rt}'] / low[f'compact/{rt}']:.2f}x | {vs} |")
    lines += ["", "'vs PyTorch' > 1 means the runtime is faster than PyTorch eager "
              "(channels_last), from medians. Speedups: ratio of medians; median over rounds of "
              "dense / compact run back to back (paired); ratio of minima. Every run is in the "
              "JSON (`runs_ms`); on a shared machine the spread between rounds can exceed the "
              "differences between runtimes.", "",
              "## Parity with PyTorch (real clip)", "",
              "| model | variant | runtime | max abs diff | max uint8 diff |",
              "|---|---|---|---|---|"]
    for r in res["rows"]:
        for key, p in r["parity"].items():
            variant, rt = key.split("/")
            if rt != "pytorch":
                lines.append(f"| {r['label']} | {variant} | {rt} | {p['max_abs']:.1e} | "
                             f"{p['max_uint8']} |")
    grid = [r for r in res["rows"] if "gridsample" in r]
    if grid:
        lines += ["", "## GridSample (flow warps) in the uni streaming cell, one call", "",
                  "| variant | runtime | GridSample ms | total ms | share | kernel |",
                  "|---|---|---|---|---|---|"]
        for r in grid:
            for variant, per in r["gridsample"].items():
                for rt, s in per.items():
                    lines.append(f"| {variant} | {rt} | {s['op_ms']:.1f} | {s['total_ms']:.0f} | "
                                 f"{100 * s['share']:.1f} % | {s.get('kernel', '')} |")
        lines += ["", "Totals here are summed op times of one profiled call (PyTorch: "
                  "self CPU time of all ops), not wall-clock latency."]
    lines += ["", "Export time (s): " + "; ".join(
        f"{r['label']} {r['export_s']['dense']:.0f} / {r['export_s']['compact']:.0f}"
        for r in res["rows"]), ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lr-size", type=parse_size, default=(90, 160))
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", help="model names to run (default all)")
    p.add_argument("--profile-ops", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results"))
    p.add_argument("--from-json", type=Path, help="only re-render the Markdown of a JSON")
    args = p.parse_args()
    if args.from_json:
        write_text_atomic(args.out / "export_latency.md",
                          markdown(json.loads(args.from_json.read_text())))
        return
    res = run(args)
    write_text_atomic(args.out / "export_latency.json", json.dumps(res, indent=1))
    write_text_atomic(args.out / "export_latency.md", markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()

"""``srprune profile`` of an exported file: stored weights, conv MACs and the runtime's latency.

Conventions (stated in the report):

* params: elements of the graph's stored constants of a floating or 8-bit integer type with
  more than one element (weights, biases, an INT8 file's per-channel scales, and a few
  normalisation constants; int64 shape constants are left out), counted per type, so an INT8
  file says how many are int8;
* MACs: multiply-accumulates of the convolutions of one graph run at the LR size, from the
  static shapes of a copy reshaped to that size (OpenVINO's shape inference, for ONNX files
  too), per output frame (a window's total / T); the flow network counts as often as the graph
  runs it (a window computes T - 1 flows per direction; PyTorch's profile counts one per
  frame). None when OpenVINO is not installed or cannot infer a conv's shapes;
* latency: median wall time per output frame over ``repeats`` runs after ``warmup`` runs of
  the runtime on random frames (a cell: one call from zero states; a window: T frames).
"""

from __future__ import annotations

import resource
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srprune.export.graph_checks import expected_inputs
from srprune.export.ir import is_ir, reshaped
from srprune.export.metadata import ExportInfo
from srprune.export.runtime import ExportedModel

CONVENTION = ("params: stored float / 8-bit constants (> 1 element); MACs: convolutions of one "
              "graph run at this size (OpenVINO shape inference), per output frame")


@dataclass
class FileProfile:
    """Everything ``srprune profile --model FILE.onnx|FILE.xml`` prints."""

    model: str
    runtime: str
    kind: str
    params: int
    params_by_type: dict[str, int]
    macs_per_frame: float | None
    lr_size: tuple[int, int]
    frames: int
    threads: int
    latency_ms_per_frame: float | None = None
    latency_runs_ms: list[float] = field(default_factory=list)
    peak_memory_mb: float | None = None
    convention: str = CONVENTION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (MACs in units, not G)."""
        return asdict(self)


def _counted(dtype: np.dtype, n: int) -> bool:
    return n > 1 and (dtype.kind == "f" or dtype in (np.dtype(np.int8), np.dtype(np.uint8)))


def onnx_weight_counts(path: Path) -> Counter:
    """Elements per type of an ONNX file's stored constants (initializers, Constant nodes)."""
    import onnx
    from onnx import helper

    proto = onnx.load(str(path))
    counts: Counter = Counter()
    tensors = list(proto.graph.initializer) + [a.t for n in proto.graph.node
                                               if n.op_type == "Constant" for a in n.attribute
                                               if a.type == onnx.AttributeProto.TENSOR]
    for t in tensors:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
        n = int(np.prod(t.dims)) if len(t.dims) else 1
        if _counted(dtype, n):
            counts[dtype.name] += n
    return counts


def ir_weight_counts(model: Any) -> Counter:
    """Elements per type of an OpenVINO model's Constant ops."""
    counts: Counter = Counter()
    for op in model.get_ops():
        if op.get_type_name() == "Constant" and op.get_output_partial_shape(0).is_static:
            dtype = np.dtype(op.get_element_type().to_dtype())
            n = int(np.prod(list(op.get_output_shape(0))))
            if _counted(dtype, n):
                counts[dtype.name] += n
    return counts


def conv_macs(model: Any, info: ExportInfo, h: int, w: int, source: str) -> float | None:
    """Conv MACs of one run of an OpenVINO model (read from an IR or an ONNX file) at (h, w)
    LR frames, from the static shapes of a reshaped copy; None when a conv's shape is unknown."""
    macs = 0.0
    for op in reshaped(model, info, h, w, source).get_ops():
        kind = op.get_type_name()  # Convolution and its grouped form; not the deformable one
        if kind.endswith("Convolution") and not kind.startswith("Deformable"):
            out, weight = op.get_output_partial_shape(0), op.input_value(1).get_partial_shape()
            if not (out.is_static and weight.is_static):
                return None
            # weights (..., C_in / groups, kh, kw): MACs per output element
            macs += float(np.prod(list(out.to_shape()))) * float(
                np.prod(list(weight.to_shape())[-3:]))
    return macs


def example_inputs(info: ExportInfo, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
    """Random LR frames in [0, 1] (zero states of a cell) shaped as the file takes them."""
    rng = np.random.default_rng(seed)
    shapes = [[*want[:-2], h, w] for want in expected_inputs(info)]
    frames = 1 + (info.cell.previous_frames if info.cell is not None else 0)
    return [rng.random(s, dtype=np.float32) if i < frames else np.zeros(s, np.float32)
            for i, s in enumerate(shapes)]


def profile_file(model: ExportedModel, lr_size: tuple[int, int], threads: int,
                 latency: bool = True, warmup: int = 1, repeats: int = 3) -> FileProfile:
    """Profile an exported file opened in its runtime at LR ``lr_size`` (UserError when the
    runtime cannot run it at that size)."""
    h, w = lr_size
    model.check_size(h, w)
    info = model.info
    graph = model.openvino_model
    if graph is None:  # onnxruntime: OpenVINO only infers the shapes, when it is installed
        try:
            import openvino
        except ImportError:
            openvino = None
        graph = openvino.Core().read_model(str(model.path)) if openvino else None
    counts = ir_weight_counts(graph) if is_ir(model.path) else onnx_weight_counts(model.path)
    macs = None if graph is None else conv_macs(graph, info, h, w, str(model.path))
    per_run = info.frames if info.kind == "window" else 1
    report = FileProfile(model=model.path.name, runtime=model.runtime, kind=info.kind,
                         params=sum(counts.values()), params_by_type=dict(counts),
                         macs_per_frame=None if macs is None else macs / per_run,
                         lr_size=(h, w), frames=per_run, threads=threads)
    if latency:
        inputs = example_inputs(info, h, w)
        for _ in range(warmup):
            model.run(inputs)
        for _ in range(repeats):
            start = time.perf_counter()
            model.run(inputs)
            report.latency_runs_ms.append((time.perf_counter() - start) * 1000 / per_run)
        report.latency_ms_per_frame = statistics.median(report.latency_runs_ms)
        report.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report

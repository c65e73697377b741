"""Hold an exported file's srprune metadata against its graph: a file that contradicts its own
metadata is refused in one line before anything is allocated from it.

* signature: the inputs and outputs a graph of that kind has (names, ranks, 3 colour channels,
  the state widths of a streaming cell as its cell description lists them, T of a window), and
  the spatial sizes: fixed to
  ``lr_size`` when the metadata gives one, symbolic when it says ``dynamic``;
* opset: the metadata's opset is the graph's;
* scale: what the graph really produces, from ONNX shape inference on a copy whose declared
  output and intermediate shapes are cleared (so they cannot lie), with dynamic sizes fixed to
  a probe size. When inference cannot tell (an op it does not follow), :func:`probe_inputs`
  gives zero inputs for one run in the runtime and :func:`check_outputs` checks what came out.
"""

from __future__ import annotations

from typing import Any

from srprune.errors import UserError
from srprune.export.metadata import ExportInfo

SIGNATURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "image": (("lr",), ("sr",)),
    "window": (("lrs",), ("srs",)),
}  # a stream cell's names come from its cell description (CellSpec.input_names / output_names)
PROBE_SIDE = 16  # LR side of the shape probe of a dynamic graph
DYN = "dynamic"
Dims = list[int | None]  # None: symbolic or unknown


def _dims(value: Any) -> Dims | None:
    """The dims of a graph input / output (None when it declares no shape)."""
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]


def expected_inputs(info: ExportInfo) -> list[list[int | str]]:
    """Input dims of a graph of ``info`` (batch 1; ``"dynamic"`` where sizes are symbolic)."""
    h, w = info.lr_size or (DYN, DYN)
    if info.kind == "image":
        return [[1, 3, h, w]]
    if info.cell is not None:
        frames = [[1, 3, h, w] for _ in range(1 + info.cell.previous_frames)]
        return frames + [[1, s.channels, h, w] for s in info.cell.states]
    return [[1, info.frames, 3, h, w]]


def expected_outputs(info: ExportInfo, h: int, w: int) -> list[list[int]]:
    """Output dims of a graph of ``info`` run on (h, w) LR frames."""
    s = info.scale
    if info.kind == "image":
        return [[1, 3, s * h, s * w]]
    if info.cell is not None:
        return [[1, 3, s * h, s * w], *([1, st.channels, h, w] for st in info.cell.states)]
    return [[1, info.frames, 3, s * h, s * w]]


def _describe(values: list[tuple[str, Dims | None]]) -> str:
    def dims(d: Dims | None) -> str:
        return "?" if d is None else "x".join("?" if v is None else str(v) for v in d)
    return ", ".join(f"{name} {dims(d)}" for name, d in values)


def check_signature(graph: Any, info: ExportInfo, source: str) -> None:
    """Names, ranks and static dims of an ONNX graph's inputs and outputs agree with ``info``."""
    weights = {t.name for t in graph.initializer}
    inputs = [(v.name, _dims(v)) for v in graph.input if v.name not in weights]
    outputs = [(v.name, _dims(v)) for v in graph.output]
    check_ports(inputs, outputs, info, source)


def port_names(info: ExportInfo) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(input names, output names) of a graph of ``info``, in order."""
    if info.cell is not None:
        return tuple(info.cell.input_names()), tuple(info.cell.output_names())
    return SIGNATURES[info.kind]


def check_ports(inputs: list[tuple[str, Dims | None]], outputs: list[tuple[str, Dims | None]],
                info: ExportInfo, source: str) -> None:
    """Names, ranks and static dims of a graph's (name, dims) inputs and outputs agree with
    ``info`` (dims None: no shape; a dim None: symbolic). Any format: ONNX or OpenVINO IR."""
    names_in, names_out = port_names(info)
    lie = f"{source}: its metadata does not describe its graph"
    if tuple(n for n, _ in inputs) != names_in or tuple(n for n, _ in outputs) != names_out:
        raise UserError(f"{lie} (a {info.kind} graph takes {', '.join(names_in)} and returns "
                        f"{', '.join(names_out)}; this one takes {_describe(inputs)} and returns "
                        f"{_describe(outputs)})")
    for (name, dims), want in zip(inputs, expected_inputs(info), strict=True):
        ok = dims is not None and len(dims) == len(want) and all(
            (d is None) if w == DYN else (d == w or (i == 0 and d is None))
            for i, (d, w) in enumerate(zip(dims, want, strict=True)))
        if not ok:
            shown = "x".join(str(w) for w in want)
            raise UserError(f"{lie} (input {_describe([(name, dims)])}; the metadata says "
                            f"{shown})")


def check_opset(info: ExportInfo, opset: int, source: str) -> None:
    """The metadata's opset is the graph's."""
    if info.opset != opset:
        raise UserError(f"{source}: its metadata says opset {info.opset} but the graph is "
                        f"opset {opset}")


def probe_size(info: ExportInfo) -> tuple[int, int]:
    """LR (h, w) at which the graph's output shapes are checked."""
    return info.lr_size or (PROBE_SIDE, PROBE_SIDE)


def inferred_outputs(proto: Any, info: ExportInfo) -> list[Dims] | None:
    """Output dims ONNX shape inference derives from the ops alone at :func:`probe_size`, or
    None when it cannot derive them all."""
    import onnx
    from onnx import shape_inference

    h, w = probe_size(info)
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    weights = {t.name for t in copy.graph.initializer}
    for value in copy.graph.input:
        if value.name in weights:
            continue
        dims = value.type.tensor_type.shape.dim
        dims[len(dims) - 2].dim_value, dims[len(dims) - 1].dim_value = h, w
    for value in copy.graph.output:
        value.type.tensor_type.ClearField("shape")
    del copy.graph.value_info[:]
    try:
        inferred = shape_inference.infer_shapes(copy, strict_mode=True, data_prop=True)
    except Exception:  # noqa: BLE001 - onnx raises several types; the runtime probe decides
        return None
    dims = [_dims(v) for v in inferred.graph.output]
    if any(d is None or None in d for d in dims):
        return None
    return dims  # type: ignore[return-value]


def check_outputs(outputs: list[Dims], info: ExportInfo, source: str,
                  size: tuple[int, int] | None = None) -> None:
    """The graph's outputs on (h, w) = ``size`` LR frames (default :func:`probe_size`) are what
    a x``scale`` graph of ``info`` gives."""
    h, w = size or probe_size(info)
    want = expected_outputs(info, h, w)
    if [list(d) for d in outputs] != want:
        got = "; ".join("x".join(str(v) for v in d) for d in outputs)
        shown = "; ".join("x".join(str(v) for v in d) for d in want)
        raise UserError(f"{source}: its metadata does not describe its graph (on {h}x{w} LR "
                        f"frames it returns {got}, not the {shown} of a x{info.scale} "
                        f"{info.kind} graph)")


def check_graph(proto: Any, info: ExportInfo, opset: int, source: str) -> bool:
    """Every check that needs no runtime; True when the scale is verified, False when a run
    on :func:`probe_inputs` must verify it."""
    check_opset(info, opset, source)
    check_signature(proto.graph, info, source)
    outputs = inferred_outputs(proto, info)
    if outputs is None:
        return False
    check_outputs(outputs, info, source)
    return True


def probe_inputs(info: ExportInfo) -> list[Any]:
    """Zero float32 inputs at :func:`probe_size` for one run of the graph."""
    import numpy as np

    h, w = probe_size(info)
    return [np.zeros([h if d == DYN and i == len(want) - 2 else w if d == DYN else d
                      for i, d in enumerate(want)], np.float32)
            for want in expected_inputs(info)]

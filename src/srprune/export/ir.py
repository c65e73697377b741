"""OpenVINO IR files (``.xml`` + ``.bin``) that carry srprune's metadata.

The metadata of an IR is the same string dictionary an ONNX file keeps in ``metadata_props``
(:meth:`~srprune.export.metadata.ExportInfo.to_props`), stored in the model's runtime info under
``rt_info["srprune"][key]`` (:func:`set_ir_props` writes it, :func:`ir_props` reads it; keys
srprune does not know, such as ``quantization``, are kept for their readers). Read back, it is
checked as an ONNX file's is: typed and bounded (``ExportInfo.from_props``), then held against
the graph (names, ranks and static / dynamic dims of the inputs and outputs, and the scale the
graph produces by OpenVINO's shape inference on a copy reshaped to the probe size).

:func:`reshaped` gives a copy of a model fixed to another LR size (``Model.reshape``): OpenVINO
runs a fixed-size file at any size its graph allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srprune.errors import UserError
from srprune.export.graph_checks import (
    Dims,
    check_outputs,
    check_ports,
    expected_inputs,
    port_names,
    probe_size,
)
from srprune.export.metadata import ExportInfo
from srprune.io.special import refuse_special

RT_KEY = "srprune"
"""The runtime-info section of an IR that holds srprune's metadata."""
IR_SUFFIX = ".xml"

__all__ = ["IR_SUFFIX", "RT_KEY", "first_line", "ir_props", "is_ir", "read_ir", "reshaped",
           "set_ir_props"]


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (at most 300 characters)."""
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]


def is_ir(path: str | Path) -> bool:
    """Whether ``path`` names an OpenVINO IR (by its ``.xml`` suffix)."""
    return Path(path).suffix.lower() == IR_SUFFIX


def openvino_module(path: Path, what: str = "running") -> Any:
    """The ``openvino`` package, or a one-line UserError saying how to install it."""
    try:
        import openvino
    except ImportError:
        raise UserError(f"{what} {path.name} in OpenVINO needs the openvino package: "
                        "pip install 'srprune[mobile]'") from None
    return openvino


def set_ir_props(model: Any, props: dict[str, str]) -> None:
    """Store srprune's string metadata in an OpenVINO model (before ``openvino.save_model``)."""
    for key, value in props.items():
        model.set_rt_info(str(value), [RT_KEY, str(key)])


def ir_props(model: Any) -> dict[str, str]:
    """srprune's string metadata of an OpenVINO model ({} when it has none)."""
    if not model.has_rt_info([RT_KEY]):
        return {}
    section = model.get_rt_info([RT_KEY]).value
    if not isinstance(section, dict):
        return {}
    props = {}
    for key in section:
        try:
            props[str(key)] = model.get_rt_info([RT_KEY, str(key)]).astype(str)
        except (RuntimeError, TypeError):  # a nested section: not one of srprune's strings
            continue
    return props


def _dims(port: Any) -> Dims | None:
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic:
        return None
    return [d.get_length() if d.is_static else None for d in shape]


def _ports(ports: Any, expected: tuple[str, ...]) -> list[tuple[str, Dims | None]]:
    """(name, dims) per port; a port with several names is known by the expected one."""
    out = []
    for i, port in enumerate(ports):
        names = port.get_names()
        want = expected[i] if i < len(expected) else None
        name = want if want in names else (sorted(names)[0] if names else f"<unnamed {i}>")
        out.append((name, _dims(port)))
    return out


def reshaped(model: Any, info: ExportInfo, h: int, w: int, source: str) -> Any:
    """A copy of ``model`` with every input fixed to (h, w) LR frames (one-line UserError when
    its graph cannot take that size), its output shapes checked against ``info`` when OpenVINO
    can infer them."""
    import openvino as ov

    copy = model.clone()
    shapes = [ov.PartialShape([*want[:-2], h, w]) for want in expected_inputs(info)]
    try:
        copy.reshape(dict(zip(copy.inputs, shapes, strict=True)))
    except Exception:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses
        fixed = "" if info.lr_size is None else \
            f" (exported for {info.lr_size[0]}x{info.lr_size[1]}: its graph holds that size)"
        raise UserError(f"{source}: OpenVINO cannot reshape its graph to {h}x{w} LR "
                        f"frames{fixed}; re-export it with --lr-size dynamic") from None
    dims = [_dims(o) for o in copy.outputs]
    if all(d is not None and None not in d for d in dims):
        check_outputs(dims, info, source, (h, w))  # type: ignore[arg-type]
    return copy


def check_ir(model: Any, info: ExportInfo, source: str) -> None:
    """The IR's inputs and outputs are what ``info`` describes, and it upscales by its scale
    (OpenVINO's shape inference on a copy at :func:`~srprune.export.graph_checks.probe_size`)."""
    names_in, names_out = port_names(info)
    check_ports(_ports(model.inputs, names_in), _ports(model.outputs, names_out), info, source)
    h, w = probe_size(info)
    if any(d is None or None in d for d in map(_dims, reshaped(model, info, h, w,
                                                               source).outputs)):
        raise UserError(f"{source}: OpenVINO cannot tell the shapes its graph returns on "
                        f"{h}x{w} LR frames, so its scale cannot be checked")


def read_ir(path: str | Path) -> tuple[Any, ExportInfo]:
    """(OpenVINO model, checked srprune metadata) of an IR file; one-line UserError for a
    missing or unreadable file, no or damaged metadata, or a graph the metadata misdescribes."""
    path = Path(path)
    refuse_special(path, "model file", "an OpenVINO .xml file")
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    ov = openvino_module(path, "reading")
    try:
        model = ov.Core().read_model(str(path))
    except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses
        raise UserError(f"{path} is not a readable OpenVINO IR ({first_line(e)}; its .bin "
                        "file must lie beside it)") from None
    info = ExportInfo.from_props(ir_props(model), str(path), "an OpenVINO IR")
    check_ir(model, info, str(path))
    return model, info

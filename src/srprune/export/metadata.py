"""What an exported file says about itself: kind, scale, sizes, the cell, srprune config.

Stored as ONNX ``metadata_props`` (string key -> string value) and read back through the runtime
that opens the file, so a runner needs nothing but the file. Read back, the metadata is untrusted:
it goes through the one config converter (:func:`srprune.typed.build_section`, types and ranges),
its JSON entries are bounded (:mod:`srprune.io.bounded_json`), its config must be a valid srprune
config of the same kind and scale, and :mod:`srprune.export.graph_checks` then holds it against
the graph itself.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from srprune.errors import UserError
from srprune.io.bounded_json import loads_bounded
from srprune.io.model_checks import check_structure
from srprune.models.contract import CellSpec, CellState, is_video, require
from srprune.models.registry import build_model, config_from_dict
from srprune.typed import build_section, check, check_range

FORMAT = "srprune-onnx/1"
KINDS = ("image", "stream", "window")
MAX_FRAMES = 1000      # T of a window graph
MAX_CHANNELS = 16384   # channels of one state a streaming cell carries
MAX_STATES = 16        # states of a streaming cell
MAX_PREVIOUS = 16      # previous LR frames a streaming cell takes
MAX_SIDE = 16384       # LR height or width a graph is fixed to
MAX_SCALE = 8
MAX_OPSET = 100        # bound of the --opset flag; the installed onnx package bounds it further
MIN_OPSET = 17  # GridSample (opset 16) with the opset-17 LayerNorm-era op set ONNX tooling expects
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
QUANTIZATION = "quantization"  # key of an INT8 file's entry: what was quantized and how
MAX_QUANT_TEXT = 65536  # characters
QUANT_RUNTIMES = ("onnxruntime", "openvino")


@dataclass(frozen=True)
class ExportInfo:
    """The facts a runner needs.

    Attributes:
        kind: ``image`` (one frame in, one out), ``stream`` (a causal video model's cell:
            ``lr, *previous frames, *states -> sr, *new states``, as ``cell`` says) or
            ``window`` (T frames in, T out).
        scale: upscaling factor.
        lr_size: (h, w) the graph was exported for, or None when spatial sizes are dynamic.
        frames: T of a window graph (0 otherwise).
        cell: what a ``stream`` file carries between calls (None otherwise): the model's
            :class:`~srprune.models.contract.CellSpec` at export time.
        opset: ONNX opset of the default domain.
        config, structure: the srprune model config and pruned structure.
    """

    kind: Literal["image", "stream", "window"]
    scale: int
    lr_size: tuple[int, int] | None
    frames: int
    cell: CellSpec | None
    opset: int
    config: dict[str, Any]
    structure: dict[str, Any]

    def __post_init__(self) -> None:
        check_range(self.scale, "scale", 1, MAX_SCALE)
        check_range(self.opset, "opset", 1, MAX_OPSET)
        if self.lr_size is not None:
            for side in self.lr_size:
                check_range(side, "lr_size", 1, MAX_SIDE)
        if self.kind == "window":
            check_range(self.frames, "frames", 2, MAX_FRAMES)
        else:
            check(self.frames == 0, "frames", f"must be 0 for a {self.kind} graph, "
                                              f"got {self.frames}")
        check((self.kind == "stream") == (self.cell is not None), "cell",
              f"a {self.kind} file {'needs' if self.kind == 'stream' else 'has no'} a cell "
              "description")
        if self.cell is not None:
            _check_cell(self.cell)

    def to_props(self, version: str) -> dict[str, str]:
        """String metadata for the ONNX file."""
        size = "dynamic" if self.lr_size is None else f"{self.lr_size[0]}x{self.lr_size[1]}"
        props = {"format": FORMAT, "srprune_version": version, "kind": self.kind,
                 "scale": str(self.scale), "lr_size": size, "frames": str(self.frames),
                 "hidden_channels": str(_legacy_width(self.cell)), "opset": str(self.opset),
                 "config": json.dumps(self.config), "structure": json.dumps(self.structure)}
        if self.cell is not None:
            props["cell"] = json.dumps(self.cell.to_dict())
        return props

    @classmethod
    def from_props(cls, props: dict[str, str], source: str,
                   what: str = "an ONNX file") -> ExportInfo:
        """Parse and check metadata read from ``source`` (``what`` it is, for the message);
        one-line UserError when it is not srprune's or is damaged (the graph itself is checked
        by ``graph_checks``). Keys it does not know (e.g. ``quantization``, which
        ``srprune quantize`` adds) are left to their readers."""
        if props.get("format") != FORMAT:
            raise UserError(f"{source} is not {what} exported by srprune "
                            "(no srprune metadata); export it with `srprune export`")
        try:
            info = build_section(cls, _raw_fields(props), "metadata")
            _check_legacy_width(props, info.cell)
            if QUANTIZATION in props:
                parse_quantization(props[QUANTIZATION])
            model = _model_of(info)
        except UserError as e:
            raise UserError(f"{source} has damaged srprune metadata: {e}") from None
        check_structure(Path(source), info.structure, model)
        return info


def parse_quantization(text: str) -> dict[str, Any]:
    """The ``quantization`` entry of an INT8 file (``srprune quantize``), checked: a bounded
    JSON object with ``runtime`` (onnxruntime or openvino), ``scheme`` (text),
    ``kept_fp32`` ({roles: [names], nodes: count}) and ``calibration`` (an object)."""
    if len(text) > MAX_QUANT_TEXT:
        raise UserError(f"metadata.{QUANTIZATION}: longer than {MAX_QUANT_TEXT} characters")
    try:
        data = loads_bounded(text)
    except ValueError as e:
        raise UserError(f"metadata.{QUANTIZATION}: {e}") from None
    kept = data.get("kept_fp32") if isinstance(data, dict) else None
    ok = (isinstance(data, dict) and data.get("runtime") in QUANT_RUNTIMES
          and isinstance(data.get("scheme"), str) and isinstance(data.get("calibration"), dict)
          and isinstance(kept, dict) and isinstance(kept.get("roles"), list)
          and all(isinstance(r, str) for r in kept["roles"])
          and isinstance(kept.get("nodes"), int) and kept["nodes"] >= 0)
    if not ok:
        raise UserError(f"metadata.{QUANTIZATION}: expected {{runtime: onnxruntime|openvino, "
                        "scheme, kept_fp32: {roles: [...], nodes: N}, calibration: {...}}")
    return data


def _check_cell(cell: CellSpec) -> None:
    check_range(len(cell.states), "cell.states", 1, MAX_STATES)
    check_range(cell.previous_frames, "cell.previous_frames", 0, MAX_PREVIOUS)
    names = [s.name for s in cell.states]
    for state in cell.states:
        check(_NAME.fullmatch(state.name) is not None and not state.name.startswith("prev_lr")
              and state.name not in ("lr", "sr"), "cell.states",
              f"{state.name[:40]!r} is not a state name")
        check_range(state.channels, f"cell.states.{state.name}", 1, MAX_CHANNELS)
    check(len(set(names)) == len(names), "cell.states", "names a state twice")


def _legacy_width(cell: CellSpec | None) -> int:
    """``hidden_channels`` as files before ``cell`` had it: the width of a one-state,
    one-previous-frame cell (0 for any other file), so older readers still run such files."""
    if cell is None or len(cell.states) != 1 or cell.previous_frames != 1:
        return 0
    return cell.states[0].channels


def _check_legacy_width(props: dict[str, str], cell: CellSpec | None) -> None:
    """A ``hidden_channels`` entry agrees with the cell it describes for older readers."""
    if "hidden_channels" not in props:
        return
    want = _legacy_width(cell)
    if props["hidden_channels"].strip() != str(want):
        raise UserError(f"metadata.hidden_channels: must be {want} (from the cell description), "
                        f"got {props['hidden_channels'][:40]!r}")


def _cell_fields(props: dict[str, str]) -> Any:
    """The ``cell`` entry as a mapping for the converter; a file written before it (one
    ``hidden`` state of ``hidden_channels``, one previous frame) reads as that cell."""
    if "cell" in props:
        try:
            data = loads_bounded(props["cell"])
        except ValueError as e:
            raise UserError(f"metadata.cell: {e}") from None
        if not isinstance(data, dict) or not isinstance(data.get("states"), list) or not all(
                isinstance(s, list) and len(s) == 2 for s in data["states"]):
            raise UserError("metadata.cell: expected {states: [[name, channels], ...], "
                            "previous_frames: N}")
        return {**data, "states": [{"name": n, "channels": c} for n, c in data["states"]]}
    if props.get("kind") != "stream" or "hidden_channels" not in props:
        return None
    return {"states": [{"name": "hidden", "channels": props["hidden_channels"]}],
            "previous_frames": 1}


def _raw_fields(props: dict[str, str]) -> dict[str, Any]:
    """The metadata fields, JSON decoded (bounded) and ``lr_size`` parsed, still untyped."""
    names = [f.name for f in dataclasses.fields(ExportInfo) if f.name != "cell"]
    missing = [n for n in names if n not in props]
    if missing:
        raise UserError(f"metadata: no {', '.join(missing)} entry")
    raw: dict[str, Any] = {n: props[n] for n in names}
    raw["cell"] = _cell_fields(props)
    size = raw["lr_size"].strip()
    if size == "dynamic":
        raw["lr_size"] = None
    else:
        m = re.fullmatch(r"(\d{1,9})x(\d{1,9})", size)
        if m is None:
            raise UserError(f"metadata.lr_size: {size[:40]!r} is not HxW or dynamic")
        raw["lr_size"] = [int(m[1]), int(m[2])]
    for key in ("config", "structure"):
        try:
            raw[key] = loads_bounded(raw[key])
        except ValueError as e:
            raise UserError(f"metadata.{key}: {e}") from None
    return raw


def export_kind(model: nn.Module) -> str:
    """``image``, ``stream`` or ``window`` for ``model`` (from its contract)."""
    if not is_video(model):
        return "image"
    return "stream" if require(model).causal else "window"


def _model_of(info: ExportInfo) -> Any:
    """The dense model of the config, on the meta device, after checking that the config is
    valid and that its model exports as ``info.kind`` at ``info.scale``."""
    config = config_from_dict(info.config)
    with torch.device("meta"):  # the contract only: no memory, whatever the widths
        model = build_model(config)
    kind = export_kind(model)
    if kind != info.kind:
        raise UserError(f"metadata.kind is {info.kind!r} but its config is a model exported as "
                        f"{kind!r}")
    if int(config.scale) != info.scale:
        raise UserError(f"metadata.scale is {info.scale} but its config has scale "
                        f"{config.scale}")
    return model


__all__ = ["FORMAT", "KINDS", "QUANTIZATION", "CellSpec", "CellState", "ExportInfo", "export_kind"]

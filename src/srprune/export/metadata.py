"""What an exported file says about itself: kind, scale, sizes, the cell, srprune config.

Stored as ONNX ``metadata_props`` (string key -> string value) and read back through the runtime
that opens the file, so a runner needs nothing but the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from srprune.errors import UserError
from srprune.models.contract import CellSpec, CellState

FORMAT = "srprune-onnx/1"
KINDS = ("image", "stream", "window")


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

    kind: str
    scale: int
    lr_size: tuple[int, int] | None
    frames: int
    cell: CellSpec | None
    opset: int
    config: dict[str, Any]
    structure: dict[str, Any]

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
    def from_props(cls, props: dict[str, str], source: str) -> ExportInfo:
        """Parse metadata read from ``source``; UserError when it is not srprune's."""
        if props.get("format") != FORMAT:
            raise UserError(f"{source} is not an ONNX file exported by srprune "
                            "(no srprune metadata); export it with `srprune export`")
        try:
            size = props["lr_size"]
            lr_size = None if size == "dynamic" else tuple(int(v) for v in size.split("x"))
            info = cls(kind=props["kind"], scale=int(props["scale"]), lr_size=lr_size,
                       frames=int(props["frames"]), cell=_read_cell(props),
                       opset=int(props["opset"]), config=json.loads(props["config"]),
                       structure=json.loads(props["structure"]))
        except (KeyError, ValueError, TypeError) as e:
            raise UserError(f"{source} has damaged srprune metadata ({e})") from None
        if info.kind not in KINDS:
            raise UserError(f"{source}: unknown export kind {info.kind!r}")
        if (info.kind == "stream") != (info.cell is not None):
            raise UserError(f"{source} has damaged srprune metadata (a {info.kind} file "
                            f"{'without' if info.cell is None else 'with'} a cell description)")
        return info


def _legacy_width(cell: CellSpec | None) -> int:
    """``hidden_channels`` as files before ``cell`` had it: the width of a one-state,
    one-previous-frame cell (0 for any other file), so older readers still run such files."""
    if cell is None or len(cell.states) != 1 or cell.previous_frames != 1:
        return 0
    return cell.states[0].channels


def _read_cell(props: dict[str, str]) -> CellSpec | None:
    """The ``cell`` entry; a file written before it (one ``hidden`` state of
    ``hidden_channels``, one previous frame) reads as that cell."""
    if "cell" in props:
        return CellSpec.from_dict(json.loads(props["cell"]))
    if props["kind"] != "stream":
        return None
    return CellSpec((CellState("hidden", int(props["hidden_channels"])),), previous_frames=1)

"""What an exported file says about itself: kind, scale, sizes, widths, srprune config.

Stored as ONNX ``metadata_props`` (string key -> string value) and read back through the runtime
that opens the file, so a runner needs nothing but the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from srprune.errors import UserError

FORMAT = "srprune-onnx/1"
KINDS = ("image", "stream", "window")


@dataclass(frozen=True)
class ExportInfo:
    """The facts a runner needs.

    Attributes:
        kind: ``image`` (one frame in, one out), ``stream`` (uni BasicVSR cell: lr, prev_lr,
            hidden -> sr, new_hidden) or ``window`` (T frames in, T out).
        scale: upscaling factor.
        lr_size: (h, w) the graph was exported for, or None when spatial sizes are dynamic.
        frames: T of a window graph (0 otherwise).
        hidden_channels: width of a streaming cell's hidden state (0 otherwise).
        opset: ONNX opset of the default domain.
        config, structure: the srprune model config and pruned structure.
    """

    kind: str
    scale: int
    lr_size: tuple[int, int] | None
    frames: int
    hidden_channels: int
    opset: int
    config: dict[str, Any]
    structure: dict[str, Any]

    def to_props(self, version: str) -> dict[str, str]:
        """String metadata for the ONNX file."""
        size = "dynamic" if self.lr_size is None else f"{self.lr_size[0]}x{self.lr_size[1]}"
        return {"format": FORMAT, "srprune_version": version, "kind": self.kind,
                "scale": str(self.scale), "lr_size": size, "frames": str(self.frames),
                "hidden_channels": str(self.hidden_channels), "opset": str(self.opset),
                "config": json.dumps(self.config), "structure": json.dumps(self.structure)}

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
                       frames=int(props["frames"]), hidden_channels=int(props["hidden_channels"]),
                       opset=int(props["opset"]), config=json.loads(props["config"]),
                       structure=json.loads(props["structure"]))
        except (KeyError, ValueError) as e:
            raise UserError(f"{source} has damaged srprune metadata ({e})") from None
        if info.kind not in KINDS:
            raise UserError(f"{source}: unknown export kind {info.kind!r}")
        return info

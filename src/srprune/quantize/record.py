"""What an INT8 file says about itself: the float file's srprune metadata plus a
``quantization`` entry (runtime, scheme, what stayed float, calibration count and hash).

An ONNX file carries it as ``metadata_props``; an OpenVINO IR carries the same string dict in
its runtime info under ``srprune`` (``model.set_rt_info(value, ["srprune", key])``), which
:meth:`srprune.export.metadata.ExportInfo.from_props` reads as it reads ONNX props.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srprune.export.metadata import QUANTIZATION, parse_quantization
from srprune.quantize.calibration import Calibration


@dataclass(frozen=True)
class QuantRecord:
    """The ``quantization`` entry.

    Attributes:
        runtime: ``onnxruntime`` or ``openvino``.
        scheme: how weights and activations were quantized (text).
        kept_roles: the model's roles kept in float.
        kept_nodes: float nodes those roles hold (ONNX nodes; OpenVINO ops for IR).
        tool: the quantizing library and its version.
        samples, frames, size, digest: calibration graph inputs, LR frames they came from,
            their (h, w), and the frames' sha256 (16 hex digits).
    """

    runtime: str
    scheme: str
    kept_roles: tuple[str, ...]
    kept_nodes: int
    tool: str
    samples: int
    frames: int
    size: tuple[int, int]
    digest: str

    @classmethod
    def of(cls, runtime: str, scheme: str, kept: dict[str, list[str]], tool: str,
           calib: Calibration) -> QuantRecord:
        """The record of a file quantized with ``kept`` (role -> float node names)."""
        nodes = len({n for names in kept.values() for n in names})
        return cls(runtime, scheme, tuple(kept), nodes, tool, len(calib.samples),
                   calib.frame_count(), calib.size, calib.digest)

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "scheme": self.scheme,
                "kept_fp32": {"roles": list(self.kept_roles), "nodes": self.kept_nodes},
                "tool": self.tool,
                "calibration": {"samples": self.samples, "frames": self.frames,
                                "size": f"{self.size[0]}x{self.size[1]}",
                                "sha256": self.digest}}

    def props(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` (the float file's props) with this record added."""
        text = json.dumps(self.to_dict())
        parse_quantization(text)  # what readers accept is what is written
        return {**base, QUANTIZATION: text}


def onnx_props(path: str | Path) -> dict[str, str]:
    """The metadata props of an ONNX file."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


def write_onnx_props(path: str | Path, props: dict[str, str]) -> None:
    """Replace the metadata props of the ONNX file at ``path`` (in place)."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))

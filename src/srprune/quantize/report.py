"""What quantizing cost and gained: INT8 against its own float export, in the same runtime.

* fidelity: PSNR of the INT8 output against the float export's output (both rounded to 8 bits)
  on the held-out calibration clips, frame by frame, run as ``srprune upscale`` runs the file
  (frames, windows without overlap, or the cell streamed with its states);
* latency: one graph call of each at the file's size (a calibration sample), median of
  interleaved repeats after a warm-up;
* drift (video models): :func:`srprune.eval.drift.temporal_drift` of the INT8 frames against
  the float ones over ``drift_frames`` frames of the held-out clips played forth and back
  (:func:`~srprune.eval.drift.ping_pong`): the first 10 frames' mean PSNR against the last 10,
  growth flagged above 0.1 dB.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srprune.eval.drift import PSNR_CAP, ping_pong, temporal_drift
from srprune.eval.metrics import psnr, tensor_to_uint8
from srprune.export.metadata import ExportInfo
from srprune.export.runtime import ExportedModel
from srprune.infer.onnx_runner import exported_frames
from srprune.profile import time_interleaved
from srprune.quantize.calibration import Calibration, Sample

MAX_PSNR = PSNR_CAP  # identical frames score this instead of inf


def open_model(path: Path, runtime: str, info: ExportInfo, threads: int = 0) -> Any:
    """An exported (``.onnx``) or INT8 (``.onnx`` / ``.xml``) file ready to run: an IR in
    OpenVINO (its srprune metadata in rt_info, checked as :mod:`srprune.export.ir` does)."""
    return ExportedModel(path, "openvino" if path.suffix.lower() == ".xml" else runtime,
                         threads)


def _frames(model: Any, clip: list[np.ndarray]) -> Iterator[np.ndarray]:
    """uint8 SR frames of ``clip`` through ``model`` (windows without overlap)."""
    for sr in exported_frames(model, iter(clip), overlap=0):
        yield tensor_to_uint8(torch.from_numpy(sr))


def frame_psnrs(reference: Any, candidate: Any, clip: list[np.ndarray]) -> list[float]:
    """Per-frame PSNR (dB, capped at :data:`MAX_PSNR`) of ``candidate`` against ``reference``."""
    return [min(MAX_PSNR, psnr(c, r))
            for r, c in zip(_frames(reference, clip), _frames(candidate, clip), strict=True)]


def latency(models: list[Any], sample: Sample, repeats: int) -> list[float]:
    """Median seconds per call of each model on ``sample``, calls interleaved after one
    warm-up round (:func:`srprune.profile.time_interleaved`)."""
    runs = time_interleaved({str(i): (lambda m=m: m.run(sample)) for i, m in enumerate(models)},
                            warmup=1, repeats=repeats)
    return [statistics.median(runs[str(i)]) / 1000 for i in range(len(models))]


@dataclass
class Report:
    """The quantize report (stdout and ``OUT.quantize.json``)."""

    output: str
    runtime: str
    kind: str
    lr_size: str
    record: dict[str, Any]
    psnr_db: float
    held_out_frames: int
    latency_fp32_s: float
    latency_int8_s: float
    drift: dict[str, Any] | None
    roles: dict[str, int] = field(default_factory=dict)  # declared role -> ONNX nodes in it

    @property
    def speedup(self) -> float:
        return self.latency_fp32_s / self.latency_int8_s if self.latency_int8_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "speedup": round(self.speedup, 3)}

    def lines(self) -> list[str]:
        kept = self.record["kept_fp32"]
        roles = ", ".join(kept["roles"]) or "nothing"
        out = [f"wrote {self.output}: INT8 for {self.runtime} ({self.kind}, LR {self.lr_size}); "
               f"kept in float: {roles} ({kept['nodes']} nodes)",
               "  roles the model declares: " + (", ".join(
                   f"{r} ({n} nodes)" for r, n in self.roles.items()) or "none"),
               f"  fidelity to the float export: {self.psnr_db:.2f} dB PSNR on "
               f"{self.held_out_frames} held-out frames",
               f"  latency per call: float {1e3 * self.latency_fp32_s:.1f} ms, INT8 "
               f"{1e3 * self.latency_int8_s:.1f} ms ({self.speedup:.2f}x)"]
        if self.drift is not None:
            out.append(f"  {self.drift['summary']}")
        return out


def evaluate(fp32: Any, int8: Any, calib: Calibration, repeats: int = 5,
             drift_frames: int = 100) -> tuple[float, int, list[float], dict[str, Any] | None]:
    """(mean held-out PSNR, held-out frames, [float, INT8] seconds per call, drift or None)."""
    scores = [p for c in calib.held_out for p in frame_psnrs(fp32, int8, c.frames)]
    mean = statistics.fmean(scores) if scores else math.nan
    times = latency([fp32, int8], calib.samples[0], repeats)
    result = None
    if fp32.info.kind != "image" and drift_frames > 0:
        clip = ping_pong([f for c in calib.held_out for f in c.frames], max(2, drift_frames))
        found = temporal_drift(_frames(fp32, clip), _frames(int8, clip))
        result = {**found.to_json(), "summary": found.summary()}
    return mean, len(scores), times, result

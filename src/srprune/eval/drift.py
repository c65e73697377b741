"""Temporal drift: does a candidate's error against a reference grow along a long clip?

A recurrent video model carries hidden states from frame to frame, so an approximation (a
pruned, quantized or exported model) can accumulate error through them: its PSNR against the
reference model would then fall from the first frames to the last. :func:`temporal_drift`
scores a candidate stream against a reference stream frame by frame and compares the mean of
the first ``window`` frames with the mean of the last ``window``; ``growth`` is set when the
last mean is more than ``threshold`` dB below the first.

Frame convention: both streams yield **uint8 RGB images of shape (H, W, 3)**, what
:func:`srprune.eval.metrics.tensor_to_uint8` returns and what the metrics score (float SR
frames of shape (3, H, W) in [0, 1], as models and exported runners produce, convert with
:func:`uint8_frames`). PSNR follows :mod:`srprune.eval.metrics` with a
:class:`~srprune.eval.conventions.MetricConvention` (default: RGB, no border crop, as fidelity
to a teacher is scored); identical frames (``inf``) count as :data:`PSNR_CAP` dB so means stay
finite.

:func:`ping_pong` makes a long LR clip from a short one: forward, then backward, then forward
again (0, 1, ..., n-1, n-2, ..., 1, 0, 1, ...), so consecutive frames are always neighbours in
the source and there is no jump cut that would reset what the hidden state carries.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from srprune.errors import UserError
from srprune.eval.conventions import MetricConvention
from srprune.eval.metrics import psnr, tensor_to_uint8

__all__ = ["DEFAULT_LENGTH", "GROWTH_DB", "PSNR_CAP", "WINDOW", "DriftReport", "drift_from_psnrs",
           "ping_pong", "temporal_drift", "uint8_frames"]

WINDOW = 10
"""Frames averaged at each end of the stream."""
GROWTH_DB = 0.1
"""Growth is flagged when the last window's mean PSNR is more than this below the first's."""
PSNR_CAP = 100.0
"""dB counted for identical frames (PSNR ``inf``)."""
DEFAULT_LENGTH = 100
"""Frames of a long clip (issue 20: drift is measured over at least 100 frames)."""
_TOLERANCE = 1e-9  # dB: a drop equal to the threshold up to float rounding is not growth
_RGB = MetricConvention(test_y=False, crop_border=0, centre_frame_only=False)
T = TypeVar("T")


@dataclass(frozen=True)
class DriftReport:
    """Per-frame PSNR of a candidate against a reference and whether its error grows.

    Attributes:
        psnr: dB per frame, in stream order (identical frames: :data:`PSNR_CAP`).
        window: frames averaged at each end (``min(WINDOW, frames // 2)``).
        threshold: dB drop from the first to the last window that counts as growth.
        convention: how frames were scored (``MetricConvention.describe()``).
    """

    psnr: tuple[float, ...]
    window: int = WINDOW
    threshold: float = GROWTH_DB
    convention: str = field(default_factory=_RGB.describe)

    @property
    def frames(self) -> int:
        """Frames scored."""
        return len(self.psnr)

    @property
    def first(self) -> float:
        """Mean PSNR of the first ``window`` frames."""
        return statistics.fmean(self.psnr[: self.window])

    @property
    def last(self) -> float:
        """Mean PSNR of the last ``window`` frames."""
        return statistics.fmean(self.psnr[-self.window:])

    @property
    def drop(self) -> float:
        """``first - last`` in dB (positive: the candidate gets worse along the stream)."""
        return self.first - self.last

    @property
    def growth(self) -> bool:
        """The last window is more than ``threshold`` dB below the first."""
        return self.drop > self.threshold + _TOLERANCE

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (the per-frame list included)."""
        return {"frames": self.frames, "window": self.window, "threshold_db": self.threshold,
                "first_mean_db": self.first, "last_mean_db": self.last, "drop_db": self.drop,
                "growth": self.growth, "mean_db": statistics.fmean(self.psnr),
                "min_db": min(self.psnr), "convention": self.convention,
                "psnr": list(self.psnr)}

    def summary(self) -> str:
        """One line, e.g. ``drift over 100 frames: first 10 41.20 dB, last 10 41.15 dB
        (-0.05 dB): no growth``."""
        verdict = (f"GROWTH (> {self.threshold:g} dB)" if self.growth
                   else f"no growth (<= {self.threshold:g} dB)")
        change = round(-self.drop, 2) + 0.0  # + 0.0: no "-0.00"
        return (f"drift over {self.frames} frames: first {self.window} {self.first:.2f} dB, "
                f"last {self.window} {self.last:.2f} dB ({change:+.2f} dB): {verdict}")

    def dumps(self) -> str:
        """:meth:`to_json` as a JSON string."""
        return json.dumps(self.to_json(), indent=2)


def drift_from_psnrs(psnrs: Sequence[float], window: int = WINDOW, threshold: float = GROWTH_DB,
                     convention: MetricConvention = _RGB) -> DriftReport:
    """A :class:`DriftReport` of per-frame PSNRs (at least 2; ``inf`` counts as the cap)."""
    values = tuple(min(float(v), PSNR_CAP) for v in psnrs)
    if len(values) < 2:
        raise UserError(f"temporal drift needs at least 2 frames, got {len(values)}")
    if any(math.isnan(v) for v in values):
        raise UserError("temporal drift: a frame's PSNR is NaN")
    if window < 1 or threshold < 0:
        raise UserError(f"temporal drift: window must be >= 1 and threshold >= 0, got "
                        f"{window} and {threshold}")
    return DriftReport(values, min(window, len(values) // 2), float(threshold),
                       convention.describe())


def _check_frame(frame: Any, what: str, index: int) -> np.ndarray:
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise UserError(f"temporal drift: {what} frame {index} must be a uint8 (H, W, 3) image, "
                        f"got {arr.dtype} {arr.shape} (convert float frames with uint8_frames)")
    return arr


def temporal_drift(reference: Iterable[np.ndarray], candidate: Iterable[np.ndarray],
                   convention: MetricConvention = _RGB, window: int = WINDOW,
                   threshold: float = GROWTH_DB) -> DriftReport:
    """Score ``candidate`` against ``reference`` frame by frame (both uint8 (H, W, 3) streams
    of the same length; each is consumed once, one frame of each held at a time)."""
    values: list[float] = []
    ref_it, cand_it = iter(reference), iter(candidate)
    sentinel = object()
    while True:
        ref, cand = next(ref_it, sentinel), next(cand_it, sentinel)
        if ref is sentinel or cand is sentinel:
            if ref is not cand:
                longer = "reference" if cand is sentinel else "candidate"
                raise UserError(f"temporal drift: the {longer} stream is longer than the other "
                                f"(both stopped being equal after {len(values)} frames)")
            break
        i = len(values)
        a, b = _check_frame(cand, "candidate", i), _check_frame(ref, "reference", i)
        values.append(psnr(a, b, convention.crop_border, convention.test_y))
    return drift_from_psnrs(values, window, threshold, convention)


def uint8_frames(frames: Iterable[np.ndarray | torch.Tensor]) -> Iterable[np.ndarray]:
    """Float (3, H, W) frames in [0, 1] (NumPy or torch) -> uint8 (H, W, 3), lazily, rounded as
    :func:`~srprune.eval.metrics.tensor_to_uint8` rounds them."""
    for frame in frames:
        yield tensor_to_uint8(torch.as_tensor(frame))


def ping_pong(frames: Sequence[T], length: int = DEFAULT_LENGTH) -> list[T]:
    """``length`` frames of ``frames`` played forward, backward, forward, ... (no jump cut:
    each frame is followed by one of its neighbours in ``frames``)."""
    n = len(frames)
    if n == 0:
        raise UserError("ping_pong: the clip has no frames")
    if length < 1:
        raise UserError(f"ping_pong: length must be >= 1, got {length}")
    if n == 1:
        return [frames[0]] * length
    period = 2 * n - 2
    return [frames[i if i < n else period - i] for i in (k % period for k in range(length))]

"""Calibration data for post-training INT8: the user's LR frames, cut to what the graph takes.

Frames come from ``--calib DIR`` through :mod:`srprune.data.lr_frames` (image folders, clip
folders, videos; grayscale or alpha images refused there). A graph fixed to ``lr_size`` gets the
central ``lr_size`` crop of every frame (the same crop through a clip); a dynamic graph gets the
frames at their own size, centre-cropped to at most :data:`DYNAMIC_CAP`. Nothing is resized.

The clips are split as for distillation (:func:`~srprune.data.lr_frames.split_held_out`): the
held-out part never calibrates and is what the report scores. Calibration samples are graph
inputs: frames for an image graph, non-overlapping T-frame windows for a window graph, and for
a streaming cell the inputs it really receives (frame, previous frames, states) when the clip is
streamed through the float cell, states included (:func:`stream_samples`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srprune.data.lr_frames import LRClip, load_lr_clips, split_held_out
from srprune.errors import UserError
from srprune.export.metadata import ExportInfo

DYNAMIC_CAP = (180, 320)  # largest frame a dynamic graph is calibrated on
MIN_FRAMES = 4            # fewest frames --calib may hold (calibration plus held-out)
MIN_SIDE = 8              # smallest LR side an exported graph takes
MAX_SOURCE_FRAMES = 300   # frames read per video / clip folder

Sample = list[np.ndarray]  # graph inputs, float32, in the graph's input order
Runner = Callable[[Sample], list[np.ndarray]]


@dataclass
class Calibration:
    """What quantization reads and what the report scores.

    Attributes:
        clips: calibration clips, cropped (uint8 (h, w, 3) frames).
        held_out: held-out clips, cropped the same way.
        samples: calibration graph inputs (filled by :func:`image_samples`,
            :func:`window_samples` or :func:`stream_samples`).
        digest: sha256 (16 hex digits) of the calibration frames, in order.
    """

    clips: list[LRClip]
    held_out: list[LRClip]
    samples: list[Sample]
    digest: str

    @property
    def size(self) -> tuple[int, int]:
        """(h, w) of the first calibration frame."""
        return tuple(self.clips[0].frames[0].shape[:2])  # type: ignore[return-value]

    def frame_count(self) -> int:
        return sum(len(c) for c in self.clips)


def _crop(clip: LRClip, size: tuple[int, int] | None, source: str) -> LRClip:
    h, w = clip.frames[0].shape[:2]
    if min(h, w) < MIN_SIDE:
        raise UserError(f"{source}: clip {clip.name} is {h}x{w}; frames need at least "
                        f"{MIN_SIDE}x{MIN_SIDE} pixels")
    if size is None:
        th, tw = min(h, DYNAMIC_CAP[0]), min(w, DYNAMIC_CAP[1])
    else:
        th, tw = size
        if h < th or w < tw:
            raise UserError(f"{source}: clip {clip.name} is {h}x{w}, smaller than the "
                            f"--lr-size {th}x{tw} the graph takes (crops are not upscaled)")
    y, x = (h - th) // 2, (w - tw) // 2
    return LRClip(clip.name, [np.ascontiguousarray(f[y:y + th, x:x + tw]) for f in clip.frames])


def _digest(clips: list[LRClip]) -> str:
    sha = hashlib.sha256()
    for clip in clips:
        for frame in clip.frames:
            sha.update(np.asarray(frame.shape, np.int64).tobytes())
            sha.update(frame.tobytes())
    return sha.hexdigest()[:16]


def read_calibration(root: str | Path, kind: str, lr_size: tuple[int, int] | None,
                     window: int = 1) -> Calibration:
    """Clips of ``root`` cropped for a ``kind`` graph (``image``, ``window`` of ``window``
    frames, ``stream``) fixed to ``lr_size`` (None: dynamic), split into calibration and
    held-out; one-line UserErrors for no frames, too few, or frames smaller than the graph."""
    source = f"--calib {root}"
    if not Path(root).exists():
        raise UserError(f"{source}: not found (a folder of LR frames, of frame folders or of "
                        "videos, or a video file)")
    clips = load_lr_clips(root, kind != "image", MAX_SOURCE_FRAMES, MAX_SOURCE_FRAMES)
    clips = [_crop(c, lr_size, source) for c in clips]
    window = window if kind == "window" else 1
    total = sum(len(c) for c in clips)
    need = max(MIN_FRAMES, window + 1)
    if total < need:
        raise UserError(f"{source} has {total} frame{'s' if total != 1 else ''}; quantizing "
                        f"needs at least {need} (calibration plus held-out frames)")
    short = [c for c in clips if len(c) < window]
    if short:
        raise UserError(f"{source}: clip {short[0].name} has {len(short[0])} frames, fewer "
                        f"than the {window}-frame window of this graph (--frames)")
    try:
        train, held = split_held_out(clips, window)
    except UserError as e:
        raise UserError(f"{source}: too few frames for calibration plus held-out frames "
                        f"({e})") from None
    return Calibration(train, held, [], _digest(train))


def _spread(items: list, count: int) -> list:
    """At most ``count`` of ``items``, evenly spaced, first one included."""
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def to_float(frame: np.ndarray) -> np.ndarray:
    """uint8 (h, w, 3) -> float32 (1, 3, h, w) in [0, 1]."""
    return (frame.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)).copy()


def image_samples(calib: Calibration, count: int) -> list[Sample]:
    """One sample per frame, at most ``count`` spread over the clips."""
    frames = [f for c in calib.clips for f in c.frames]
    return [[to_float(f)] for f in _spread(frames, count)]


def window_samples(calib: Calibration, frames: int, count: int) -> list[Sample]:
    """Non-overlapping ``frames``-frame windows of every clip, at most ``count`` of them."""
    windows = [c.frames[s:s + frames] for c in calib.clips
               for s in range(0, len(c) - frames + 1, frames)]
    return [[np.concatenate([to_float(f) for f in w])[None]] for w in _spread(windows, count)]


def stream_samples(calib: Calibration, info: ExportInfo, cell: Runner, count: int
                   ) -> list[Sample]:
    """The inputs the float ``cell`` receives while each clip streams through it (previous
    frames and states as :func:`srprune.infer.onnx_runner.stream_frames` carries them), at most
    ``count`` spread over all steps."""
    assert info.cell is not None
    steps: list[Sample] = []
    for clip in calib.clips:
        previous: list[np.ndarray] = []
        states: list[np.ndarray] = []
        for i, frame in enumerate(clip.frames):
            lr = to_float(frame)
            if i == 0:
                previous = [lr] * info.cell.previous_frames
                states = [np.zeros((1, s.channels, *lr.shape[-2:]), np.float32)
                          for s in info.cell.states]
            inputs = [lr, *previous, *states]
            steps.append(inputs)
            _, *states = cell(inputs)
            previous = [lr, *previous][:info.cell.previous_frames]
    return _spread(steps, count)


def fill_samples(calib: Calibration, info: ExportInfo, count: int, cell: Runner | None) -> None:
    """Set ``calib.samples`` for a graph of ``info`` (``cell``: the float cell of a stream)."""
    if info.kind == "image":
        calib.samples = image_samples(calib, count)
    elif info.kind == "window":
        calib.samples = window_samples(calib, info.frames, count)
    else:
        if cell is None:
            raise ValueError("a streaming cell calibrates on the float cell's inputs")
        calib.samples = stream_samples(calib, info, cell, count)

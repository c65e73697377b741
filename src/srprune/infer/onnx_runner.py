"""Upscale a video or frame folder through an exported model (ONNX, or OpenVINO IR) in
onnxruntime or OpenVINO, at any frame size the runtime can run the file at
(:meth:`~srprune.export.runtime.ExportedModel.check_size`).

* ``image`` files run frame by frame;
* ``stream`` files (causal video models' cells) carry the states and previous frames their
  metadata's cell description lists from one call to the next (BasicVSR-uni: one hidden state
  and one frame);
* ``window`` files (bidirectional BasicVSR, T frames) run window by window
  (:func:`srprune.infer.windows.windows` with ``length=T``, the schedule the PyTorch upscaler
  uses with ``chunk``): each window keeps its central outputs and ``overlap`` context frames on
  each side, the last window ends at the last frame, and a video shorter than T is padded by
  repeating its last frame (those outputs are dropped). At most 2T LR frames are held.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from tqdm import tqdm

from srprune.errors import UserError
from srprune.eval.metrics import tensor_to_uint8
from srprune.export.runtime import ExportedModel
from srprune.infer.io import FrameSink, FrameSource
from srprune.infer.windows import windows


def _lr(frame: np.ndarray) -> np.ndarray:
    """uint8 (h, w, 3) -> float32 (3, h, w) in [0, 1], as ``data.images.to_tensor``."""
    return np.ascontiguousarray(frame.transpose(2, 0, 1)).astype(np.float32) / np.float32(255.0)


def _uint8(sr: np.ndarray) -> np.ndarray:
    return tensor_to_uint8(torch.from_numpy(sr))


def _checked(model: ExportedModel, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    for frame in frames:
        h, w = frame.shape[:2]
        model.check_size(h, w)
        if h < 8 or w < 8:
            raise UserError(f"frame {h}x{w} is too small: exported models need 8x8 pixels")
        yield frame


def stream_frames(model: ExportedModel, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Float SR frames (3, H, W) of a ``stream`` file, one call per frame: the inputs are the
    frame, the previous frames (most recent first; the first frame stands in for missing ones)
    and the states, zeros at first, in the order the file's cell description gives."""
    cell = model.info.cell
    if cell is None:
        raise UserError(f"{model.path.name} is not a streaming cell")
    previous: list[np.ndarray] = []
    states: list[np.ndarray] = []
    for i, frame in enumerate(frames):
        lr = _lr(frame)[None]
        if i == 0:
            previous = [lr] * cell.previous_frames
            states = [np.zeros((1, s.channels, *lr.shape[-2:]), np.float32) for s in cell.states]
        sr, *states = model.run([lr, *previous, *states])
        previous = [lr, *previous][:cell.previous_frames]
        yield sr[0]


def window_frames(model: ExportedModel, frames: Iterator[np.ndarray], overlap: int
                  ) -> Iterator[np.ndarray]:
    """Float SR frames (3, H, W) of a ``window`` file, window by window."""
    t = model.info.frames
    overlap = max(0, min(overlap, (t - 1) // 2))
    for window in windows((_lr(f) for f in frames), overlap, length=t):
        out = model.run([np.stack(window.clip)[None]])[0][0]
        for i in window.keep:
            yield out[i - window.start]


def exported_frames(model: ExportedModel, frames: Iterator[np.ndarray], overlap: int = 2
                    ) -> Iterator[np.ndarray]:
    """Float SR frames (3, H, W) of any exported file, in order."""
    frames = _checked(model, frames)
    kind = model.info.kind
    if kind == "stream":
        return stream_frames(model, frames)
    if kind == "window":
        return window_frames(model, frames, overlap)
    return (model.run([_lr(f)[None]])[0][0] for f in frames)


def upscale_exported(model: ExportedModel, source: FrameSource, sink: FrameSink,
                     overlap: int = 2, progress: bool = True) -> int:
    """Upscale every frame of ``source`` into ``sink`` (atomic); returns the frame count."""
    bar = tqdm(total=source.num_frames, unit="frame", disable=not progress,
               desc=f"upscale ({model.runtime})", dynamic_ncols=True)
    with sink, bar:
        for sr in exported_frames(model, iter(source), overlap):
            sink.write(_uint8(sr))
            bar.update(1)
    return sink.count

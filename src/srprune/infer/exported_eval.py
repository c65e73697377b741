"""Score an exported file (ONNX or OpenVINO IR) on a dataset as ``srprune test`` scores a
PyTorch model: the same clips, conventions and :class:`~srprune.eval.scores.ScoreBook`, with
the SR frames produced by :func:`~srprune.infer.onnx_runner.exported_frames` (a window file
window by window, a cell frame by frame, an image file per frame).

Each clip runs at its own size (a dynamic file at any size; a fixed-size one as
:meth:`~srprune.export.runtime.ExportedModel.check_size` allows). Temporal-flip self-ensemble
is BasicSR's ``flip_seq``: the clip and its reversal run as one sequence of 2T frames and
output t is the mean of outputs t and 2T-1-t.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from srprune.data.images import to_tensor, write_image
from srprune.data.layouts import Clip, load_clip_uint8
from srprune.eval.conventions import MetricConvention
from srprune.eval.metrics import tensor_to_uint8
from srprune.eval.scores import ScoreBook
from srprune.export.runtime import ExportedModel
from srprune.infer.onnx_runner import exported_frames

OVERLAP = 5
"""Context frames on each side of a window file's windows (as ``srprune upscale``'s default;
at most (T - 1) // 2 are used)."""


def exported_sr(model: ExportedModel, lr: np.ndarray, flip: bool = False,
                overlap: int = OVERLAP) -> torch.Tensor:
    """SR frames (T, 3, H, W), float32 in [0, 1], of uint8 LR frames (T, h, w, 3)."""
    video = model.info.kind != "image"
    frames = np.concatenate([lr, lr[::-1]]) if flip and video else lr
    out = np.stack(list(exported_frames(model, iter(frames), overlap)))
    if flip and video:
        t = len(lr)
        out = 0.5 * (out[:t] + out[t:][::-1])
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).clamp_(0, 1)


def evaluate_exported(model: ExportedModel, clips: list[Clip], conv: MetricConvention,
                      save_frames: Path | None = None, progress: bool = False) -> ScoreBook:
    """Score ``model`` on ``clips`` (its own scale); optionally save SR frames per clip."""
    book = ScoreBook(conv)
    for clip in tqdm(clips, desc=f"test ({model.runtime})", unit="clip", disable=not progress):
        lr, gt = load_clip_uint8(clip, model.info.scale)
        sr = exported_sr(model, lr, conv.flip_ensemble)
        book.add_clip(clip.name, sr, to_tensor(gt), conv)
        if save_frames is not None:
            for t, frame in enumerate(sr):
                write_image(save_frames / clip.name / f"{t:08d}.png", tensor_to_uint8(frame))
    return book

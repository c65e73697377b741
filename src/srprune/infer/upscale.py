"""Upscale a whole video or frame folder with any srprune model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from srprune.data.images import to_tensor
from srprune.errors import UserError
from srprune.eval.metrics import tensor_to_uint8
from srprune.infer.chunks import tiled
from srprune.infer.io import FrameSink, FrameSource
from srprune.infer.windows import windows
from srprune.models.contract import VideoSRModel, require
from srprune.precision import autocast, check_precision

MIN_LR_SIZE = 4


@dataclass(frozen=True)
class UpscaleOptions:
    """How to cut the work: ``chunk`` frames (+ ``overlap`` context) per non-causal run;
    spatial ``tile`` size in LR pixels (0 = whole frame) with ``tile_pad`` context pixels."""

    chunk: int = 30
    overlap: int = 5
    tile: int = 0
    tile_pad: int = 16
    device: str = "cpu"
    channels_last: bool = True
    precision: str = "fp32"


def _check_size(frame: np.ndarray) -> None:
    h, w = frame.shape[:2]
    if h < MIN_LR_SIZE or w < MIN_LR_SIZE:
        raise UserError(f"frame {h}x{w} is too small: the model needs at least "
                        f"{MIN_LR_SIZE}x{MIN_LR_SIZE} pixels")


def _checked_frame(frame: np.ndarray) -> np.ndarray:
    _check_size(frame)
    return frame


def _frames_out(model: nn.Module, source: FrameSource, opt: UpscaleOptions
                ) -> Iterator[np.ndarray]:
    """SR frames in order, uint8 (H, W, 3)."""
    device = torch.device(opt.device)
    scale = model.config.scale

    def to_batch(frames: list[np.ndarray]) -> torch.Tensor:
        return torch.stack([to_tensor(f) for f in frames]).to(device)

    def run_clip(lrs: torch.Tensor) -> torch.Tensor:  # (1,T,3,h,w) -> (1,T,3,H,W)
        return tiled(model, lrs, scale, opt.tile, opt.tile_pad)

    if not model.is_video:
        for frame in source:
            _check_size(frame)
            sr = tiled(model, to_batch([frame]), scale, opt.tile, opt.tile_pad)
            yield tensor_to_uint8(sr[0])
        return
    if model.causal and opt.tile <= 0:
        def lr_stream() -> Iterator[torch.Tensor]:
            for frame in source:
                _check_size(frame)
                yield to_batch([frame])
        for sr in require(model, VideoSRModel).stream(lr_stream()):
            yield tensor_to_uint8(sr[0])
        return
    # Non-causal (or tiled) video: a chunk plus context at a time.
    for window in windows(map(_checked_frame, source), opt.overlap, chunk=opt.chunk):
        sr = run_clip(to_batch(window.clip).unsqueeze(0))[0]
        for t in window.keep:
            yield tensor_to_uint8(sr[t - window.start])


def upscale(model: nn.Module, source: FrameSource, sink: FrameSink, opt: UpscaleOptions,
            progress: bool = True) -> int:
    """Upscale every frame of ``source`` into ``sink``; returns the number of frames written."""
    check_precision(opt.precision, opt.device)
    fmt = torch.channels_last if opt.channels_last else torch.contiguous_format
    model = model.to(opt.device, memory_format=fmt).eval()
    bar = tqdm(total=source.num_frames, unit="frame", disable=not progress,
               desc="upscale", dynamic_ncols=True)
    with torch.inference_mode(), autocast(opt.precision, opt.device), sink, bar:
        for frame in _frames_out(model, source, opt):
            sink.write(frame)
            bar.update(1)
    return sink.count


__all__ = ["UpscaleOptions", "upscale"]

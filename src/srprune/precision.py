"""Mixed precision: ``fp32`` (default), ``bf16`` or ``fp16`` autocast for training and inference.

Only the model's forward pass runs under :func:`torch.autocast`; its output is cast back to
float32 before any loss, metric or uint8 conversion, so losses, gradients of the loss terms,
PSNR/SSIM and written frames are computed in fp32. ``bf16`` works on CPU and CUDA; ``fp16``
autocast is CUDA-only here (it needs a gradient scaler, :func:`grad_scaler`, when training).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

from srprune.errors import UserError

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def device_type(device: str | torch.device) -> str:
    """``cpu`` / ``cuda`` of a device name such as ``cuda:1``."""
    return torch.device(device).type


def check_precision(precision: str, device: str | torch.device) -> None:
    """UserError unless ``precision`` can run on ``device`` (fp16 needs CUDA)."""
    if precision not in PRECISIONS:
        raise UserError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device_type(device) != "cuda":
        raise UserError("fp16 autocast needs a CUDA device; on the CPU use --precision bf16 "
                        "(or fp32)")


@contextlib.contextmanager
def autocast(precision: str, device: str | torch.device) -> Iterator[None]:
    """Autocast to ``precision`` on ``device`` (nothing for fp32)."""
    if precision == "fp32":
        yield
        return
    check_precision(precision, device)
    with torch.autocast(device_type(device), dtype=DTYPES[precision]):
        yield


def grad_scaler(precision: str, device: str | torch.device) -> torch.amp.GradScaler | None:
    """A loss scaler for fp16 training on CUDA (None otherwise: bf16 and fp32 need none)."""
    if precision == "fp16" and device_type(device) == "cuda":
        return torch.amp.GradScaler("cuda")
    return None

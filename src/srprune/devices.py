"""Device names as users give them: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``."""

from __future__ import annotations

import torch

from srprune.errors import UserError


def resolve_device(name: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (CUDA when available)."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but PyTorch sees no CUDA GPU")
    if not (name == "cpu" or name.startswith("cuda")):
        raise UserError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto")
    return name

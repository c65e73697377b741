"""Argument helpers shared by subcommands."""

from __future__ import annotations

import re
from pathlib import Path

from torch import nn

from srprune.devices import resolve_device
from srprune.errors import UserError

__all__ = ["load_any_model", "parse_size", "resolve_device"]


def parse_size(text: str) -> tuple[int, int]:
    """``180x320`` -> (180, 320): height x width."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", text)
    if not m or int(m[1]) < 1 or int(m[2]) < 1:
        raise UserError(f"size {text!r} is not HxW, e.g. 180x320")
    return int(m[1]), int(m[2])


def load_any_model(spec: str, scale: int = 4) -> tuple[nn.Module, str]:
    """A model from a file path (srprune ``.safetensors``) or a registry name."""
    from srprune.io.model_file import load_model
    from srprune.models.registry import create_model

    path = Path(spec)
    if path.suffix in (".safetensors", ".pth", ".pt") or path.exists():
        if path.suffix in (".pth", ".pt"):
            raise UserError(f"{path} is a foreign checkpoint; import it first with "
                            "`srprune convert --from basicsr|mmagic|edsr-pytorch`")
        return load_model(path), path.name
    return create_model(spec, scale), spec

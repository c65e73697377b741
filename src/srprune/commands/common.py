"""Argument helpers shared by subcommands.

The ``*_arg`` factories are argparse ``type=`` callables: a bad value becomes argparse's one-line
error (``srprune CMD: error: argument --chunk: ...``) before anything runs. Bounds are listed in
docs/limits.md.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

from torch import nn

from srprune.devices import resolve_device
from srprune.errors import UserError
from srprune.export.runtime import RUNTIMES, ExportedModel

__all__ = ["EXPORTED_SUFFIXES", "RUNTIMES", "add_runtime_argument", "float_arg", "int_arg",
           "is_exported", "load_any_model", "load_exported", "memory_arg", "parse_size",
           "resolve_device"]

MAX_SIDE = 16384  # LR frame height or width, pixels
EXPORTED_SUFFIXES = (".onnx", ".xml")
"""Model files that run in a deployment runtime: ONNX (onnxruntime or OpenVINO) and OpenVINO IR."""


def parse_size(text: str) -> tuple[int, int]:
    """``180x320`` -> (180, 320): height x width, each 1 to ``MAX_SIDE`` (an argparse type)."""
    m = re.fullmatch(r"\s*(\d{1,9})\s*[xX,]\s*(\d{1,9})\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"size {text!r} is not HxW, e.g. 180x320")
    h, w = int(m[1]), int(m[2])
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"size {text!r}: height and width must be 1 to "
                                         f"{MAX_SIDE}")
    return h, w


def int_arg(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``lo`` to ``hi``."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip()) if re.fullmatch(r"\s*[-+]?\d{1,18}\s*", text) else None
        except ValueError:
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is out of bounds ({lo} to {hi})")
        return value
    parse.__name__ = "int"
    return parse


def float_arg(lo: float, hi: float, lo_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [lo, hi] (or (lo, hi] when ``lo_open``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if value > hi or value < lo or (lo_open and value == lo):
            low = f"above {lo:g}" if lo_open else f"from {lo:g}"
            raise argparse.ArgumentTypeError(f"{value:g} is out of bounds ({low} to {hi:g})")
        return value
    parse.__name__ = "float"
    return parse


def memory_arg(text: str) -> int:
    """An argparse type: a memory size such as ``4G`` or ``500M``, in bytes."""
    from srprune.resources import parse_memory

    try:
        return parse_memory(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def new_output(path: Path, what: str, force: bool | None = None) -> None:
    """Refuse an output that exists, or whose parent is a file, before any work is done.

    Args:
        force: None when the command has no ``--force``; True lets an existing file be replaced.
    """
    if path.exists() and not (force and path.is_file()):
        hint = " (or pass --force to replace it)" if force is False and path.is_file() else ""
        raise UserError(f"{what} {path} exists; remove it or choose another name{hint}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{what} {path}: {parent} is a file, not a folder")
            break


def load_any_model(spec: str, scale: int = 4) -> tuple[nn.Module, str]:
    """A model from a file path (srprune ``.safetensors``) or a registry name."""
    from srprune.io.model_file import load_model
    from srprune.models.registry import create_model

    path = Path(spec)
    if path.suffix or "/" in spec or path.exists():
        return load_model(path), path.name
    return create_model(spec, scale), spec


def is_exported(spec: str) -> bool:
    """Whether ``--model`` names an exported file (``.onnx`` or OpenVINO ``.xml``)."""
    return Path(spec).suffix.lower() in EXPORTED_SUFFIXES


def add_runtime_argument(p: argparse.ArgumentParser) -> None:
    """``--runtime`` of commands that take exported files."""
    p.add_argument("--runtime", choices=RUNTIMES, default=None,
                   help="runtime of an exported --model: onnxruntime or openvino (default: "
                        "onnxruntime for .onnx; an OpenVINO .xml runs in openvino only)")


def load_exported(spec: str, runtime: str | None, threads: int | None
                  ) -> tuple[ExportedModel, str]:
    """An exported file opened in ``runtime`` (None: by its kind) with ``threads`` threads
    (None: the runtime's default), and its name."""
    return ExportedModel(spec, runtime, threads or 0), Path(spec).name

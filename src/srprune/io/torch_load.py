"""``torch.load`` with ``weights_only=True``, quietly, and what a refused pickle asked for.

torch warns on stderr about some pickles before refusing them (e.g. "Detected pickle protocol
4"), and its refusal text suggests ``weights_only=False``, which would run the file's code.
srprune shows neither: one line of its own names what the file asked for.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

_GLOBAL = re.compile(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)")


def load_weights_only(path: str | Path, map_location: Any = "cpu",
                      allowed: Sequence[Any] = ()) -> Any:
    """``torch.load(path, weights_only=True)`` (plus the ``allowed`` data-only globals) with
    torch's warnings kept off stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(path, map_location=map_location, weights_only=True)


def _is_pickle(path: str | Path | None) -> bool:
    """Whether ``path`` starts like a pickle of protocol 2 or later (PROTO opcode)."""
    try:
        with open(path, "rb") as f:  # type: ignore[arg-type]
            return f.read(1) == b"\x80"
    except (OSError, TypeError):
        return False


def refused_pickle(error: BaseException, path: str | Path | None = None) -> str | None:
    """What a weights-only load of ``path`` refused (``the Python global os.system`` or
    ``Python objects other than tensors``), or None when ``error`` is no such refusal (a
    damaged or foreign file: torch reports both as an unsupported operand, so a bare pickle
    is told apart by its first byte)."""
    if not isinstance(error, pickle.UnpicklingError):
        return None
    text = str(error)
    m = _GLOBAL.search(text)
    if m:
        return f"the Python global {m[1]}"
    if "Unsupported operand" in text and not _is_pickle(path):
        return None
    if "Weights only load failed" in text or "WeightsUnpickler" in text:
        return "Python objects other than tensors"
    return None


def torch_failure(error: BaseException) -> str:
    """One line for a load that failed for another reason than a refused pickle, without
    torch's advice to load with ``weights_only=False``."""
    text = str(error)
    if "Weights only load failed" in text or "WeightsUnpickler" in text:
        return "not a PyTorch file, or a damaged one"
    return first_line(text) or type(error).__name__


def first_line(text: str, limit: int = 200) -> str:
    """``text`` on one line, without terminal escapes, at most ``limit`` characters."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())
    return text if len(text) <= limit else text[:limit] + " ..."

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


def refused_pickle(error: BaseException) -> str | None:
    """What a weights-only load refused (``the Python global os.system`` or ``Python objects
    other than tensors``), or None when ``error`` is no such refusal."""
    if not isinstance(error, pickle.UnpicklingError):
        return None
    text = str(error)
    m = _GLOBAL.search(text)
    if m or "Weights only load failed" in text or "WeightsUnpickler" in text:
        return f"the Python global {m[1]}" if m else "Python objects other than tensors"
    return None


def first_line(text: str, limit: int = 200) -> str:
    """``text`` on one line, without terminal escapes, at most ``limit`` characters."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())
    return text if len(text) <= limit else text[:limit] + " ..."

"""JSON from files srprune did not necessarily write, with bounded size and nesting depth.

Every metadata field srprune reads back (a model file's safetensors header, an ONNX file's
``metadata_props``, a run folder's records) may come from anywhere. Python's ``json`` recurses
once per nesting level, so ``[[[[...]]]]`` ends in a ``RecursionError``, and a large value costs
memory in proportion. :func:`loads_bounded` refuses both before decoding, in one
:class:`ValueError` line that callers wrap into their own :class:`~srprune.errors.UserError`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

MAX_DEPTH = 32
"""Deepest nesting of lists / objects accepted (srprune's own records use at most 4)."""
MAX_CHARS = 8 << 20
"""Longest JSON text accepted from a metadata field or a record (8 Mi characters)."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def nesting_depth(text: str) -> int:
    """Deepest ``[`` / ``{`` nesting of a JSON text (brackets inside strings do not count)."""
    skeleton = _STRING.sub("", text).encode("ascii", "ignore")
    if not skeleton:
        return 0
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    step = np.zeros(len(codes), dtype=np.int64)
    step[(codes == ord("[")) | (codes == ord("{"))] = 1
    step[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(step).max(initial=0))


def loads_bounded(text: str | bytes, max_depth: int = MAX_DEPTH,
                  max_chars: int = MAX_CHARS) -> Any:
    """``json.loads`` of ``text`` after checking its length and nesting depth (ValueError)."""
    if isinstance(text, bytes):
        if len(text) > 4 * max_chars:
            raise ValueError(f"{len(text):,} bytes of JSON, more than the {max_chars:,} "
                             "characters accepted")
        text = text.decode("utf-8")
    if not isinstance(text, str):
        raise ValueError(f"expected JSON text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise ValueError(f"{len(text):,} characters of JSON, more than the {max_chars:,} "
                         "accepted")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise ValueError(f"JSON nested {depth} levels deep, more than the {max_depth} accepted")
    try:
        return json.loads(text)
    except RecursionError:  # not reachable within MAX_DEPTH; kept as a last guard
        raise ValueError("JSON nested too deeply") from None


def read_json(path: str | Path, max_depth: int = MAX_DEPTH, max_chars: int = MAX_CHARS) -> Any:
    """The decoded JSON file at ``path``, bounded as :func:`loads_bounded` (ValueError, OSError).

    A file larger than the bound is refused from its size, without reading it.
    """
    path = Path(path)
    if path.stat().st_size > 4 * max_chars:
        raise ValueError(f"{path.stat().st_size:,} bytes, more than a record may hold")
    return loads_bounded(path.read_bytes(), max_depth, max_chars)

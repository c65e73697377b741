"""Fingerprints of what produced a result: canonical JSON of the inputs, hashed.

A stage's inputs are a plain dict (settings, the method's recipe, hashes of input files, the
fingerprint of the stage it reads from, srprune's version). Two runs with equal fingerprints
computed the same thing; :func:`changes` names the dotted keys that differ when they don't.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from srprune.io.bounded_json import loads_bounded
from srprune.typed import to_plain

_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def canonical(data: Any) -> str:
    """Deterministic JSON of ``data`` (sorted keys, tuples as lists)."""
    return json.dumps(to_plain(data), sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(inputs: Mapping[str, Any]) -> str:
    """The sha256 of the canonical JSON of ``inputs`` (hex, 16 characters shown to users)."""
    return hashlib.sha256(canonical(inputs).encode()).hexdigest()


def _safetensors_header(f: Any, size: int) -> bytes | None:
    """The header of a safetensors file as canonical JSON (sorted keys), or None when the
    file is not one. safetensors writes its metadata in hash-map order, so two saves of the
    same weights and metadata can differ in their bytes; the canonical header does not."""
    head = f.read(8)
    if len(head) == 8:
        n = int.from_bytes(head, "little")
        if 2 <= n <= min(size - 8, 100_000_000):
            try:
                header = loads_bounded(f.read(n), max_chars=100_000_000)
            except ValueError:  # not JSON, too deep or too large: hashed as plain bytes
                header = None
            if isinstance(header, dict):
                return canonical(header).encode()
    f.seek(0)
    return None


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's content (cached per path, size and modification time): its bytes,
    except that a safetensors header counts as canonical JSON, so re-saving the same weights
    and metadata keeps the hash."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            if p.suffix == ".safetensors":
                header = _safetensors_header(f, st.st_size)
                if header is not None:
                    h.update(b"safetensors:" + header)
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _FILE_HASHES[key] = h.hexdigest()
    return _FILE_HASHES[key]


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    data = to_plain(data)
    if not isinstance(data, dict):
        return {prefix or "value": data}
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(flatten(v, key) if isinstance(v, dict) and v else {key: v})
    return out


def changes(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 4) -> str:
    """``"prune.ratio 0.3 -> 0.5; method ssl -> l1"``: what differs, most telling first.

    Keys holding upstream fingerprints are reported last (they change whenever anything
    before them does) and as "an earlier stage changed".
    """
    a, b = flatten(old), flatten(new)
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    upstream = [k for k in keys if k.endswith("after")]
    own = [k for k in keys if k not in upstream]
    parts = [f"{k} {_show(a.get(k, '(unset)'))} -> {_show(b.get(k, '(unset)'))}"
             for k in own[:limit]]
    if len(own) > limit:
        parts.append(f"and {len(own) - limit} more")
    if upstream and not own:
        parts.append("an earlier stage was redone or changed")
    return "; ".join(parts) or "nothing recorded"


def _show(value: Any, width: int = 40) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    if len(text) > width:
        text = text[:width - 3] + "..."
    return text

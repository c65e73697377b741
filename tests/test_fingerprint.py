"""File hashes in run fingerprints follow content, not the bytes safetensors happens to write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from srprune.io.model_file import save_model
from srprune.models.registry import create_model
from srprune.runs.fingerprint import file_hash


def _reorder_metadata(src: Path, dst: Path) -> None:
    """``src`` with its safetensors metadata keys in reverse order (same length, same data)."""
    raw = src.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header["__metadata__"]
    header["__metadata__"] = dict(reversed(list(meta.items())))
    text = json.dumps(header, separators=(",", ":")).encode()
    dst.write_bytes(raw[:8] + text.ljust(n) + raw[8 + n:])


def test_resaved_model_keeps_its_hash_and_changed_weights_do_not(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("basicvsr-uni-8-1")
    a = save_model(tmp_path / "a.safetensors", model)
    b = tmp_path / "b.safetensors"
    _reorder_metadata(a, b)
    assert a.read_bytes() != b.read_bytes()
    assert file_hash(a) == file_hash(b)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    c = save_model(tmp_path / "c.safetensors", model)
    assert file_hash(c) != file_hash(a)


def test_other_files_hash_their_bytes(tmp_path: Path) -> None:
    f = tmp_path / "x.safetensors"
    f.write_bytes(b"not a safetensors file at all")
    first = file_hash(f)
    f.write_bytes(b"not a safetensors file at al!")
    os.utime(f, ns=(1, 1))
    assert file_hash(f) != first

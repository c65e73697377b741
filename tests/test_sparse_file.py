"""Sparse and half-precision srprune model files: exact round trips, sizes, old files, damage."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from srprune.cli import main
from srprune.errors import UserError
from srprune.io.model_file import (
    FORMAT,
    load_model,
    model_metadata,
    read_header,
    read_state_dict,
    save_model,
)
from srprune.io.sparse import MASK, VALUES
from srprune.models.edsr import EDSR, EDSRConfig


def _edsr(density: float | None = None) -> EDSR:
    torch.manual_seed(0)
    model = EDSR(EDSRConfig(num_feat=32, num_block=2)).eval()
    if density is not None:
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.mul_((torch.rand_like(p) < density).float())  # leaves -0.0 too
    return model


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]) for k in sa)


def _data_bytes(path: Path) -> int:
    """Bytes of tensor data in a safetensors file (file minus its 8-byte length and header)."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
    return path.stat().st_size - 8 - header_len


def test_sparse_round_trip_is_exact_and_zeros_are_zero(tmp_path: Path) -> None:
    model = _edsr(0.1)
    with torch.no_grad():
        model.conv_first.weight.view(-1)[0] = float("nan")  # kept bit for bit
    path = save_model(tmp_path / "s.safetensors", model, {"step": 3}, sparse=True)
    back = load_model(path)
    for (k, a), b in zip(model.state_dict().items(), back.state_dict().values(), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, k
        assert torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0)), k
        assert torch.equal(a == 0, b == 0), k
    assert read_header(path)["extra"] == {"step": 3}
    assert read_state_dict(path).keys() == model.state_dict().keys()
    assert set(load_file(str(path))) >= {MASK, VALUES + "float32"}


def test_sparse_file_size_follows_the_non_zeros(tmp_path: Path) -> None:
    model = _edsr(0.1)
    dense = save_model(tmp_path / "d.safetensors", model)
    sparse = save_model(tmp_path / "s.safetensors", model, sparse=True)
    expected = 0
    for t in model.state_dict().values():
        if t.dim() >= 2:
            expected += int(torch.count_nonzero(t)) * 4 + math.ceil(t.numel() / 8)
        else:
            expected += t.numel() * t.element_size()
    assert _data_bytes(sparse) == expected
    assert sparse.stat().st_size < 0.2 * dense.stat().st_size
    assert sparse.stat().st_size - expected < 8192  # header: config, structure, packing


def test_dense_model_is_unchanged_by_sparse(tmp_path: Path) -> None:
    model = _edsr()
    a = save_model(tmp_path / "a.safetensors", model)
    b = save_model(tmp_path / "b.safetensors", model, sparse=True)
    assert a.stat().st_size == b.stat().st_size
    assert load_file(str(a)).keys() == load_file(str(b)).keys()
    assert _same(load_model(b), model)


@pytest.mark.parametrize("sparse", [False, True])
def test_half_round_trip_within_fp16_tolerance(tmp_path: Path, sparse: bool) -> None:
    model = _edsr(0.3 if sparse else None)
    full = save_model(tmp_path / "f.safetensors", model)
    half = save_model(tmp_path / "h.safetensors", model, sparse=sparse, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert {t.dtype for t in load_file(str(half)).values()} <= {torch.float16, torch.uint8}
    back = load_model(half)
    for k, a in model.state_dict().items():
        b = back.state_dict()[k]
        assert b.dtype == torch.float32
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4)
        assert torch.equal(a == 0, b == 0), k
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x), rtol=1e-2, atol=1e-2)


def test_half_refuses_values_beyond_fp16(tmp_path: Path) -> None:
    model = _edsr()
    with torch.no_grad():
        model.conv_first.weight.view(-1)[0] = 1e6
    with pytest.raises(UserError, match="float16 range"):
        save_model(tmp_path / "h.safetensors", model, half=True)
    assert not list(tmp_path.iterdir())


def test_old_files_without_packing_still_load(tmp_path: Path) -> None:
    model = _edsr(0.5)
    meta = model_metadata(model)
    header = {"format": FORMAT, "srprune_version": "0.1.0",
              "config": json.dumps(meta["config"]),
              "structure": json.dumps(meta["structure"]), "extra": "{}"}
    path = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata=header)
    assert _same(load_model(path), model)


def _damage(path: Path, case: str) -> None:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(n))["__metadata__"]
    tensors = load_file(str(path))
    packing = json.loads(meta["packing"])
    name, record = next((k, r) for k, r in packing["tensors"].items() if "mask" in r)
    if case == "mask-length":
        record["mask"][1] -= 1
    elif case == "value-count":
        record["values"][1] -= 1
    elif case == "missing-values":
        del tensors[VALUES + "float32"]
    elif case == "truncated-mask":
        tensors[MASK] = tensors[MASK][:-1].clone()
    elif case == "bad-record":
        record["dtype"] = "int8"
    elif case == "bad-json":
        meta["packing"] = "{"
    if case != "bad-json":
        meta["packing"] = json.dumps(packing)
    save_file(tensors, str(path), metadata=meta)


@pytest.mark.parametrize("case", ["mask-length", "value-count", "missing-values",
                                  "truncated-mask", "bad-record", "bad-json"])
def test_corrupt_sparse_entry_is_one_line(tmp_path: Path, case: str, capsys) -> None:
    path = save_model(tmp_path / "s.safetensors", _edsr(0.1), sparse=True)
    _damage(path, case)
    with pytest.raises(UserError, match="s.safetensors"):
        load_model(path)
    assert main(["profile", "--model", str(path), "--lr-size", "8x8", "--no-latency"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("corrupt" in err or "damaged" in err), err


def test_convert_repacks_an_srprune_file(tmp_path: Path, capsys) -> None:
    model = _edsr(0.1)
    src = save_model(tmp_path / "in.safetensors", model)
    out = tmp_path / "out.safetensors"
    assert main(["convert", str(src), str(out), "--sparse"]) == 0
    assert "sparse" in capsys.readouterr().out
    assert out.stat().st_size < 0.2 * src.stat().st_size
    assert _same(load_model(out), model)
    assert main(["convert", str(src), str(tmp_path / "h.safetensors"), "--sparse", "--half"]) == 0
    assert (tmp_path / "h.safetensors").stat().st_size < out.stat().st_size

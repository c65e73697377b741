"""Compact storage of a state dict: zeros cost no space (``sparse``) and floats may be halved.

Sparse tensors (floating, >= 2 dims, when it is smaller) keep only their non-zero elements, in C
order, concatenated into one ``::values.<dtype>`` entry per stored dtype, and a bitmask (one bit
per element, ``numpy.packbits`` order, each tensor's mask starting on a byte) concatenated into
one ``::mask`` entry, so a tensor costs a few bytes of header, not two entries. The file's
``packing`` metadata holds a record per packed tensor: ``shape``, original ``dtype`` and, for
sparse ones, its ``values`` and ``mask`` ranges. Non-zero elements (NaN included) come back
bit-exact; zeros come back as ``+0.0`` (a ``-0.0``, as masking by multiplication leaves, is a
zero and costs nothing; ``torch.equal`` holds). ``half`` stores floating tensors as float16
(sparse ones included); load casts them back to their recorded dtype.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import torch

from srprune.errors import UserError
from srprune.io.bounded_json import loads_bounded

VALUES, MASK = "::values.", "::mask"
PACKING_VERSION = 1
SPARSE_OVERHEAD_BYTES = 64  # header bytes of a sparse record beyond the dense entry it replaces
_FLOAT_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16,
                 "float32": torch.float32, "float64": torch.float64}


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def sparse_is_worthwhile(numel: int, nnz: int, itemsize: int) -> bool:
    """Whether values + bitmask (+ header overhead) take fewer bytes than the dense tensor."""
    return nnz * itemsize + math.ceil(numel / 8) + SPARSE_OVERHEAD_BYTES < numel * itemsize


def _to_half(name: str, t: torch.Tensor) -> torch.Tensor:
    half = t.to(torch.float16)
    if not bool(torch.isfinite(half).all()) and bool(torch.isfinite(t).all()):
        raise UserError(f"{name} has values beyond the float16 range (max |x| = "
                        f"{t.abs().max().item():.4g}); save it without half")
    return half


def pack_state(state: dict[str, torch.Tensor], *, sparse: bool = False, half: bool = False
               ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors to store, packing metadata; empty when nothing is packed) of a state dict."""
    stored: dict[str, torch.Tensor] = {}
    records: dict[str, dict[str, Any]] = {}
    values: dict[str, list[torch.Tensor]] = {}
    counts: dict[str, int] = {}
    masks: list[np.ndarray] = []
    mask_bytes = 0
    for name, t in state.items():
        t = t.detach().to("cpu").contiguous()
        if not t.is_floating_point() or not (sparse or half):
            stored[name] = t
            continue
        record: dict[str, Any] = {"shape": list(t.shape), "dtype": _dtype_name(t.dtype)}
        keep = _to_half(name, t) if half else t
        if sparse and t.dim() >= 2:
            bits = (keep != 0).reshape(-1)
            nnz = int(bits.sum())
            if sparse_is_worthwhile(t.numel(), nnz, keep.element_size()):
                blob = _dtype_name(keep.dtype)
                start = counts.get(blob, 0)
                values.setdefault(blob, []).append(keep.reshape(-1)[bits])
                counts[blob] = start + nnz
                masks.append(np.packbits(bits.numpy()))
                record["values"] = [start, start + nnz]
                record["mask"] = [mask_bytes, mask_bytes + masks[-1].size]
                mask_bytes += masks[-1].size
                records[name] = record
                continue
        stored[name] = keep
        if keep.dtype != t.dtype:
            records[name] = record
    for blob, parts in values.items():
        stored[VALUES + blob] = torch.cat(parts)
    if masks:
        stored[MASK] = torch.from_numpy(np.concatenate(masks))
    if not records:
        return stored, {}
    return stored, {"version": PACKING_VERSION, "half": half, "tensors": records}


def packing_to_metadata(packing: dict[str, Any]) -> dict[str, str]:
    """The safetensors metadata entry for ``packing`` (none when nothing is packed)."""
    return {"packing": json.dumps(packing, separators=(",", ":"))} if packing else {}


def packing_from_metadata(meta: dict[str, str], source: str) -> dict[str, Any]:
    """The packing metadata of a file (empty for files written without packing)."""
    text = meta.get("packing")
    if text is None:
        return {}
    try:
        data = loads_bounded(text)
        version, half, tensors = data["version"], data["half"], data["tensors"]
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{source} has a damaged packing record ({e})") from None
    if version != PACKING_VERSION:
        raise UserError(f"{source} uses packing version {version}; this srprune reads "
                        f"version {PACKING_VERSION} (upgrade srprune)")
    if not isinstance(tensors, dict) or not isinstance(half, bool):
        raise UserError(f"{source} has a damaged packing record (bad tensors or half)")
    return data


def _range(record: dict[str, Any], key: str, size: int) -> tuple[int, int]:
    a, b = (int(v) for v in record[key])
    if not 0 <= a <= b <= size:
        raise ValueError(f"{key} range [{a}, {b}] outside its entry of {size}")
    return a, b


def _unpack_one(name: str, record: Any, half: bool, stored: dict[str, torch.Tensor],
                blobs: dict[str, torch.Tensor], source: str) -> torch.Tensor:
    def bad(why: str) -> UserError:
        return UserError(f"{source}: corrupt packed tensor {name!r} ({why})")

    try:
        shape = [int(n) for n in record["shape"]]
        dtype = _FLOAT_DTYPES[record["dtype"]]
        is_sparse = "values" in record
    except (KeyError, TypeError, ValueError):
        raise bad(f"bad record {record!r}") from None
    if any(n < 0 for n in shape):
        raise bad(f"negative shape {shape}")
    numel = math.prod(shape)
    if not is_sparse:
        t = stored.pop(name, None)
        if t is None or not t.is_floating_point() or list(t.shape) != shape:
            raise bad("stored tensor missing or of the wrong shape/dtype")
        return t.to(dtype)
    blob = VALUES + ("float16" if half else record["dtype"])
    values, mask = blobs.get(blob), blobs.get(MASK)
    if values is None or mask is None:
        raise bad(f"needs the entries {blob!r} and {MASK!r}")
    if values.dim() != 1 or not values.is_floating_point() or mask.dim() != 1 \
            or mask.dtype != torch.uint8:
        raise bad(f"{blob!r} must be 1-D floating and {MASK!r} 1-D uint8")
    try:
        v0, v1 = _range(record, "values", values.numel())
        m0, m1 = _range(record, "mask", mask.numel())
    except (KeyError, TypeError, ValueError) as e:
        raise bad(str(e)) from None
    if m1 - m0 != math.ceil(numel / 8):
        raise bad(f"mask of {m1 - m0} bytes for shape {shape} "
                  f"(needs {math.ceil(numel / 8)})")
    bits = torch.from_numpy(np.unpackbits(mask[m0:m1].numpy(), count=numel).astype(bool))
    if int(bits.sum()) != v1 - v0:
        raise bad(f"mask marks {int(bits.sum())} non-zeros but {v1 - v0} values stored")
    dense = torch.zeros(numel, dtype=dtype)
    dense[bits] = values[v0:v1].to(dtype)
    return dense.reshape(shape)


def unpack_state(stored: dict[str, torch.Tensor], packing: dict[str, Any],
                 source: str) -> dict[str, torch.Tensor]:
    """The dense state dict of a file's stored tensors and packing metadata (bit-exact)."""
    stored = dict(stored)
    blobs = {k: stored.pop(k) for k in list(stored) if k.startswith("::")}
    if blobs and not packing:
        raise UserError(f"{source}: corrupt packed tensors (no packing record for "
                        f"{', '.join(sorted(blobs))})")
    if not packing:
        return stored
    restored = {name: _unpack_one(name, rec, packing["half"], stored, blobs, source)
                for name, rec in packing["tensors"].items()}
    return {**stored, **restored}

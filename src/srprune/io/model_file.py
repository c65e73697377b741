"""srprune's model file: safetensors weights with the config and pruned structure as metadata.

Any ``.safetensors`` written here rebuilds itself: ``load_model(path)`` needs no other input.
``save_model(..., sparse=True)`` stores mostly-zero weights as values + bitmask and ``half=True``
stores floats as float16 (``io/sparse.py``); ``load_model`` restores dense float tensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from srprune import __version__
from srprune.errors import UserError
from srprune.io.atomic import atomic_path
from srprune.io.bounded_json import loads_bounded
from srprune.io.import_keymaps import SOURCES
from srprune.io.model_checks import check_structure, check_tensors
from srprune.io.readable import require_readable
from srprune.io.sparse import pack_state, packing_from_metadata, packing_to_metadata, unpack_state
from srprune.models.registry import build_model, config_from_dict, config_to_dict
from srprune.pruning.structure import apply_structure, describe_structure

FORMAT = "srprune-model"


def model_metadata(model: nn.Module) -> dict[str, Any]:
    """Config and structure of ``model`` (the structure is empty for a dense model)."""
    dense = build_model(model.config)
    return {"config": config_to_dict(model.config),
            "structure": describe_structure(model, dense)}


def save_model(path: str | Path, model: nn.Module, extra: dict[str, Any] | None = None, *,
               sparse: bool = False, half: bool = False) -> Path:
    """Write ``model`` atomically to ``path`` (``.safetensors``).

    Args:
        extra: JSON-serialisable facts to keep beside the weights (training step, method, ...).
        sparse: Store floating tensors of >= 2 dims as non-zero values + a 1-bit mask when that
            is smaller (bit-exact on load).
        half: Store floating tensors as float16 (loaded back as their original dtype).
    """
    path = Path(path)
    meta = model_metadata(model)
    header = {"format": FORMAT, "srprune_version": __version__,
              "config": json.dumps(meta["config"]), "structure": json.dumps(meta["structure"]),
              "extra": json.dumps(extra or {})}
    tensors, packing = pack_state(model.state_dict(), sparse=sparse, half=half)
    header.update(packing_to_metadata(packing))
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


FOREIGN_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl")


def _foreign(path: Path) -> UserError:
    return UserError(f"{path} is not an srprune model file (a foreign checkpoint?); import it "
                     f"first with `srprune convert --from {'|'.join(SOURCES)} IN OUT`")


def _file_metadata(path: Path) -> dict[str, str]:
    """The raw safetensors metadata of an srprune model file (UserError otherwise)."""
    require_readable(path, "model file")
    if path.suffix.lower() in FOREIGN_SUFFIXES:
        raise _foreign(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except PermissionError:
        raise UserError(f"model file {path} is not readable (permission denied)") from None
    except (SafetensorError, OSError, ValueError) as e:
        if path.suffix.lower() != ".safetensors":
            raise _foreign(path) from None
        raise UserError(f"{path} is not a readable safetensors file "
                        f"({' '.join(str(e).split())[:200]})") from None
    if meta.get("format") != FORMAT:
        raise UserError(f"{path} is not an srprune model file (no srprune metadata); "
                        "import foreign checkpoints with `srprune convert`")
    return meta


def _decode_header(path: Path, meta: dict[str, str]) -> dict[str, Any]:
    """config, structure and extra of the header, each bounded JSON (see io/bounded_json.py)."""
    decoded = {}
    for key in ("config", "structure", "extra"):
        if key not in meta:
            raise UserError(f"{path} has damaged srprune metadata (no {key!r} entry)")
        try:
            decoded[key] = loads_bounded(meta[key])
        except ValueError as e:
            raise UserError(f"{path} has damaged srprune metadata: {key} ({e})") from None
    return decoded


def read_header(path: str | Path) -> dict[str, Any]:
    """The decoded srprune metadata of a model file (config, structure, extra)."""
    path = Path(path)
    return _decode_header(path, _file_metadata(path))


def _dense_state(path: Path, meta: dict[str, str]) -> dict[str, torch.Tensor]:
    try:
        stored = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e})") from None
    return unpack_state(stored, packing_from_metadata(meta, str(path)), str(path))


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The dense state dict of an srprune model file (sparse / half entries restored)."""
    path = Path(path)
    return _dense_state(path, _file_metadata(path))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model stored at ``path`` (dense or pruned, packed or not), loaded strictly."""
    path = Path(path)
    meta = _file_metadata(path)
    header = _decode_header(path, meta)
    try:
        config = config_from_dict(header["config"])
        model = build_model(config)
    except UserError as e:
        raise UserError(f"{path} has damaged srprune metadata: {e}") from None
    check_structure(path, header["structure"], model)
    if not isinstance(header["extra"], dict):
        raise UserError(f"{path} has damaged srprune metadata: extra must be a mapping")
    try:
        model = apply_structure(model, header["structure"])
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise UserError(f"{path} has damaged srprune metadata: structure ({e})") from None
    state = _dense_state(path, meta)
    check_tensors(path, model.state_dict(), state)
    model.load_state_dict(state, strict=True)
    model.extra = header["extra"]  # type: ignore[attr-defined]
    return model.to(device).eval()

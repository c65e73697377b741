"""srprune's model file: safetensors weights with the config and pruned structure as metadata.

Any ``.safetensors`` written here rebuilds itself: ``load_model(path)`` needs no other input.
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
from srprune.models.registry import build_model, config_from_dict, config_to_dict
from srprune.pruning.structure import apply_structure, describe_structure

FORMAT = "srprune-model"


def model_metadata(model: nn.Module) -> dict[str, Any]:
    """Config and structure of ``model`` (the structure is empty for a dense model)."""
    dense = build_model(model.config)
    return {"config": config_to_dict(model.config),
            "structure": describe_structure(model, dense)}


def save_model(path: str | Path, model: nn.Module, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` atomically to ``path`` (``.safetensors``).

    Args:
        extra: JSON-serialisable facts to keep beside the weights (training step, method, ...).
    """
    path = Path(path)
    meta = model_metadata(model)
    header = {"format": FORMAT, "srprune_version": __version__,
              "config": json.dumps(meta["config"]), "structure": json.dumps(meta["structure"]),
              "extra": json.dumps(extra or {})}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


def read_header(path: str | Path) -> dict[str, Any]:
    """The decoded srprune metadata of a model file (config, structure, extra)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    try:

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e})") from None
    if meta.get("format") != FORMAT:
        raise UserError(f"{path} is not an srprune model file (no srprune metadata); "
                        "import foreign checkpoints with `srprune convert`")
    try:
        return {k: json.loads(meta[k]) for k in ("config", "structure", "extra")}
    except (KeyError, json.JSONDecodeError) as e:
        raise UserError(f"{path} has damaged srprune metadata ({e})") from None


def load_model(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model stored at ``path`` (dense or pruned), weights loaded strictly."""
    header = read_header(path)
    model = apply_structure(build_model(config_from_dict(header["config"])), header["structure"])
    state = load_file(str(path), device="cpu")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UserError(f"{path}: weights do not match the recorded structure "
                        f"(missing: {', '.join(missing) or '-'}; "
                        f"unexpected: {', '.join(unexpected) or '-'})")
    model.extra = header["extra"]  # type: ignore[attr-defined]
    return model.to(device).eval()

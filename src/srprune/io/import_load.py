"""Reading foreign checkpoints without executing code, and unwrapping their containers.

``.pth``/``.pt`` files go through ``torch.load(weights_only=True)``: only tensors, containers and
plain values are rebuilt, never arbitrary objects. Two data-only NumPy globals (scalars and
dtypes, which training loops often leave in the ``meta`` of a checkpoint) are allowed as well.
``.safetensors`` files are read with safetensors. Containers: BasicSR ``{'params': sd}`` /
``{'params_ema': sd}``, mmagic ``{'state_dict': {'generator.*': ...}, 'meta': ...}``,
EDSR-PyTorch's plain state dict, and any bare state dict; DataParallel ``module.`` prefixes go.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from srprune.errors import UserError
from srprune.io.import_keymaps import SOURCES, guess_source, strip_prefix
from srprune.io.model_file import read_state_dict
from srprune.io.readable import require_readable
from srprune.io.torch_load import first_line, load_weights_only, refused_pickle, torch_failure

PARAMS_KEYS = ("params", "params_ema")


def _numpy_data_globals() -> list[Any]:
    """NumPy scalar reconstruction and dtype classes: data only, no code paths."""
    allowed: list[Any] = [np.dtype]
    core = getattr(np, "_core", None) or np.core
    allowed.append(core.multiarray.scalar)
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return allowed


def _one_line(text: str, limit: int = 200) -> str:
    return first_line(text, limit)


def read_checkpoint(path: str | Path) -> Any:
    """The deserialised content of a foreign checkpoint (a dict for every supported layout).

    Raises:
        UserError: missing file, unreadable file, or a pickle that needs arbitrary objects.
    """
    path = Path(path)
    require_readable(path, "checkpoint")
    if is_srprune_file(path):  # possibly packed (sparse / half): unpack to the dense tensors
        return read_state_dict(path)
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise UserError(f"{path} is not a readable safetensors file ({_one_line(str(e))})") \
                from None
    try:
        return load_weights_only(path, "cpu", _numpy_data_globals())
    except pickle.UnpicklingError as e:
        what = refused_pickle(e, path)
        if what is not None:
            raise UserError(
                f"{path} is not a plain weights checkpoint: it asks for {what}, which srprune "
                "refused and will not run; re-save only its state dict (e.g. torch.save("
                "ckpt['state_dict'], ...)) where it was written") from None
        raise UserError(f"{path} cannot be read as a PyTorch checkpoint ({torch_failure(e)})") \
            from None
    except PermissionError:
        raise UserError(f"{path}: not readable (permission denied)") from None
    except Exception as e:  # torch raises many types for damaged or foreign files
        raise UserError(f"{path} cannot be read as a PyTorch checkpoint "
                        f"({type(e).__name__}: {_one_line(str(e))})") from None


def is_srprune_file(path: str | Path) -> bool:
    """True for a ``.safetensors`` file carrying srprune's metadata (already converted)."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("format") == "srprune-model"
    except (SafetensorError, OSError, ValueError):
        return False


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _describe_keys(obj: dict[Any, Any], limit: int = 8) -> str:
    keys = [str(k) for k in obj]
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


@dataclass
class Unwrapped:
    """A flat state dict taken out of its container, before renaming.

    Attributes:
        state: tensors by (prefix-free) foreign name.
        source: the layout, ``basicsr``, ``mmagic`` or ``edsr-pytorch``.
        container: where the state dict was found, for the report.
        ignored: checkpoint keys that were left out on purpose (non-generator entries, ...).
        original: prefix-free name -> the key as written in the file.
    """

    state: dict[str, torch.Tensor]
    source: str
    container: str
    ignored: list[str] = field(default_factory=list)
    original: dict[str, str] = field(default_factory=dict)


def _take_state(obj: Any, path: Path, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or not obj:
        raise UserError(f"{path}: {what} is not a state dict (a name -> tensor mapping)")
    bad = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise UserError(f"{path}: {what} holds non-tensor entries: {', '.join(bad[:10])}")
    return obj


def _detect_source(obj: dict[Any, Any], bare: bool, path: Path) -> str:
    """The layout of a checkpoint dict, from its container and key names."""
    if not bare and any(k in obj for k in PARAMS_KEYS):
        return "basicsr"
    if not bare and "state_dict" in obj:
        return "mmagic"
    if bare:
        return guess_source(strip_prefix(k, "module.") for k in obj)
    raise UserError(f"{path}: no state dict found (top-level keys: {_describe_keys(obj)})")


Found = tuple[dict[str, torch.Tensor], str, list[str]]
"""(state dict, where it was found, checkpoint keys left out on purpose)."""


def _basicsr_state(obj: dict[Any, Any], bare: bool, path: Path, params_key: str | None) -> Found:
    if bare:
        if params_key is not None:
            raise UserError(f"{path} is a bare state dict; it has no {params_key!r} entry")
        return obj, "bare state dict", []
    key = params_key or ("params_ema" if "params_ema" in obj else "params")
    if key not in obj:
        raise UserError(f"{path} has no {key!r} entry (top-level keys: "
                        f"{_describe_keys(obj)}); is it a BasicSR checkpoint?")
    return (_take_state(obj[key], path, f"entry {key!r}"), f"{key!r} entry",
            [str(k) for k in obj if k != key])


def _mmagic_state(obj: dict[Any, Any], bare: bool, path: Path) -> Found:
    ignored: list[str] = []
    if bare:
        state, container = obj, "bare state dict"
    elif "state_dict" in obj:
        state = _take_state(obj["state_dict"], path, "entry 'state_dict'")
        container = "'state_dict' entry"
        ignored += [str(k) for k in obj if k != "state_dict"]
    else:
        raise UserError(f"{path} has no 'state_dict' entry (top-level keys: "
                        f"{_describe_keys(obj)}); is it an mmagic checkpoint?")
    gen = [k for k in state if strip_prefix(k, "module.").startswith("generator.")]
    if gen:
        ignored += [k for k in state if k not in gen]
        state = {k: state[k] for k in gen}
        container += " (generator.*)"
    return state, container, ignored


def _edsr_state(obj: dict[Any, Any], bare: bool, path: Path) -> Found:
    """EDSR-PyTorch's trainer saves the bare EDSR state dict."""
    if not bare:
        raise UserError(f"{path} is not a bare state dict (top-level keys: "
                        f"{_describe_keys(obj)}); EDSR-PyTorch checkpoints are")
    return obj, "bare state dict", []


def _strip_wrappers(state: dict[str, torch.Tensor], source: str, path: Path
                    ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors by prefix-free name, prefix-free name -> key as written)."""
    clean: dict[str, torch.Tensor] = {}
    original: dict[str, str] = {}
    for k, v in state.items():
        name = strip_prefix(k, "module.")
        if source == "mmagic":
            name = strip_prefix(strip_prefix(name, "generator."), "module.")
        if name in clean:
            raise UserError(f"{path}: keys {original[name]!r} and {k!r} collide after removing "
                            "wrapper prefixes")
        clean[name] = v
        original[name] = k
    if source == "edsr-pytorch" and clean and all(k.startswith("model.") for k in clean):
        # a state dict of EDSR-PyTorch's ``Model`` wrapper rather than of the EDSR inside it
        original = {k[len("model."):]: original[k] for k in clean}
        clean = {k[len("model."):]: v for k, v in clean.items()}
    return clean, original


def unwrap(obj: Any, path: str | Path, source: str = "auto",
           params_key: str | None = None) -> Unwrapped:
    """Find the state dict inside a checkpoint and strip its wrapper prefixes.

    Args:
        obj: what :func:`read_checkpoint` returned.
        source: ``basicsr``, ``mmagic``, ``edsr-pytorch`` or ``auto`` (detected from the
            container and the key names).
        params_key: for BasicSR containers, ``params`` or ``params_ema``; None picks
            ``params_ema`` when present, else ``params``.
    """
    path = Path(path)
    if source not in (*SOURCES, "auto"):
        raise UserError(f"unknown checkpoint source {source!r}; choose one of "
                        f"{', '.join((*SOURCES, 'auto'))}")
    if params_key is not None and params_key not in PARAMS_KEYS:
        raise UserError(f"--params-key must be one of {', '.join(PARAMS_KEYS)}, not {params_key!r}")
    if not isinstance(obj, dict):
        raise UserError(f"{path} holds a {type(obj).__name__}, not a state dict or a checkpoint "
                        "dict")
    bare = _is_state_dict(obj)
    if source == "auto":
        source = _detect_source(obj, bare, path)
    if params_key is not None and source != "basicsr":
        raise UserError(f"--params-key applies to BasicSR checkpoints; {path} is read as {source}")
    if source == "basicsr":
        state, container, ignored = _basicsr_state(obj, bare, path, params_key)
    elif source == "mmagic":
        state, container, ignored = _mmagic_state(obj, bare, path)
    else:
        state, container, ignored = _edsr_state(obj, bare, path)
    clean, original = _strip_wrappers(state, source, path)
    return Unwrapped(clean, source, container, ignored, original)

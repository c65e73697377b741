"""Resumable training state, written atomically and readable with ``weights_only=True``.

A checkpoint is a ``torch.save`` of tensors and plain containers only:

``{"format", "version", "iters_done", "model", "optimizer", "scheduler", "ema" (or None),
"rng": {"torch", "numpy", "python", "cuda"}, "config"}``

RNG states are stored as tensors and numbers (never pickled objects), so ``torch.load`` with
``weights_only=True`` reads the file back and no code runs when it is opened.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srprune.errors import UserError
from srprune.io.atomic import atomic_path
from srprune.io.torch_load import load_weights_only, refused_pickle, torch_failure

FORMAT = "srprune-train-state"
VERSION = 1
LAST = "last.pt"


def capture_rng() -> dict[str, Any]:
    """The torch, NumPy, Python (and CUDA, when present) generator states as tensors/numbers."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()),
                     py["gauss_next"]))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu().to(torch.uint8) for s in cuda])


def checkpoint_dir(out: str | Path) -> Path:
    """``out/checkpoints``."""
    return Path(out) / "checkpoints"


def save_checkpoint(out: str | Path, state: dict[str, Any], keep_copy: bool = False) -> Path:
    """Write ``state`` atomically to ``out/checkpoints/last.pt``.

    Args:
        out: Run folder.
        state: The training state (see the module docstring); ``format``/``version`` are added.
        keep_copy: Also keep ``iter_<iters_done>.pt``.

    Returns:
        The path of ``last.pt``.
    """
    folder = checkpoint_dir(out)
    payload = {"format": FORMAT, "version": VERSION, **state}
    target = folder / LAST
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    if keep_copy:
        with atomic_path(folder / f"iter_{int(state['iters_done'])}.pt") as tmp:
            torch.save(payload, tmp)
    return target


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint with ``weights_only=True``; UserError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint to resume from: {path}")
    try:
        state = load_weights_only(path, map_location)
    except Exception as e:  # torch raises several types for damaged or foreign files
        what = refused_pickle(e, path)
        if what is not None:
            raise UserError(f"{path} is not an srprune training checkpoint: it asks for {what}, "
                            "which srprune refused and will not run") from None
        raise UserError(f"{path} is not a readable training checkpoint ({torch_failure(e)})") \
            from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path} is not an srprune training checkpoint")
    if state.get("version") != VERSION:
        raise UserError(f"{path}: checkpoint version {state.get('version')} is not supported "
                        f"(this srprune writes version {VERSION})")
    return state

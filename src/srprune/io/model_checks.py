"""Checks of a model file's metadata and tensors before they are used: one line when damaged.

A model file is data from anywhere: its config, its pruned structure and its tensors are checked
against each other and against srprune's bounds (:mod:`srprune.models.limits`) before a module
is reshaped or loaded, so a damaged or hostile file ends in one :class:`UserError` naming the
file and the first problems, never in an allocator error or a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from srprune import resources
from srprune.errors import UserError
from srprune.models.limits import MAX_FEAT
from srprune.pruning.declared import RSCBlock
from srprune.pruning.handlers import handler_for

MAX_WIDTH = 16 * MAX_FEAT  # widest conv (a pixel-shuffle conv: s^2 x C)
MAX_INDEX = 16 * MAX_FEAT
MAX_LISTED = 5


def _bad(path: Path, what: str) -> UserError:
    return UserError(f"{path} has damaged srprune metadata: {what}")


def _is_count(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def check_structure(path: Path, structure: Any, dense: nn.Module) -> None:
    """``structure`` is ``{"convs": {path: [in, out]}, "index": {path.buffer: n}}`` and every
    entry names a prunable layer (one a pruning handler knows) / module of ``dense`` with widths
    in bounds."""
    if not isinstance(structure, dict) or set(structure) - {"convs", "index"}:
        raise _bad(path, "structure must be a mapping with 'convs' and 'index'")
    convs, index = structure.get("convs", {}), structure.get("index", {})
    if not isinstance(convs, dict) or not isinstance(index, dict):
        raise _bad(path, "structure 'convs' and 'index' must be mappings")
    modules = dict(dense.named_modules())
    for name, widths in convs.items():
        if name not in modules or handler_for(modules[name]) is None:
            raise _bad(path, f"structure entry {name!r} is not a prunable layer (a conv, a "
                             "PReLU, a registered layer type) of this model")
        if not (isinstance(widths, (list, tuple)) and len(widths) == 2
                and all(_is_count(w, 1, MAX_WIDTH) for w in widths)):
            raise _bad(path, f"structure widths of {name!r} must be two whole numbers from 1 "
                             f"to {MAX_WIDTH}, not {widths!r}")
    resized = 0
    for name, (c_in, c_out) in convs.items():
        layer = modules[name]
        kernel = layer.kernel_size[0] * layer.kernel_size[1] if isinstance(layer, nn.Conv2d) \
            else 1
        resized += c_in * c_out * kernel + c_out
    if resized:
        avail = resources.available_memory()
        if avail is not None and 8 * resized > avail:
            need, have = resources.format_bytes(4 * resized), resources.format_bytes(avail)
            raise _bad(path, f"its pruned structure asks for {need} of conv weights, more than "
                             f"the memory available ({have})")
    for key, length in index.items():
        owner, _, buffer = str(key).rpartition(".")
        block = modules.get(owner)
        if not isinstance(block, RSCBlock) or buffer not in block.rsc_buffers.values():
            raise _bad(path, f"structure index entry {key!r} does not name an index buffer of "
                             "one of the model's RSC blocks")
        if not _is_count(length, 0, MAX_INDEX):
            raise _bad(path, f"structure index length of {key!r} must be a whole number from 0 "
                             f"to {MAX_INDEX}, not {length!r}")


def check_tensors(path: Path, expected: dict[str, torch.Tensor],
                  state: dict[str, torch.Tensor]) -> None:
    """One UserError naming missing, unexpected and mis-shaped tensors (the first few)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}" for k, v in state.items()
              if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    parts = [f"{label}: {', '.join(keys[:MAX_LISTED])}"
             + (f", ... ({len(keys) - MAX_LISTED} more)" if len(keys) > MAX_LISTED else "")
             for label, keys in (("missing", missing), ("unexpected", unexpected),
                                 ("wrong shape", shapes)) if keys]
    if parts:
        raise UserError(f"{path}: weights do not match the recorded structure ("
                        + "; ".join(parts) + ")")

"""How much memory a run needs, how much the machine has, and a one-line refusal when over.

``estimate_inference_bytes`` (upscale, test, profile) and ``estimate_training_bytes`` (train,
prune finetuning) are upper bounds built from each architecture's per-pixel formulas (its
:class:`~srprune.models.spec.MemoryModel`, read through :mod:`srprune.models.limits`);
``check_fits`` compares one with the memory available (``MemAvailable`` in /proc/meminfo, capped
by a cgroup limit) or with a budget, and raises a :class:`~srprune.errors.UserError` that says
what to lower. docs/limits.md documents the formulas.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from srprune.errors import UserError
from srprune.models.limits import (
    count_params,
    inference_floats_per_pixel,
    rough_params,
    training_floats_per_pixel,
)

FLOAT_BYTES = 4
# What a run allocates beyond its tensors once started: kernel caches, codec and I/O buffers,
# allocator slack (measured: 100 to 130 MB for a tiny upscale on the CPU; docs/limits.md).
RUNTIME_BYTES = 256 << 20
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping; None when unknown."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    limit = _read_int("/sys/fs/cgroup/memory.max")
    used = _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:
        room = max(0, limit - used)
        avail = room if avail is None else min(avail, room)
    return avail


def format_bytes(n: float) -> str:
    """``1.5 GB`` style (binary units)."""
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def parse_memory(text: str) -> int:
    """``4G``, ``500M``, ``1.5GB``, ``1073741824`` -> bytes (ValueError otherwise)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtKMGT]?)(?:i?[bB])?\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a memory size such as 4G or 500M")
    value = float(m[1]) * _UNITS[m[2].lower()]
    if not 16 << 20 <= value <= 1 << 50:
        raise ValueError(f"{text!r} is out of bounds (16M to 1024T)")
    return int(value)


def default_budget(device: str = "cpu") -> int:
    """The memory a run may use when not told: half of what is available (1 GB if unknown);
    on a CUDA device, half of its free memory."""
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return max(256 << 20, free // 2)
    avail = available_memory()
    return max(256 << 20, avail // 2) if avail is not None else 1 << 30


def model_bytes(config: Any) -> int:
    """Weights of the model a config describes (float32), counted without allocating."""
    return count_params(config) * FLOAT_BYTES


def estimate_inference_bytes(config: Any, lr_size: tuple[int, int], frames: int = 1,
                             batch: int = 1, out_size: tuple[int, int] | None = None,
                             weights: int | None = None) -> int:
    """Peak bytes of one inference pass: weights (twice: a channels_last copy), activations and
    ``RUNTIME_BYTES``; beyond what the process holds when it starts (Python, PyTorch, codecs).

    Args:
        lr_size: the LR (tile) size the model runs on, padding included.
        frames: frames per forward pass (a chunk plus its context for video models).
        batch: images or clips per pass.
        out_size: the full LR frame size when the pass runs on tiles (the whole SR output of a
            chunk is then held as well).
        weights: bytes of the model's weights when known (else counted from ``config``).
    """
    per_frame, fixed = inference_floats_per_pixel(config, frames)
    pixels = lr_size[0] * lr_size[1]
    floats = batch * pixels * (frames * per_frame + fixed)
    if out_size is not None:
        scale = int(getattr(config, "scale", 4))
        floats += batch * frames * 3 * scale * scale * out_size[0] * out_size[1]
    weights = model_bytes(config) if weights is None else weights
    return 2 * weights + int(floats * FLOAT_BYTES) + RUNTIME_BYTES


def module_bytes(model: Any) -> int:
    """Bytes of a built module's parameters and buffers."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def estimate_training_bytes(config: Any, patch: tuple[int, int], frames: int, batch: int) -> int:
    """Peak bytes of one training step (Adam): 4 x weights + every activation kept for backward.

    Activations: per LR pixel and frame, what the architecture's memory model keeps for backward
    (:func:`~srprune.models.limits.training_floats_per_pixel`) on top of the inference peak.
    """
    per_frame, fixed = inference_floats_per_pixel(config, frames)
    kept = training_floats_per_pixel(config)
    pixels = patch[0] * patch[1]
    floats = batch * pixels * (max(frames, 1) * (per_frame + kept) + fixed)
    return 4 * model_bytes(config) + int(floats * FLOAT_BYTES)


def check_fits(need: int, what: str, lower: str, budget: int | None = None) -> None:
    """UserError when ``need`` bytes exceed ``budget`` (default: the available memory)."""
    limit = budget if budget is not None else available_memory()
    if limit is None or need <= limit:
        return
    kind = "the memory budget" if budget is not None else "the memory available"
    raise UserError(f"{what} needs about {format_bytes(need)} of memory, more than {kind} "
                    f"({format_bytes(limit)}); lower {lower}")


def check_model_fits(config: Any) -> None:
    """UserError when the weights of the model ``config`` describes (twice: to build and run) do
    not fit in the memory available; cheap when they clearly do (no module is built)."""
    avail = available_memory()
    if avail is None or rough_params(config) * FLOAT_BYTES * 4 < avail:
        return
    weights = model_bytes(config)
    check_fits(2 * weights, f"the {config.arch} model of these widths ({format_bytes(weights)} of "
               "weights, twice that to build and run)", "num_feat or num_block")

"""Sane bounds on model configs, and how much memory a model needs.

Every config, whether it comes from a model name (``edsr-8-128``), a YAML file or a model file's
metadata, passes :func:`check_config_dict` / :func:`check_config` before anything is allocated:
widths, block counts and scales must be integers within their bounds, floats finite and in
range. Each architecture declares its bounds and memory formulas in its registration
(:class:`~srprune.models.spec.ModelSpec`, in its model file); this module applies them. The bounds
are generous (the papers' largest models are 64 x 30 and 256 x 32); the memory check in
:mod:`srprune.resources` then compares the real size of a run with the machine.

docs/limits.md lists the bounds and the memory formulas.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import torch

from srprune.errors import UserError
from srprune.models.spec import spec_for

MAX_FEAT = 1024          # num_feat, recon_feat
MAX_BLOCKS = 256         # num_block
MAX_ESA_FEAT = 256
MAX_NAME_NUMBER = 100_000  # any number in a model name (checked before int())
FEAT = ("int", (1, MAX_FEAT))
"""The usual bound on a width (``num_feat``, ``recon_feat``)."""
BLOCKS = ("int", (0, MAX_BLOCKS))
"""The usual bound on a block count."""


def _check_value(arch: str, key: str, value: Any) -> None:
    check_value(f"{arch} {key}", spec_for(arch).bounds[key], value)


def check_value(where: str, bound: tuple[str, Any], value: Any) -> None:
    """UserError unless ``value`` is within ``bound`` (a :data:`~srprune.models.spec.Bound`);
    messages start with ``where`` (``edsr num_feat``)."""
    kind, bounds = bound
    if kind == "int":
        lo, hi = bounds
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where} must be a whole number from {lo} to {hi}, not {value!r}")
        if not lo <= value <= hi:
            raise UserError(f"{where} {value} is out of bounds ({lo} to {hi})")
    elif kind == "float":
        lo, hi, lo_open = bounds
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise UserError(f"{where} must be a finite number, not {value!r}")
        if value > hi or value < lo or (lo_open and value == lo):
            rng = f"{'above' if lo_open else 'from'} {lo:g} {'and at most' if lo_open else 'to'}"
            raise UserError(f"{where} {value:g} is out of bounds ({rng} {hi:g})")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise UserError(f"{where} must be true or false, not {value!r}")
    elif kind == "choice":
        if value not in bounds:
            raise UserError(f"{where} must be one of {', '.join(bounds)}, not {value!r}")
    elif kind == "mean3":
        ok = isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and 0.0 <= v <= 1.0 for v in value)
        if not ok:
            raise UserError(f"{where} must be three numbers in [0, 1], not {value!r}")


def check_config_dict(data: Any) -> None:
    """Reject a config mapping that is not a dict, names no registered architecture, or whose
    known fields are out of bounds (unknown keys are left to the registry, which names them)."""
    if not isinstance(data, dict):
        raise UserError(f"the model config must be a mapping of fields (arch, num_feat, ...), "
                        f"not a {type(data).__name__}")
    bounds = spec_for(data.get("arch")).bounds
    for key, value in data.items():
        if key in bounds:
            _check_value(data["arch"], key, value)


def check_config(config: Any) -> None:
    """Bounds of a config dataclass (built from a name or by code); UserError for an unknown
    architecture."""
    bounds = spec_for(config).bounds
    if not dataclasses.is_dataclass(config):
        raise UserError(f"a {config.arch} config must be a {spec_for(config).config_cls.__name__}")
    for key, value in dataclasses.asdict(config).items():
        if key in bounds:
            _check_value(config.arch, key, value)


def check_name(name: str) -> None:
    """Reject absurd numbers in a model name (``edsr-1000000000-8``) before they are parsed."""
    for digits in re.findall(r"\d+", name):
        if len(digits) > 6 or int(digits) > MAX_NAME_NUMBER:
            raise UserError(f"model name {name!r}: {digits[:12]}{'...' if len(digits) > 12 else ''}"
                            f" is out of bounds (widths up to {MAX_FEAT}, blocks up to "
                            f"{MAX_BLOCKS})")


def count_params(config: Any) -> int:
    """Parameters of the model a config describes, counted on the meta device (no memory)."""
    check_config(config)
    with torch.device("meta"):
        model = spec_for(config).model_cls(config)
    return sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for b in model.buffers())


def inference_floats_per_pixel(config: Any, frames: int = 1) -> tuple[float, float]:
    """(per-frame, fixed) float32 values per LR pixel that one forward pass holds at its peak,
    from the architecture's :class:`~srprune.models.spec.MemoryModel` (its formula lives in its
    model file; docs/limits.md lists them). Upper bounds: measured peaks are 40 to 95 % of them.
    """
    per_frame, fixed = spec_for(config).memory.inference(config)
    return float(per_frame), float(fixed)


def training_floats_per_pixel(config: Any) -> float:
    """Activations a training step keeps for backward, per LR pixel and frame (float32 values,
    on top of :func:`inference_floats_per_pixel`)."""
    return float(spec_for(config).memory.training(config))


def residual_trunk_floats(num_feat: int, num_block: int, trunks: int = 1) -> float:
    """Training activations of ``trunks`` residual trunks per LR pixel: each conv's output is kept
    (about 2 C per block conv, two convs per block, plus head and tail)."""
    return float(trunks * (2 * num_block + 2) * 2 * num_feat)


def width(config: Any, name: str, default: int = 0) -> int:
    """An integer field of a config, ``default`` when absent or zero."""
    return int(getattr(config, name, default) or default)


def rough_params(config: Any) -> int:
    """A quick upper bound on the parameter count (no module is built). A block of dense
    convolutions (``num_grow_ch`` set: an RRDB, 27 (C^2 + 8 C G + 6 G^2) weights) counts three
    times; ``num_conv`` (SRVGG's plain convs) counts as blocks."""
    w = max(width(config, "num_feat"), width(config, "recon_feat"),
            width(config, "num_grow_ch"), 64)
    blocks = width(config, "num_block") * (3 if width(config, "num_grow_ch") else 1) \
        + width(config, "num_conv")
    return 2 * (2 * blocks + 12) * 9 * w * w * 4 + 2_000_000

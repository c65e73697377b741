"""Sane bounds on model configs, and how much memory a model needs.

Every config, whether it comes from a model name (``edsr-8-128``), a YAML file or a model file's
metadata, passes :func:`check_config_dict` / :func:`check_config` before anything is allocated:
widths, block counts and scales must be integers in the bounds below, floats finite and in
range. The bounds are generous (the papers' largest models are 64 x 30 and 256 x 32); the memory
check in :mod:`srprune.resources` then compares the real size of a run with the machine.

docs/limits.md lists the bounds and the memory formulas.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from srprune.errors import UserError
from srprune.models.blocks import ACTIVATIONS

MAX_FEAT = 1024          # num_feat, recon_feat
MAX_BLOCKS = 256         # num_block
MAX_ESA_FEAT = 256
MAX_NAME_NUMBER = 100_000  # any number in a model name (checked before int())

# field -> (kind, bounds); kinds: int (lo, hi), float (lo, hi, lo_open), bool, choice, mean3
_SPECS: dict[str, dict[str, tuple[str, Any]]] = {
    "basicvsr": {"num_feat": ("int", (1, MAX_FEAT)), "num_block": ("int", (0, MAX_BLOCKS)),
                 "bidirectional": ("bool", None), "act": ("choice", ACTIVATIONS),
                 "recon_feat": ("int", (1, MAX_FEAT)), "scale": ("int", (4, 4)),
                 "flow_feat": ("int", (2, 32))},  # SPyNet narrower than official only
    "edsr": {"num_feat": ("int", (1, MAX_FEAT)), "num_block": ("int", (0, MAX_BLOCKS)),
             "scale": ("int", (2, 4)), "res_scale": ("float", (0.0, 10.0, True)),
             "img_range": ("float", (0.0, 65535.0, True)), "rgb_mean": ("mean3", None)},
    "esrb": {"num_feat": ("int", (1, MAX_FEAT)), "num_block": ("int", (1, MAX_BLOCKS)),
             "scale": ("int", (2, 4)), "esa_feat": ("int", (1, MAX_ESA_FEAT))},
    "msrresnet": {"num_feat": ("int", (1, MAX_FEAT)), "num_block": ("int", (0, MAX_BLOCKS)),
                  "scale": ("int", (2, 4))},
    "bicubic": {"scale": ("int", (1, 8))},
}


def _check_value(arch: str, key: str, value: Any) -> None:
    kind, bounds = _SPECS[arch][key]
    where = f"{arch} {key}"
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
    """Reject a config mapping that is not a dict or whose known fields are out of bounds.

    Unknown architectures and unknown keys are left to the registry, which names them.
    """
    if not isinstance(data, dict):
        raise UserError(f"the model config must be a mapping of fields (arch, num_feat, ...), "
                        f"not a {type(data).__name__}")
    arch = data.get("arch")
    if not isinstance(arch, str) or arch not in _SPECS:
        return
    for key, value in data.items():
        if key in _SPECS[arch]:
            _check_value(arch, key, value)


def check_config(config: Any) -> None:
    """Bounds of a config dataclass (built from a name or by code)."""
    arch = getattr(config, "arch", None)
    if arch in _SPECS and dataclasses.is_dataclass(config):
        for key, value in dataclasses.asdict(config).items():
            if key in _SPECS[arch]:
                _check_value(arch, key, value)


def check_name(name: str) -> None:
    """Reject absurd numbers in a model name (``edsr-1000000000-8``) before they are parsed."""
    for digits in re.findall(r"\d+", name):
        if len(digits) > 6 or int(digits) > MAX_NAME_NUMBER:
            raise UserError(f"model name {name!r}: {digits[:12]}{'...' if len(digits) > 12 else ''}"
                            f" is out of bounds (widths up to {MAX_FEAT}, blocks up to "
                            f"{MAX_BLOCKS})")


def count_params(config: Any) -> int:
    """Parameters of the model a config describes, counted on the meta device (no memory)."""
    import torch

    from srprune.models.registry import ARCHS

    check_config(config)
    _, cls = ARCHS[config.arch]
    with torch.device("meta"):
        model = cls(config)
    return sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for b in model.buffers())


def _width(config: Any, name: str, default: int = 0) -> int:
    return int(getattr(config, name, default) or default)


def inference_floats_per_pixel(config: Any, frames: int = 1) -> tuple[float, float]:
    """(per-frame, fixed) float32 values per LR pixel that one forward pass holds at its peak.

    Video (BasicVSR, a chunk of ``frames`` frames): per frame ``C + 200`` (the backward hidden
    states, flows, SPyNet's batched pyramid, the SR output and its stacked copy), fixed
    ``40 R + 12 C`` (one frame's reconstruction at 2x and 4x). Image models (per image): EDSR
    ``(2 s^2 + 4) C + 8 s^2 + 10``, MSRResNet ``(3 s^2 + 4) C + 8 s^2 + 10``, ESRB
    ``12 C + 8 s^2 + 10``, bicubic ``8 s^2 + 10``.
    Upper bounds: measured peaks are 40 to 95 % of them (docs/limits.md).
    """
    arch = getattr(config, "arch", "")
    c = _width(config, "num_feat")
    s = _width(config, "scale", 4)
    if arch == "basicvsr":
        r = _width(config, "recon_feat", 64)
        return float(c + 200), float(40 * r + 12 * c)
    if arch == "edsr":
        return float((2 * s * s + 4) * c + 8 * s * s + 10), 0.0
    if arch == "esrb":
        return float(12 * c + 8 * s * s + 10), 0.0
    if arch == "msrresnet":  # EDSR's terms plus conv_hr's C channels at HR
        return float((3 * s * s + 4) * c + 8 * s * s + 10), 0.0
    return float(8 * s * s + 10), 0.0


def _rough_params(config: Any) -> int:
    """A quick upper bound on the parameter count (no module is built)."""
    width = max(_width(config, "num_feat"), _width(config, "recon_feat"), 64)
    blocks = _width(config, "num_block")
    return 2 * (2 * blocks + 12) * 9 * width * width * 4 + 2_000_000


def check_buildable(config: Any) -> None:
    """Bounds, then whether the weights fit in the memory available (before building)."""
    from srprune.resources import FLOAT_BYTES, available_memory, check_fits, format_bytes

    check_config(config)
    avail = available_memory()
    if avail is None or _rough_params(config) * FLOAT_BYTES * 4 < avail:
        return
    weights = count_params(config) * FLOAT_BYTES
    check_fits(2 * weights, f"the {config.arch} model of these widths ({format_bytes(weights)} of "
               "weights, twice that to build and run)", "num_feat or num_block")

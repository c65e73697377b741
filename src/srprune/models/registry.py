"""Model names -> configs -> modules, from ordinary imports (no auto-registration).

Names: ``basicvsr`` (64 x 30, bidirectional), ``basicvsr-uni``, ``basicvsr-C-B`` and
``basicvsr-uni-C-B``; ``edsr`` (baseline 16 x 64), ``edsr-B-C`` (e.g. ``edsr-8-128``);
``esrb-N-C`` (e.g. ``esrb-6-256``); ``msrresnet`` (16 x 64), ``msrresnet-B-C``; ``bicubic``.
Image models take ``scale`` (2, 3, 4).

Adding an architecture: a model file satisfying :class:`~srprune.models.contract.SRModel`, an
entry in :data:`ARCHS`, its names in ``_PATTERNS`` and a tiny example in :data:`TINY`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from torch import nn

from srprune.errors import UserError
from srprune.models.basicvsr import BasicVSR, BasicVSRConfig
from srprune.models.bicubic import Bicubic, BicubicConfig
from srprune.models.edsr import EDSR, EDSRConfig
from srprune.models.esrb import ESRB, ESRBConfig
from srprune.models.limits import check_buildable, check_config_dict, check_name
from srprune.models.msrresnet import MSRResNet, MSRResNetConfig

ARCHS: dict[str, tuple[type, type[nn.Module]]] = {
    "basicvsr": (BasicVSRConfig, BasicVSR),
    "edsr": (EDSRConfig, EDSR),
    "esrb": (ESRBConfig, ESRB),
    "msrresnet": (MSRResNetConfig, MSRResNet),
    "bicubic": (BicubicConfig, Bicubic),
}

TINY: dict[str, Any] = {
    "basicvsr": BasicVSRConfig(num_feat=8, num_block=2, recon_feat=8),
    "basicvsr-uni": BasicVSRConfig(num_feat=8, num_block=2, recon_feat=8, bidirectional=False),
    "edsr": EDSRConfig(num_feat=8, num_block=2, scale=2),
    "esrb": ESRBConfig(num_feat=8, num_block=2, esa_feat=4, scale=2),
    "msrresnet": MSRResNetConfig(num_feat=8, num_block=2, scale=4),
}
"""One tiny, fast config per prunable variant: what tests parametrise over."""

_PATTERNS: list[tuple[str, str, Any]] = [
    ("basicvsr", r"basicvsr", lambda m, s: BasicVSRConfig()),
    ("basicvsr-uni", r"basicvsr-uni", lambda m, s: BasicVSRConfig(bidirectional=False)),
    ("basicvsr-C-B", r"basicvsr-(\d+)-(\d+)",
     lambda m, s: BasicVSRConfig(num_feat=int(m[1]), num_block=int(m[2]))),
    ("basicvsr-uni-C-B", r"basicvsr-uni-(\d+)-(\d+)",
     lambda m, s: BasicVSRConfig(num_feat=int(m[1]), num_block=int(m[2]), bidirectional=False)),
    ("edsr", r"edsr", lambda m, s: EDSRConfig(scale=s)),
    ("edsr-B-C", r"edsr-(\d+)-(\d+)",
     lambda m, s: EDSRConfig(num_block=int(m[1]), num_feat=int(m[2]), scale=s)),
    ("esrb-N-C", r"esrb-(\d+)-(\d+)",
     lambda m, s: ESRBConfig(num_block=int(m[1]), num_feat=int(m[2]), scale=s)),
    ("msrresnet", r"msrresnet", lambda m, s: MSRResNetConfig(scale=s)),
    ("msrresnet-B-C", r"msrresnet-(\d+)-(\d+)",
     lambda m, s: MSRResNetConfig(num_block=int(m[1]), num_feat=int(m[2]), scale=s)),
    ("bicubic", r"bicubic", lambda m, s: BicubicConfig(scale=s)),
]

MODEL_NAMES = tuple(p[0] for p in _PATTERNS)


def config_from_name(name: str, scale: int = 4) -> Any:
    """The config for a model name such as ``basicvsr-uni`` or ``esrb-6-256``."""
    check_name(name)
    for _, pattern, make in _PATTERNS:
        m = re.fullmatch(pattern, name.lower())
        if m:
            cfg = make(m, scale)
            if isinstance(cfg, BasicVSRConfig) and scale != 4:
                raise UserError(f"{name} is a x4 model; --scale {scale} is not available")
            return cfg
    raise UserError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")


def build_model(config: Any) -> nn.Module:
    """Instantiate the module for a config dataclass."""
    try:
        _, cls = ARCHS[config.arch]
    except KeyError:
        raise UserError(f"unknown architecture {config.arch!r}; known: {', '.join(ARCHS)}") \
            from None
    check_buildable(config)
    try:
        return cls(config)
    except ValueError as e:
        raise UserError(str(e)) from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, Any]) -> Any:
    """Rebuild a config, rejecting unknown keys by name."""
    check_config_dict(data)
    arch = data.get("arch")
    if arch not in ARCHS:
        raise UserError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    cfg_cls = ARCHS[arch][0]
    fields = {f.name: f for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise UserError(f"unknown {arch} config keys: {', '.join(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cfg_cls(**values)


def create_model(name: str, scale: int = 4) -> nn.Module:
    """Build a freshly initialised model by name."""
    return build_model(config_from_name(name, scale))

"""Model names -> configs -> modules, read from the architectures' registrations.

Each model file registers its family with :func:`~srprune.models.spec.register_arch`; this module
imports the model files (:data:`MODEL_MODULES`, ordinary imports) so that
:data:`~srprune.models.spec.SPECS` is complete, and answers from the specs. Names (each
family's ``names``): ``basicvsr`` (64 x 30, bidirectional), ``basicvsr-uni``, ``basicvsr-C-B`` and
``basicvsr-uni-C-B``; ``basicvsrpp`` (BasicVSR++, 64 x 7), ``basicvsrpp-C-B``; ``edsr`` (baseline
16 x 64), ``edsr-B-C`` (e.g. ``edsr-8-128``); ``esrb-N-C`` (e.g. ``esrb-6-256``); ``msrresnet``
(16 x 64), ``msrresnet-B-C``; ``srvgg`` (Real-ESRGAN's compact SRVGGNetCompact, 64 x 16),
``srvgg-F-N``, ``realesr-animevideov3``, ``realesr-general-x4v3``; ``rrdbnet`` (ESRGAN's
RRDBNet, 64 x 23), ``rrdbnet-F-B``, ``realesrgan-x4plus``, ``realesrgan-x2plus``,
``realesrgan-x4plus-anime-6b``; ``bicubic``. Image models take ``scale`` (each family's
``scales``: 2, 3, 4 for most; SRVGG 1 to 4, RRDBNet 1, 2, 4).

Adding an architecture: one model file with its ``@register_arch(...)``, and its line in
:data:`MODEL_MODULES` (docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from srprune.errors import UserError
from srprune.models import basicvsr, basicvsrpp, bicubic, edsr, esrb, msrresnet, rrdbnet, srvgg
from srprune.models.limits import check_config, check_config_dict, check_name
from srprune.models.spec import SPECS, ModelSpec, spec_for
from srprune.resources import check_model_fits

MODEL_MODULES = (basicvsr, basicvsrpp, edsr, esrb, msrresnet, srvgg, rrdbnet, bicubic)
"""The model files whose import registers the built-in architectures (in this order)."""


def _in_module_order() -> None:
    """Put the built-in specs in :data:`MODEL_MODULES` order, whatever imported first."""
    rank = {m.__name__: i for i, m in enumerate(MODEL_MODULES)}
    ordered = sorted(SPECS.items(), key=lambda kv: rank.get(kv[1].model_cls.__module__,
                                                              len(rank)))
    SPECS.clear()
    SPECS.update(ordered)


_in_module_order()


def model_names() -> tuple[str, ...]:
    """Every registered name pattern's label (``edsr-B-C``), in registration order."""
    return tuple(p.label for spec in SPECS.values() for p in spec.names)


def tiny_configs() -> dict[str, Any]:
    """Variant label -> tiny config over every registered architecture."""
    return {label: cfg for spec in SPECS.values() for label, cfg in spec.tiny.items()}


ARCHS: dict[str, tuple[type, type[nn.Module]]] = {
    arch: (spec.config_cls, spec.model_cls) for arch, spec in SPECS.items()}
"""arch -> (config class, module class) of the built-in architectures."""
TINY: dict[str, Any] = tiny_configs()
"""One tiny, fast config per prunable variant of the built-in architectures: what tests
parametrise over."""
MODEL_NAMES = model_names()


def match_name(name: str) -> tuple[ModelSpec, Any, Any] | None:
    """(spec, name pattern, match) of the first registered name ``name`` fullmatches."""
    for spec in SPECS.values():
        for pattern in spec.names:
            m = pattern.match(name)
            if m:
                return spec, pattern, m
    return None


def config_from_name(name: str, scale: int = 4) -> Any:
    """The config for a model name such as ``basicvsr-uni`` or ``esrb-6-256``."""
    check_name(name)
    found = match_name(name)
    if found is None:
        raise UserError(f"unknown model {name!r}; valid names: {', '.join(model_names())}")
    spec, pattern, m = found
    return spec.config_from_match(pattern, m, scale)


def build_model(config: Any) -> nn.Module:
    """Instantiate the module for a config dataclass (bounds and memory checked first)."""
    spec = spec_for(config)
    check_config(config)
    check_model_fits(config)
    try:
        return spec.model_cls(config)
    except ValueError as e:
        raise UserError(str(e)) from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, Any]) -> Any:
    """Rebuild a config, rejecting unknown architectures and keys by name."""
    check_config_dict(data)
    spec = spec_for(data["arch"])
    unknown = sorted(set(data) - spec.field_names)
    if unknown:
        raise UserError(f"unknown {spec.arch} config keys: {', '.join(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return spec.config_cls(**values)


def create_model(name: str, scale: int = 4) -> nn.Module:
    """Build a freshly initialised model by name."""
    return build_model(config_from_name(name, scale))

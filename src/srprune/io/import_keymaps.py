"""Foreign parameter names -> srprune's (BasicSR's) names, through the architectures' key maps.

The layouts are those of the tools that write checkpoints: BasicSR (srprune's native names, so no
renaming), mmagic / mmediting and EDSR-PyTorch. Each architecture's
:class:`~srprune.models.import_spec.ArchImporter` holds its key map per layout
(``key_maps[source]``, e.g. ``models/basicvsr_import.py``, ``models/edsr_import.py``) and the hints
that tell a bare state dict's layout from its names; this module composes them.
"""

from __future__ import annotations

from collections.abc import Iterable

import srprune.models.registry  # noqa: F401  (importing it registers every architecture)
from srprune.models.basicvsr_import import is_spynet_only, mmagic_key
from srprune.models.edsr_import import edsr_pytorch_body_conv_index, edsr_pytorch_key
from srprune.models.spec import SPECS, ModelSpec

SOURCES = ("basicsr", "mmagic", "edsr-pytorch")
__all__ = ["SOURCES", "basicsr_key", "edsr_pytorch_body_conv_index", "edsr_pytorch_key",
           "guess_source", "importable_specs", "is_spynet_only", "mmagic_key", "native_key",
           "strip_prefix"]


def importable_specs() -> list[ModelSpec]:
    """Registered architectures with an importer, by increasing importer priority."""
    return sorted((s for s in SPECS.values() if s.importer is not None),
                  key=lambda s: s.importer.priority)


def strip_prefix(key: str, prefix: str) -> str:
    """``key`` without every leading repetition of ``prefix`` (``module.module.x`` -> ``x``)."""
    while prefix and key.startswith(prefix):
        key = key[len(prefix):]
    return key


def basicsr_key(key: str) -> str:
    """BasicSR names are srprune's names."""
    return key


def native_key(source: str, key: str) -> str | None:
    """``key`` of a ``source`` layout -> the native key: the first family whose key map for
    ``source`` changes it (None: the tensor is consumed by that family's importer), else
    unchanged."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    for spec in importable_specs():
        key_map = spec.importer.key_maps.get(source)
        if key_map is not None:
            new = key_map(key)
            if new != key:
                return new
    return key


def guess_source(keys: Iterable[str]) -> str:
    """The layout a bare state dict most likely follows, from its (prefix-free) key names:
    mmagic for ``generator.*``, else the first family whose hints recognise one, else BasicSR."""
    keys = list(keys)
    if any(k.startswith("generator.") for k in keys):
        return "mmagic"
    for spec in importable_specs():
        for source, looks_like in spec.importer.source_hints.items():
            if looks_like(keys):
                return source
    return "basicsr"

"""One registration per architecture: what srprune knows about a model family.

A model file declares its family once, on the module class::

    @register_arch(arch="edsr", title="EDSR", config=EDSRConfig, names=(...), tiny={...},
                   bounds={...}, scales=(2, 3, 4), memory=MemoryModel(...), export=image_export,
                   importer=EDSR_IMPORTER)
    class EDSR(nn.Module): ...

The registry (:mod:`srprune.models.registry`), the bounds and memory formulas
(:mod:`srprune.models.limits`, :mod:`srprune.resources`) and the checkpoint importers
(:mod:`srprune.io.importers`) read :data:`SPECS`; none of them names an architecture. ``SPECS``
holds every built-in family once :mod:`srprune.models.registry` is imported (it imports each model
module); an unknown ``arch`` is a :class:`~srprune.errors.UserError` everywhere.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from srprune.errors import UserError

EXPORT_KINDS = ("image", "window", "stream")
BOUND_KINDS = ("int", "float", "bool", "choice", "mean3")

Bound = tuple[str, Any]
"""``(kind, bounds)``: ``("int", (lo, hi))``, ``("float", (lo, hi, lo_open))``, ``("bool", None)``,
``("choice", options)``, ``("mean3", None)`` (three numbers in [0, 1])."""


@dataclass(frozen=True)
class NamePattern:
    """A user-facing model name: ``label`` (``edsr-B-C``) for help texts, ``regex`` (fullmatch,
    lower case) and ``fields(match) -> {config field: value}``, the fields the name pins (the
    rest keep the config's defaults when building, or are inferred when importing)."""

    label: str
    regex: str
    fields: Callable[[re.Match[str]], dict[str, Any]] = lambda m: {}

    def match(self, name: str) -> re.Match[str] | None:
        """The fullmatch of ``name`` (lower-cased, stripped), or None."""
        return re.fullmatch(self.regex, name.strip().lower())


@dataclass(frozen=True)
class MemoryModel:
    """float32 values per LR pixel a model holds, as upper bounds (docs/limits.md).

    Attributes:
        inference: ``config -> (per_frame, fixed)``: one forward pass holds
            ``frames * per_frame + fixed`` values per LR pixel at its peak.
        training: ``config -> floats``: activations kept for backward per LR pixel and frame,
            on top of the inference peak.
    """

    inference: Callable[[Any], tuple[float, float]]
    training: Callable[[Any], float]


@dataclass(frozen=True)
class ModelSpec:
    """Everything srprune knows about one architecture (one ``@register_arch`` per family).

    Attributes:
        arch: the family's ``config.arch`` (``edsr``).
        title: its display name in messages (``EDSR``).
        config_cls: the frozen ``kw_only`` config dataclass (fields ``arch`` and ``scale``).
        model_cls: the ``nn.Module`` built from a config (satisfies ``SRModel``).
        names: user-facing names (``edsr``, ``edsr-B-C``), tried in order by the registry and by
            ``convert --arch``.
        tiny: variant label -> a tiny, fast config: what tests parametrise over (``TINY``).
        bounds: config field -> :data:`Bound`, checked before anything is allocated.
        scales: the scales the family supports (a name with another ``--scale`` is refused).
        memory: per-pixel memory formulas (:class:`MemoryModel`).
        export: ``config -> kind``, one of :data:`EXPORT_KINDS`: ``image`` (one image in, one
            out), ``window`` (a fixed number of frames, ``model.export_module("window", T)``) or
            ``stream`` (a causal cell carrying its hidden state, ``export_module("stream")``).
        importer: how foreign checkpoints of the family import
            (:class:`srprune.models.import_spec.ArchImporter`), or None if none do.
    """

    arch: str
    title: str
    config_cls: type
    model_cls: type
    names: tuple[NamePattern, ...]
    tiny: Mapping[str, Any]
    bounds: Mapping[str, Bound]
    scales: tuple[int, ...]
    memory: MemoryModel
    export: Callable[[Any], str]
    importer: Any = None
    _field_names: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def __post_init__(self) -> None:
        names = frozenset(f.name for f in dataclasses.fields(self.config_cls))
        object.__setattr__(self, "_field_names", names)
        missing = {"arch", "scale"} - names
        if missing:
            raise ValueError(f"{self.arch}: config class lacks {', '.join(sorted(missing))}")
        if self.config_cls().arch != self.arch:
            raise ValueError(f"{self.config_cls.__name__}().arch is not {self.arch!r}")
        bad = [k for k, (kind, _) in self.bounds.items() if k not in names or kind
               not in BOUND_KINDS]
        if bad:
            raise ValueError(f"{self.arch}: bounds on unknown fields or kinds: {bad}")
        if not self.scales or not self.names:
            raise ValueError(f"{self.arch}: a spec needs scales and at least one name")

    @property
    def field_names(self) -> frozenset[str]:
        """The config dataclass's field names."""
        return self._field_names

    def config_from_match(self, pattern: NamePattern, m: re.Match[str], scale: int) -> Any:
        """The config a matched name describes at ``scale`` (scale checked against
        :attr:`scales` first)."""
        if scale not in self.scales:
            allowed = ", ".join(f"x{s}" for s in self.scales)
            kind = f"a x{self.scales[0]} model" if len(self.scales) == 1 else f"{allowed} only"
            raise UserError(f"{m[0]} is {kind}; --scale {scale} is not available")
        return self.config_cls(**{"scale": scale, **pattern.fields(m)})

    def export_kind(self, config: Any) -> str:
        """``image``, ``window`` or ``stream`` for ``config``."""
        kind = self.export(config)
        if kind not in EXPORT_KINDS:
            raise ValueError(f"{self.arch}: export kind {kind!r} is not one of {EXPORT_KINDS}")
        return kind


SPECS: dict[str, ModelSpec] = {}
"""arch -> spec, in registration order."""

_M = TypeVar("_M", bound=type)


def register_arch(**fields: Any) -> Callable[[_M], _M]:
    """Class decorator: register the decorated module class under a :class:`ModelSpec` built
    from ``fields`` (every field but ``model_cls``; ``config`` stands for ``config_cls``).

    Re-registering an arch with another class is a ValueError (unregister it first).
    """
    if "config" in fields:
        fields["config_cls"] = fields.pop("config")

    def decorate(cls: _M) -> _M:
        spec = ModelSpec(model_cls=cls, **fields)
        old = SPECS.get(spec.arch)
        if old is not None and old.model_cls is not cls:
            raise ValueError(f"architecture {spec.arch!r} is already registered "
                             f"({old.model_cls.__qualname__})")
        SPECS[spec.arch] = spec
        return cls

    return decorate


def unregister_arch(arch: str) -> None:
    """Remove a registration (tests that register a toy architecture)."""
    SPECS.pop(arch, None)


def spec_for(what: Any) -> ModelSpec:
    """The spec of an arch name or of a config (anything with ``.arch``).

    Raises:
        UserError: the architecture is not registered (the message lists the known ones).
    """
    arch = what if isinstance(what, str) else getattr(what, "arch", None)
    spec = SPECS.get(arch) if isinstance(arch, str) else None
    if spec is None:
        raise UserError(f"unknown architecture {arch!r}; known: {', '.join(SPECS) or 'none'}")
    return spec


def image_export(config: Any) -> str:
    """The export form of every image model."""
    return "image"

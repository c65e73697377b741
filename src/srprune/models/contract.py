"""The model contract: what the pruner, trainer, runtime and reports may know of a model.

Code outside ``srprune.models`` learns about an architecture only through these capabilities; it
never reads layer names, widths or branch names:

* :class:`SRModel`: what every model declares (config, video or not, causal, flow network,
  image ports, channel groups);
* :class:`VideoSRModel`: what a video model adds (hidden states, ``return_hidden``, frame-by-frame
  streaming and export-shaped views, its streaming cell described by a :class:`CellSpec`);
* :class:`~srprune.pruning.declared.RSCBlock`: a residual block whose gather / scatter index
  buffers surgery writes (declared in the pruning core, which sits below the models).

:func:`require` checks one capability and names what is missing. Adding an architecture means a
model file that satisfies them plus its registration (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch
from torch import nn

from srprune.pruning.declared import RSCBlock, flow_groups, flow_network, is_video
from srprune.pruning.groups import Group, Port, ResidualMode

__all__ = ["CellSpec", "CellState", "RSCBlock", "SRModel", "VideoSRModel", "declared_hidden",
           "flow_groups", "flow_network", "flow_path", "is_video", "members", "require"]


@runtime_checkable
class SRModel(Protocol):
    """What every srprune model declares.

    Attributes:
        config: the architecture's frozen dataclass (``arch`` and ``scale`` among its fields);
            saved next to the weights.
        is_video: takes (N,T,3,h,w) clips (else (N,3,h,w) images); a video model also
            satisfies :class:`VideoSRModel`.
        causal: output frame t depends only on frames <= t, so the model can run frame by
            frame (image models trivially; a bidirectional video model is not causal).
        flow_net: the optical-flow network (None if there is none), called as
            ``flow_net(ref, supp) -> (N,2,H,W)``. It is counted once per frame by the
            profiler and, unless ``prune.flow`` is on, left whole and frozen while pruning
            stages train. A model with one may also declare ``flow_channel_groups()``
            (optional, read by :func:`~srprune.pruning.declared.flow_groups`): the flow
            network's prunable groups, role ``flow``, pruned only with ``prune.flow``.
    """

    config: Any
    is_video: bool

    @property
    def causal(self) -> bool: ...

    @property
    def flow_net(self) -> nn.Module | None: ...

    def image_ports(self) -> tuple[Port, ...]:
        """The conv axes that read or write image channels (RGB in, RGB or RGB x s^2 out).
        Their image side is never pruned; FMP keeps these convs free of weight pruning."""
        ...

    def channel_groups(self, residual: ResidualMode = "rsc") -> list[Group]:
        """Prunable channel groups with residual streams declared in ``residual`` mode."""
        ...

    def precision_roles(self) -> Mapping[str, tuple[str, ...]]:
        """Precision-sensitive parts by role (``head``, ``tail``, ``flow``, ...): dotted
        module-name prefixes inside the model. ``srprune quantize`` maps them to graph nodes
        through the exporter's module scopes and keeps the roles it is told to in float."""
        ...


@dataclass(frozen=True)
class CellState:
    """One tensor a streaming cell carries to the next frame: (N, ``channels``, h, w)."""

    name: str
    channels: int


@dataclass(frozen=True)
class CellSpec:
    """What a causal video model's streaming cell carries from one frame to the next.

    The cell (``export_module("stream")``) is called as
    ``cell(lr, *previous, *states) -> (sr, *new_states)``: ``previous`` are the
    ``previous_frames`` LR frames before ``lr``, most recent first, and ``states`` follow the
    order of :attr:`states`. At the first frame every previous frame is ``lr`` itself (later,
    missing older frames repeat the first) and every state is zeros; the cell run so over a clip
    equals the model's ``forward``.
    ONNX files name the inputs and outputs by :meth:`input_names` / :meth:`output_names`.
    """

    states: tuple[CellState, ...]
    previous_frames: int

    def previous_names(self) -> list[str]:
        """``prev_lr`` (the frame before), then ``prev_lr_2``, ... (older)."""
        return ["prev_lr" if i == 1 else f"prev_lr_{i}"
                for i in range(1, self.previous_frames + 1)]

    def input_names(self) -> list[str]:
        return ["lr", *self.previous_names(), *(s.name for s in self.states)]

    def output_names(self) -> list[str]:
        return ["sr", *(f"new_{s.name}" for s in self.states)]

    def to_dict(self) -> dict[str, Any]:
        return {"states": [[s.name, s.channels] for s in self.states],
                "previous_frames": self.previous_frames}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellSpec:
        """Inverse of :meth:`to_dict`; ValueError / TypeError / KeyError on a malformed dict."""
        states = tuple(CellState(str(n), int(c)) for n, c in data["states"])
        spec = cls(states, int(data["previous_frames"]))
        if spec.previous_frames < 0 or any(s.channels < 1 for s in states):
            raise ValueError(f"bad streaming cell description {dict(data)!r}")
        return spec


@runtime_checkable
class VideoSRModel(SRModel, Protocol):
    """What a video model (``is_video``) declares on top of :class:`SRModel`.

    Attributes:
        hidden_states: the final hidden states ``forward(x, return_hidden=True)`` returns, by
            name, each mapped to the channel group (in ``coupled`` residual mode) that sets its
            width, or None when its width never changes. Temporal Finetuning compares these;
            ``forward(x, return_hidden="all")`` returns every frame's states, (N,T,C,h,w) per
            name, for the temporal error-propagation measurement.
    """

    @property
    def hidden_states(self) -> Mapping[str, str | None]: ...

    def forward(self, lrs: torch.Tensor, return_hidden: bool | str = False
                ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(N,T,3,h,w) -> (N,T,3,sh,sw), with the hidden states when ``return_hidden``."""
        ...

    def stream(self, frames: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Causal models: (N,3,h,w) frames in, SR frames out, one at a time (ValueError if
        the model is not causal)."""
        ...

    def cell_spec(self) -> CellSpec:
        """Causal models: the states and previous frames of the streaming cell at the current
        widths (ValueError if the model is not causal)."""
        ...

    def export_module(self, kind: str, frames: int = 0) -> nn.Module:
        """An export-shaped view sharing the weights: ``stream`` (the cell :meth:`cell_spec`
        describes; causal models) or ``window`` (exactly ``frames`` frames in, as many out)."""
        ...


Capability = TypeVar("Capability")


def members(capability: type) -> list[str]:
    """The attributes and methods a capability protocol asks for, its bases' included."""
    names: list[str] = []
    for cls in reversed(capability.__mro__):
        if cls in (object, Protocol) or not getattr(cls, "_is_protocol", False):
            continue
        for name in [*getattr(cls, "__annotations__", {}), *vars(cls)]:
            if not name.startswith("_") and name not in names:
                names.append(name)
    return names


def require(obj: object, capability: type[Capability] = SRModel) -> Capability:  # type: ignore[assignment]
    """``obj`` as a ``capability`` (:class:`SRModel`, :class:`VideoSRModel`,
    :class:`RSCBlock`); a TypeError naming each missing member otherwise."""
    missing = [n for n in members(capability) if not hasattr(obj, n)]
    if capability is VideoSRModel and not missing and not getattr(obj, "is_video", False):
        missing = ["is_video = True"]
    if missing:
        raise TypeError(f"{type(obj).__name__} does not satisfy srprune's "
                        f"{capability.__name__} contract (missing: {', '.join(missing)})")
    return obj  # type: ignore[return-value]


def declared_hidden(model: nn.Module) -> Mapping[str, str | None]:
    """The ``hidden_states`` of a video model; empty for an image model."""
    return require(model, VideoSRModel).hidden_states if is_video(model) else {}


def flow_path(model: nn.Module) -> str | None:
    """Dotted path of the model's flow network inside it (None if it has none)."""
    flow = require(model).flow_net
    if flow is None:
        return None
    return next((n for n, m in model.named_modules() if m is flow and n), None)

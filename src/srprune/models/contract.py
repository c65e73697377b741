"""The model contract: everything the pruner, trainer, runtime and reports may know of a model.

Code outside ``srprune.models`` learns about an architecture only through this contract; it
never reads layer names, widths or branch names. Adding an architecture means a model file that
satisfies :class:`SRModel` plus one entry in :mod:`srprune.models.registry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from torch import nn

from srprune.pruning.groups import Group, Port, ResidualMode


@runtime_checkable
class SRModel(Protocol):
    """What every srprune model declares.

    Attributes:
        config: the architecture's frozen dataclass (``arch`` and ``scale`` among its fields);
            saved next to the weights.
        is_video: takes (N,T,3,h,w) clips (else (N,3,h,w) images).
        causal: output frame t depends only on frames <= t, so the model can run frame by
            frame (image models trivially; a bidirectional video model is not causal).
        flow_net: the optical-flow network (None if there is none). It is never pruned, is
            frozen while pruning stages train and is counted once per frame by the profiler.
        hidden_states: the final hidden states ``forward(x, return_hidden=True)`` returns, by
            name, each mapped to the channel group (in ``coupled`` residual mode) that sets its
            width, or None when its width never changes. Temporal Finetuning compares these;
            ``forward(x, return_hidden="all")`` returns every frame's states, (N,T,C,h,w) per
            name, for the temporal error-propagation measurement.
    """

    config: Any
    is_video: bool

    @property
    def causal(self) -> bool: ...

    @property
    def flow_net(self) -> nn.Module | None: ...

    @property
    def hidden_states(self) -> Mapping[str, str | None]: ...

    def image_ports(self) -> tuple[Port, ...]:
        """The conv axes that read or write image channels (RGB in, RGB or RGB x s^2 out).
        Their image side is never pruned; FMP keeps these convs free of weight pruning."""
        ...

    def channel_groups(self, residual: ResidualMode = "rsc") -> list[Group]:
        """Prunable channel groups with residual streams declared in ``residual`` mode."""
        ...


def require(model: nn.Module) -> SRModel:
    """``model`` as an :class:`SRModel`; a TypeError naming what is missing otherwise."""
    if not isinstance(model, SRModel):
        missing = [n for n in ("config", "is_video", "causal", "flow_net", "hidden_states",
                               "image_ports", "channel_groups") if not hasattr(model, n)]
        raise TypeError(f"{type(model).__name__} does not satisfy srprune's model contract "
                        f"(missing: {', '.join(missing)})")
    return model


def flow_path(model: nn.Module) -> str | None:
    """Dotted path of the model's flow network inside it (None if it has none)."""
    flow = require(model).flow_net
    if flow is None:
        return None
    return next((n for n, m in model.named_modules() if m is flow and n), None)


def image_port_modules(model: nn.Module) -> set[str]:
    """Paths of the convs with an image-facing axis."""
    return {p.module for p in require(model).image_ports()}


def is_video(model: nn.Module) -> bool:
    """The contract's ``is_video``; False for a plain module that declares nothing (the
    profiler and the trainer also take foreign modules, e.g. BasicSR's own for comparison)."""
    return bool(getattr(model, "is_video", False))


def flow_network(model: nn.Module) -> nn.Module | None:
    """The contract's ``flow_net``; None for a plain module that declares none."""
    flow = getattr(model, "flow_net", None)
    return flow if isinstance(flow, nn.Module) else None

"""Channel groups: the contract between a model and the pruner.

A model answers "what are your groups?" with a list of :class:`Group`. Each group is a set of
channels that are kept or removed together, described by the conv axes it touches. The pruner
never looks up layer names, widths or block counts: it only reads these declarations.

Residual streams can be declared two ways (see ``ResidualMode``):

* ``"rsc"`` (Residual Sparsity Connection, SSL): the stream keeps all channels; each residual
  block gets a *gather* group (the stream channels its first conv reads) and a *scatter* group
  (the stream channels its last conv adds into).
* ``"coupled"`` (ASSL, Torch-Pruning): every conv that writes the stream and every conv that reads
  it share one index set, so the stream itself shrinks.
* ``"fixed"`` (classic L1-norm pruning): the stream and the blocks' last convs are left whole;
  only the blocks' inner channels are pruned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

Axis = Literal["out", "in"]
ResidualMode = Literal["rsc", "coupled", "fixed"]
RESIDUAL_MODES: tuple[str, ...] = ("rsc", "coupled", "fixed")
FLOW_ROLE = "flow"
"""The role of the flow network's groups (a model's ``flow_channel_groups()``): selected at
their own ratio, apart from the SR network's groups (``prune.flow``, ``prune.flow_ratio``)."""


@dataclass(frozen=True)
class Port:
    """One conv's channel axis touched by a group.

    Attributes:
        module: dotted path of an ``nn.Conv2d`` inside the model.
        axis: ``"out"`` for filters (the conv produces the group), ``"in"`` for input channels
            (the conv consumes it).
        offset: first channel of the group on that axis (for concatenated inputs).
        unit: channels per pruning unit on that axis (``s*s`` for a conv feeding a pixel shuffle).
    """

    module: str
    axis: Axis
    offset: int = 0
    unit: int = 1


@dataclass(frozen=True)
class Group:
    """A set of pruning units that are kept or removed together.

    Attributes:
        name: unique, human-readable name (used by skip lists, reports and plots).
        units: number of units in the group.
        producers: conv output axes that create the channels.
        consumers: conv input axes that read them.
        followers: axes sliced with the group but neither scored nor scaled (a conv whose output
            multiplies the group, such as an attention block's mask conv).
        gather: path of a residual block whose first conv reads only the kept stream channels.
        scatter: path of a residual block whose last conv adds into only the kept channels.
        role: what the group is, for reports: ``filter``, ``rsc_in``, ``rsc_out``,
            ``pixel_shuffle``, ``stream`` or ``flow`` (:data:`FLOW_ROLE`: a hidden width of
            the flow network, declared apart and pruned only on request).
        layer: the layer the group belongs to, for per-layer plots.
    """

    name: str
    units: int
    producers: tuple[Port, ...] = ()
    consumers: tuple[Port, ...] = ()
    followers: tuple[Port, ...] = ()
    gather: str | None = None
    scatter: str | None = None
    role: str = "filter"
    layer: str = field(default="")

    def __post_init__(self) -> None:
        if not self.producers and not self.consumers:
            raise ValueError(f"group {self.name} touches no conv")
        if self.units < 1:
            raise ValueError(f"group {self.name} has no units")

    @property
    def scale_ports(self) -> tuple[Port, ...]:
        """Where a per-unit scale acts: every producer's output, else every consumer's input.

        Zeroing the scale of a unit then makes the model compute exactly what the model without
        that unit computes.
        """
        return self.producers if self.producers else self.consumers


def param_key(name: str) -> str:
    """A group name as a parameter / buffer key (``nn.ParameterDict`` refuses dots)."""
    return name.replace(".", "__")


def conv_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """Every ``nn.Conv2d`` of ``model`` by path."""
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def conv_at(model: nn.Module, path: str) -> nn.Conv2d:
    """The conv at ``path``; a clear error if the declaration points elsewhere."""
    module = model.get_submodule(path)
    if not isinstance(module, nn.Conv2d):
        raise TypeError(f"{path} is a {type(module).__name__}, not a Conv2d")
    return module


def unit_channels(port: Port, units: torch.Tensor) -> torch.Tensor:
    """Channel indices on ``port``'s axis covered by the given unit indices."""
    units = units.to(torch.long)
    within = torch.arange(port.unit, device=units.device)
    return (port.offset + units[:, None] * port.unit + within[None, :]).reshape(-1)


def filter_group(name: str, producer: str, consumers: list[Port], units: int,
                 unit: int = 1, role: str = "filter", layer: str = "") -> Group:
    """A plain group: one conv's filters (in units of ``unit``) and the convs that read them."""
    return Group(name=name, units=units, producers=(Port(producer, "out", 0, unit),),
                 consumers=tuple(consumers), role=role, layer=layer or producer)

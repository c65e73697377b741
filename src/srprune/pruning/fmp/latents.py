"""Latent vectors of FMP's hypernetwork, one per channel group, and the layout of conv axes.

Every conv axis (a conv's outputs or inputs) is covered by segments: a group's latent vector
(repeated ``unit`` times for pixel-shuffle units, placed at the port's offset) or, where no group
covers the channels (image input and output, attention internals), a free latent that is trained
but never pruned. Groups therefore carry the sharing: a coupled residual stream is one vector
for every conv that writes or reads it, as in DHP.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from srprune.pruning.groups import Group, conv_layers, param_key


@dataclass(frozen=True)
class Segment:
    """Channels ``[start, start + length)`` of an axis come from latent ``name`` (``unit``
    channels per latent entry)."""

    start: int
    length: int
    name: str
    unit: int = 1


AxisKey = tuple[str, str]  # (conv path, "in" | "out")


def axis_layouts(model: nn.Module, groups: list[Group]) -> dict[AxisKey, list[Segment]]:
    """Segments of every axis of every conv of ``model`` (followers included), in order.

    Raises:
        ValueError: two groups claim the same channels of one axis.
    """
    claimed: dict[AxisKey, list[Segment]] = {}
    for g in groups:
        for port in (*g.producers, *g.consumers, *g.followers):
            seg = Segment(port.offset, g.units * port.unit, f"group:{g.name}", port.unit)
            claimed.setdefault((port.module, port.axis), []).append(seg)
    layouts: dict[AxisKey, list[Segment]] = {}
    for path, conv in conv_layers(model).items():
        for axis, width in (("out", conv.out_channels), ("in", conv.in_channels)):
            segs = sorted(claimed.get((path, axis), []), key=lambda s: s.start)
            filled: list[Segment] = []
            pos = 0
            for s in segs:
                if s.start < pos:
                    raise ValueError(f"{path} {axis}: two groups claim channel {s.start}")
                if s.start > pos:
                    filled.append(Segment(pos, s.start - pos, f"free:{path}.{axis}.{pos}"))
                filled.append(s)
                pos = s.start + s.length
            if pos > width:
                raise ValueError(f"{path} {axis}: groups cover {pos} of {width} channels")
            if pos < width:
                filled.append(Segment(pos, width - pos, f"free:{path}.{axis}.{pos}"))
            layouts[(path, axis)] = filled
    return layouts


class LatentBank(nn.Module):
    """The latent vectors (``N(0, 1)`` init) and, per group, a monotone ``alive`` mask.

    Group latents are pruned (proximal step, threshold); free latents are only trained.
    """

    def __init__(self, groups: list[Group], layouts: dict[AxisKey, list[Segment]],
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.groups = {g.name: g for g in groups}
        sizes: dict[str, int] = {f"group:{g.name}": g.units for g in groups}
        for segs in layouts.values():
            for s in segs:
                if s.name.startswith("free:"):
                    sizes[s.name] = s.length
        self.names = sorted(sizes)
        self.z = nn.ParameterDict({
            param_key(n): nn.Parameter(torch.randn(sizes[n], generator=generator))
            for n in self.names})
        for g in groups:
            self.register_buffer(f"alive__{param_key(g.name)}",
                                 torch.ones(g.units, dtype=torch.bool))

    def vector(self, name: str) -> torch.Tensor:
        """The latent called ``name`` (``group:<g>`` or ``free:<axis>``)."""
        return self.z[param_key(name)]

    def latent(self, group: str) -> nn.Parameter:
        """The latent vector of group ``group``."""
        return self.z[param_key(f"group:{group}")]

    def alive(self, group: str) -> torch.Tensor:
        """Boolean mask of the units of ``group`` still in the network."""
        return getattr(self, f"alive__{param_key(group)}")

    def channel_mask(self, segments: list[Segment]) -> torch.Tensor:
        """0/1 float mask over an axis: removed units' channels are 0."""
        parts = []
        for s in segments:
            if s.name.startswith("group:"):
                alive = self.alive(s.name[len("group:"):])
                parts.append(alive.repeat_interleave(s.unit).to(self._dtype()))
            else:
                parts.append(torch.ones(s.length, dtype=self._dtype(), device=self._device()))
        return torch.cat(parts)

    def axis_vector(self, segments: list[Segment]) -> torch.Tensor:
        """The latent values along an axis (group entries repeated per unit channel)."""
        return torch.cat([self.vector(s.name).repeat_interleave(s.unit) for s in segments])

    def _dtype(self) -> torch.dtype:
        return next(iter(self.z.values())).dtype

    def _device(self) -> torch.device:
        return next(iter(self.z.values())).device

    def removed_units(self) -> dict[str, torch.Tensor]:
        """``{group: indices of removed units}`` (the format :func:`remove_units` takes)."""
        return {g: torch.nonzero(~self.alive(g).cpu()).flatten() for g in self.groups}



"""Per-unit scaling factors gamma (SSL's sparsity handles), applied by hooks and folded away.

For each group one gamma per unit, initialised to 1 so the model's output is unchanged. A gamma
multiplies its unit's channels on every *scale port* of the group: the producers' outputs (filter
scale, including the bias, so a zero gamma makes the channel exactly zero), or, for a group without
producers (an RSC block's gather group), the consumers' inputs. With a gamma at zero the model
computes exactly what the model without that unit computes, which is what makes removal lossless.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from srprune.pruning.groups import Group, Port, param_key, unit_channels
from srprune.pruning.handlers import layer_at


def _channel_scale(port: Port, gamma: torch.Tensor, width: int) -> torch.Tensor:
    """A (width,) vector: gamma expanded to its unit's channels, ones elsewhere."""
    vec = torch.ones(width, dtype=gamma.dtype, device=gamma.device)
    start = port.offset
    stop = start + gamma.numel() * port.unit
    expanded = gamma.repeat_interleave(port.unit)
    return torch.cat([vec[:start], expanded, vec[stop:]])


class UnitScales(nn.Module):
    """Learnable gammas for a list of groups, attached to a model by forward hooks.

    Args:
        model: the network whose convs the groups name.
        groups: the groups to scale (one gamma vector each, all ones).
    """

    def __init__(self, model: nn.Module, groups: list[Group]) -> None:
        super().__init__()
        self.groups = {g.name: g for g in groups}
        self.gammas = nn.ParameterDict({param_key(g.name): nn.Parameter(torch.ones(g.units))
                                        for g in groups})
        self._handles: list[RemovableHandle] = []
        self._model = [model]  # a list keeps the model out of this module's state
        device = next(model.parameters()).device
        self.to(device)

    def forward(self, x: object) -> object:
        """The identity: the gammas act through hooks. Registered on a container whose forward
        calls every child in turn (``nn.Sequential``), this module passes its input through."""
        return x

    def gamma(self, name: str) -> nn.Parameter:
        """The gamma vector of group ``name``."""
        return self.gammas[param_key(name)]

    def attach(self) -> UnitScales:
        """Register the hooks (idempotent)."""
        if self._handles:
            return self
        model = self._model[0]
        for name, group in self.groups.items():
            for port in group.scale_ports:
                conv, _ = layer_at(model, port.module)
                self._handles.append(self._hook(conv, port, name))
        return self

    def _hook(self, conv: nn.Conv2d, port: Port, name: str) -> RemovableHandle:
        if port.axis == "out":
            def scale_output(_m: nn.Module, _inp: tuple, out: torch.Tensor) -> torch.Tensor:
                vec = _channel_scale(port, self.gamma(name), out.shape[1])
                return out * vec.view(1, -1, 1, 1)
            return conv.register_forward_hook(scale_output)

        def scale_input(_m: nn.Module, inp: tuple) -> tuple:
            x = inp[0]
            vec = _channel_scale(port, self.gamma(name), x.shape[1])
            return (x * vec.view(1, -1, 1, 1), *inp[1:])
        return conv.register_forward_pre_hook(scale_input)

    def detach(self) -> None:
        """Remove the hooks; the model computes as if every gamma were 1."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    @torch.no_grad()
    def fold(self) -> None:
        """Multiply every gamma into its convs' weights (and biases), then detach and reset.

        Afterwards the bare model computes what the scaled model computed.
        """
        model = self._model[0]
        self.detach()
        for name, group in self.groups.items():
            g = self.gamma(name).detach()
            for port in group.scale_ports:
                layer, handler = layer_at(model, port.module)
                idx = unit_channels(port, torch.arange(group.units, device=g.device))
                handler.scale_channels(layer, port.axis, idx, g.repeat_interleave(port.unit))
            self.gamma(name).fill_(1.0)

    @torch.no_grad()
    def zero_units(self, removed: dict[str, torch.Tensor]) -> None:
        """Set the gammas of the given units to zero (the 'masked model')."""
        for name, units in removed.items():
            if len(units):
                self.gamma(name)[units.long()] = 0.0

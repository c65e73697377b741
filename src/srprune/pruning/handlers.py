"""Per-layer-type pruning handlers: how the pruner reads and shrinks one kind of layer.

The pruner touches layers only through a :class:`LayerHandler` looked up by the layer's type
(Torch-Pruning's "customised pruners"): scoring reads per-channel weight magnitudes, surgery
narrows the layer in place (same object, same class, so a subclass keeps its ``forward``), a
saved compact model is rebuilt by resizing the dense model's layers, and size accounting (params
and MACs of any widths, :mod:`srprune.pruning.sizes`) asks the handler what a layer costs.
``nn.Conv2d`` is handled out of the box; a user adds another type without editing the library::

    from srprune.pruning.handlers import LayerHandler, register_handler

    class MyLayerHandler(LayerHandler):
        def widths(self, m): return m.in_features, m.out_features
        ...

    register_handler(MyLayer, MyLayerHandler())
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize


class LayerHandler:
    """What the pruner needs of one layer type. Axes are ``"in"`` and ``"out"``."""

    def widths(self, layer: nn.Module) -> tuple[int, int]:
        """(input channels, output channels)."""
        raise NotImplementedError

    def channel_l1(self, layer: nn.Module, axis: str) -> torch.Tensor:
        """Sum of |weight| per channel of ``axis`` (float64, on the CPU)."""
        raise NotImplementedError

    def weights_per_channel(self, layer: nn.Module, axis: str) -> int:
        """How many weights one channel of ``axis`` has (to compare channels as means)."""
        raise NotImplementedError

    def shrink(self, layer: nn.Module, keep_out: torch.Tensor, keep_in: torch.Tensor
               ) -> nn.Module:
        """Keep only the given output / input channels; returns the layer to put at its path
        (the same object, narrowed in place, for the built-in handler)."""
        raise NotImplementedError

    def scale_channels(self, layer: nn.Module, axis: str, index: torch.Tensor,
                       factor: torch.Tensor) -> None:
        """Multiply channels ``index`` of ``axis`` by ``factor`` in place (folds a scale: on
        outputs the bias too, so the layer computes what the scaled layer computed)."""
        raise NotImplementedError

    def resized(self, layer: nn.Module, c_in: int, c_out: int) -> nn.Module:
        """``layer`` with other widths (values to be loaded afterwards); returns the layer to
        put at its path (the same object for the built-in handler)."""
        raise NotImplementedError

    def weights(self, layer: nn.Module, c_in: int, c_out: int) -> int:
        """Multiplying weights at widths (c_in, c_out): each is used once per output position,
        so this is also the layer's MACs per output position."""
        raise NotImplementedError

    def params(self, layer: nn.Module, c_in: int, c_out: int) -> int:
        """All parameters of the layer at widths (c_in, c_out) (weights and bias)."""
        raise NotImplementedError

    def positions(self, layer: nn.Module, output: torch.Tensor) -> int:
        """Output positions of one call that produced ``output`` (``N x H x W`` for a conv):
        the layer's MACs are ``positions x weights``."""
        raise NotImplementedError


class Conv2dHandler(LayerHandler):
    """Plain (ungrouped) 2-D convolutions: filters are outputs, kernel columns inputs."""

    def widths(self, layer: nn.Module) -> tuple[int, int]:
        return layer.in_channels, layer.out_channels

    def channel_l1(self, layer: nn.Module, axis: str) -> torch.Tensor:
        w = layer.weight.detach().abs().double()
        return (w.sum((1, 2, 3)) if axis == "out" else w.sum((0, 2, 3))).cpu()

    def weights_per_channel(self, layer: nn.Module, axis: str) -> int:
        c_out, c_in, kh, kw = layer.weight.shape
        return (c_in if axis == "out" else c_out) * kh * kw

    def resized(self, layer: nn.Module, c_in: int, c_out: int) -> nn.Module:
        if layer.groups != 1:
            raise ValueError("grouped convolutions are not prunable")
        w = layer.weight
        weight = torch.empty(c_out, c_in, *w.shape[2:], device=w.device, dtype=w.dtype)
        bias = None if layer.bias is None else \
            torch.empty(c_out, device=w.device, dtype=layer.bias.dtype)
        return _set_conv(layer, weight, bias)

    def weights(self, layer: nn.Module, c_in: int, c_out: int) -> int:
        kh, kw = layer.kernel_size
        return c_in * c_out * kh * kw // layer.groups

    def params(self, layer: nn.Module, c_in: int, c_out: int) -> int:
        return self.weights(layer, c_in, c_out) + (c_out if layer.bias is not None else 0)

    def positions(self, layer: nn.Module, output: torch.Tensor) -> int:
        return output.shape[0] * output.shape[-2] * output.shape[-1]

    @torch.no_grad()
    def scale_channels(self, layer: nn.Module, axis: str, index: torch.Tensor,
                       factor: torch.Tensor) -> None:
        factor = factor.to(layer.weight.dtype)
        if axis == "out":
            layer.weight[index] *= factor.view(-1, 1, 1, 1)
            if layer.bias is not None:
                layer.bias[index] *= factor
        else:
            layer.weight[:, index] *= factor.view(1, -1, 1, 1)

    @torch.no_grad()
    def shrink(self, layer: nn.Module, keep_out: torch.Tensor, keep_in: torch.Tensor
               ) -> nn.Module:
        if layer.groups != 1:
            raise ValueError("grouped convolutions are not prunable")
        dev = layer.weight.device
        keep_out, keep_in = keep_out.to(dev), keep_in.to(dev)
        weight = layer.weight.index_select(0, keep_out).index_select(1, keep_in)
        bias = None if layer.bias is None else layer.bias.index_select(0, keep_out)
        return _set_conv(layer, weight, bias)


def _set_conv(conv: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """Give ``conv`` new weight / bias Parameters (same ``requires_grad``) and the channel
    counts they imply; the module object, its class and its hooks stay."""
    if parametrize.is_parametrized(conv):
        raise ValueError("fold a parametrised conv (weight norm, hypernetwork) before resizing")
    conv.weight = nn.Parameter(weight.contiguous(), requires_grad=conv.weight.requires_grad)
    if bias is not None:
        conv.bias = nn.Parameter(bias.contiguous(), requires_grad=conv.bias.requires_grad)
    conv.out_channels, conv.in_channels = weight.shape[0], weight.shape[1] * conv.groups
    return conv


HANDLERS: dict[type[nn.Module], LayerHandler] = {nn.Conv2d: Conv2dHandler()}


def register_handler(layer_type: type[nn.Module], handler: LayerHandler) -> None:
    """Make ``layer_type`` (and its subclasses) prunable through ``handler``."""
    HANDLERS[layer_type] = handler


def handler_for(layer: nn.Module) -> LayerHandler | None:
    """The handler of ``layer``'s type or its nearest registered base class."""
    for cls in type(layer).__mro__:
        if cls in HANDLERS:
            return HANDLERS[cls]
    return None


def layer_at(model: nn.Module, path: str) -> tuple[nn.Module, LayerHandler]:
    """The layer at ``path`` and its handler; a clear error if no handler knows its type."""
    layer = model.get_submodule(path)
    handler = handler_for(layer)
    if handler is None:
        known = ", ".join(t.__name__ for t in HANDLERS)
        raise TypeError(f"{path} is a {type(layer).__name__}; prunable layer types: {known} "
                        "(register_handler adds one)")
    return layer, handler


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every layer of ``model`` that a handler knows, by path."""
    return {n: m for n, m in model.named_modules() if n and handler_for(m) is not None}


class PReLUHandler(LayerHandler):
    """``nn.PReLU`` with one slope per channel: a channel-wise layer, (C, C) wide, that follows
    the group of the conv feeding it (``Group.followers``): sliced with it, never scored or
    scaled. A zero channel stays zero (PReLU(0) = 0) and a scale g >= 0 passes through
    (PReLU(g x) = g PReLU(x)), so a scale on the conv before it stays exact. A PReLU with one
    shared slope has no channels to slice and is left as it is."""

    def widths(self, layer: nn.Module) -> tuple[int, int]:
        return layer.num_parameters, layer.num_parameters

    def channel_l1(self, layer: nn.Module, axis: str) -> torch.Tensor:
        return layer.weight.detach().abs().double().cpu()

    def weights_per_channel(self, layer: nn.Module, axis: str) -> int:
        return 1

    def weights(self, layer: nn.Module, c_in: int, c_out: int) -> int:
        """No multiply-accumulates: the profiler counts conv and linear MACs only."""
        return 0

    def params(self, layer: nn.Module, c_in: int, c_out: int) -> int:
        return c_out

    def positions(self, layer: nn.Module, output: torch.Tensor) -> int:
        return output.shape[0] * output.shape[-2] * output.shape[-1]

    def scale_channels(self, layer: nn.Module, axis: str, index: torch.Tensor,
                       factor: torch.Tensor) -> None:
        raise ValueError("a PReLU cannot absorb a channel scale: declare it as a follower of "
                         "the group of the conv before it")

    def resized(self, layer: nn.Module, c_in: int, c_out: int) -> nn.Module:
        if layer.num_parameters == 1:
            return layer
        layer.weight = nn.Parameter(torch.empty(c_out, device=layer.weight.device,
                                                dtype=layer.weight.dtype),
                                    requires_grad=layer.weight.requires_grad)
        layer.num_parameters = c_out
        return layer

    @torch.no_grad()
    def shrink(self, layer: nn.Module, keep_out: torch.Tensor, keep_in: torch.Tensor
               ) -> nn.Module:
        if layer.num_parameters == 1:
            return layer
        keep = keep_out[torch.isin(keep_out, keep_in)].to(layer.weight.device)
        layer.weight = nn.Parameter(layer.weight.index_select(0, keep).contiguous(),
                                    requires_grad=layer.weight.requires_grad)
        layer.num_parameters = len(keep)
        return layer


register_handler(nn.PReLU, PReLUHandler())

"""Per-layer-type pruning handlers: how the pruner reads and shrinks one kind of layer.

The pruner touches layers only through a :class:`LayerHandler` looked up by the layer's type
(Torch-Pruning's "customised pruners"): scoring reads per-channel weight magnitudes, surgery
builds a narrower copy, and a saved compact model is rebuilt with narrower layers of the same
kind. ``nn.Conv2d`` is handled out of the box; a user adds another type without editing the
library::

    from srprune.pruning.handlers import LayerHandler, register_handler

    class MyLayerHandler(LayerHandler):
        def widths(self, m): return m.in_features, m.out_features
        ...

    register_handler(MyLayer, MyLayerHandler())
"""

from __future__ import annotations

import torch
from torch import nn


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
        """A new layer with only the kept output / input channels (values copied)."""
        raise NotImplementedError

    def scale_channels(self, layer: nn.Module, axis: str, index: torch.Tensor,
                       factor: torch.Tensor) -> None:
        """Multiply channels ``index`` of ``axis`` by ``factor`` in place (folds a scale: on
        outputs the bias too, so the layer computes what the scaled layer computed)."""
        raise NotImplementedError

    def resized(self, layer: nn.Module, c_in: int, c_out: int) -> nn.Module:
        """A new layer like ``layer`` with other widths (values to be loaded afterwards)."""
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
        new = nn.Conv2d(c_in, c_out, layer.kernel_size, layer.stride, layer.padding,
                        layer.dilation, bias=layer.bias is not None,
                        padding_mode=layer.padding_mode)
        return new.to(device=layer.weight.device, dtype=layer.weight.dtype)

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
        dev = layer.weight.device
        keep_out, keep_in = keep_out.to(dev), keep_in.to(dev)
        new = self.resized(layer, len(keep_in), len(keep_out))
        new.weight.copy_(layer.weight.index_select(0, keep_out).index_select(1, keep_in))
        if layer.bias is not None:
            new.bias.copy_(layer.bias.index_select(0, keep_out))
        new.train(layer.training)
        return new


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

"""How each prunable layer is used in one forward pass, found without computing anything.

One pass of an example input through a ``meta`` copy of the model records, for every layer a
pruning handler knows (outside the flow network, which is never pruned), the spatial size of
its input, how many times it runs per output frame and the parameter-free activation (if any)
applied straight to its output (``F.relu``, ``F.leaky_relu``, ... as modules or functions:
seen through a ``TorchFunctionMode``). Layers with the same :class:`LayerUse` cost the same, so
the latency table measures each use once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.overrides import TorchFunctionMode

from srprune.pruning.sizes import trace_handled_layers

ACTIVATIONS: dict[Any, str] = {
    F.relu: "relu", torch.relu: "relu", F.relu_: "relu", torch.relu_: "relu",
    F.leaky_relu: "leaky_relu", F.leaky_relu_: "leaky_relu", F.sigmoid: "sigmoid",
    torch.sigmoid: "sigmoid", F.silu: "silu", F.gelu: "gelu", F.hardswish: "hardswish",
    torch.tanh: "tanh", F.tanh: "tanh",
}
"""Parameter-free activations a layer's output may go through, by the name the tables use."""


@dataclass(frozen=True)
class LayerUse:
    """What a layer's cost depends on besides its widths.

    Attributes:
        layer_type: the layer's class name (its handler decides how it is sized).
        attrs: the layer's shape attributes other than its widths (kernel, stride, padding,
            dilation, groups, bias) as text.
        height, width: spatial size of its input.
        activation: ``name`` or ``name:slope`` of the activation on its output, or ``""``.
    """

    layer_type: str
    attrs: str
    height: int
    width: int
    activation: str = ""

    def key(self) -> str:
        """A stable text key (for the table file)."""
        return (f"{self.layer_type}({self.attrs})@{self.height}x{self.width}"
                f"{'+' + self.activation if self.activation else ''}")


def layer_attrs(layer: nn.Module) -> str:
    """A layer's shape attributes other than its widths, as text."""
    names = ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")
    parts = [f"{n}={getattr(layer, n)}" for n in names if hasattr(layer, n)]
    parts.append(f"bias={getattr(layer, 'bias', None) is not None}")
    return ",".join(parts)


class _ActivationSpy(TorchFunctionMode):
    """Notes an activation applied directly to a tensor a watched layer produced."""

    def __init__(self, outputs: dict[int, str]) -> None:
        super().__init__()
        self.outputs = outputs  # id(output tensor) -> layer path
        self.seen: dict[str, str] = {}

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None
                           ) -> Any:
        kwargs = kwargs or {}
        name = ACTIVATIONS.get(func)
        if name is not None and args and id(args[0]) in self.outputs:
            if name == "leaky_relu":
                slope = args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01)
                name = f"leaky_relu:{float(slope):g}"
            self.seen.setdefault(self.outputs[id(args[0])], name)
        return func(*args, **kwargs)


def layer_uses(model: nn.Module, example: torch.Tensor, frames: int,
               skip: nn.Module | None = None) -> dict[str, tuple[LayerUse, float]]:
    """``{path: (use, calls per output frame)}`` of every handled layer outside ``skip``.

    A layer called at several input sizes is recorded at its most frequent one.
    """
    sizes: dict[str, Counter] = {}
    outputs: dict[int, str] = {}
    keep: list[torch.Tensor] = []  # keeps outputs alive, so ids stay unique

    def seen(name: str, mod: nn.Module, inp: tuple, out: Any) -> None:
        if not name:
            return
        sizes.setdefault(name, Counter())[tuple(inp[0].shape[-2:])] += 1
        if isinstance(out, torch.Tensor):
            outputs[id(out)] = name
            keep.append(out)

    spy = _ActivationSpy(outputs)
    trace_handled_layers(model, example, seen, skip, spy)
    layers = dict(model.named_modules())
    uses = {}
    for name, counts in sizes.items():
        (h, w), _ = counts.most_common(1)[0]
        layer = layers[name]
        use = LayerUse(type(layer).__name__, layer_attrs(layer), int(h), int(w),
                       spy.seen.get(name, ""))
        uses[name] = (use, sum(counts.values()) / frames)
    return uses

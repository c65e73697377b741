"""Params and MACs of a channel-pruned model, computed from the removed units without building it.

A layer's MACs are ``positions x weights(c_in, c_out)``: its output positions over one forward
pass (counted once, on the ``meta`` device) times its multiplying weights at the given widths,
both answered by the layer's handler (:mod:`srprune.pruning.handlers`), so a registered layer
type is counted like a conv. The size of any selection is then a sum over layers of kept
widths: microseconds instead of a surgery and a FLOP count per candidate, so a size search
(``pruning/targets.py``) can try many selections. FMP's budget (``pruning/fmp/budget.py``)
counts with the same positions. Equal to the profiler's FLOP count (tested).
"""

from __future__ import annotations

import contextlib
import copy
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from srprune.pruning.groups import Group
from srprune.pruning.handlers import LayerHandler, handler_for


def trace_handled_layers(model: nn.Module, example: torch.Tensor,
                         on_call: Callable[[str, nn.Module, tuple, Any], None],
                         skip: nn.Module | None = None,
                         context: contextlib.AbstractContextManager | None = None) -> None:
    """One forward pass of ``example`` through a ``meta`` copy of ``model``, calling
    ``on_call(path, layer, inputs, output)`` at every call of every layer a handler knows;
    layers inside ``skip`` (a submodule, such as a flow network) are left out. ``context`` is
    entered around the pass (e.g. a ``TorchFunctionMode``)."""
    meta = copy.deepcopy(model).to("meta").eval()
    skipped = set()
    if skip is not None:
        path = next(n for n, m in model.named_modules() if m is skip)
        skipped = {id(m) for m in meta.get_submodule(path).modules()}
    hooks = []
    for name, m in meta.named_modules():
        if handler_for(m) is None or id(m) in skipped:
            continue

        def call(mod: nn.Module, inp: tuple, out: Any, name: str = name) -> None:
            on_call(name, mod, inp, out)
        hooks.append(m.register_forward_hook(call))
    try:
        with torch.no_grad(), context or contextlib.nullcontext():
            meta(example.to("meta"))
    finally:
        for hook in hooks:
            hook.remove()


def layer_positions(model: nn.Module, example: torch.Tensor, skip: nn.Module | None = None
                    ) -> dict[str, int]:
    """Output positions (summed over all calls) of every handled layer for one forward pass of
    ``example`` through a ``meta`` copy of ``model``; layers inside ``skip`` (a submodule, such as
    a flow network) are left out."""
    positions: dict[str, int] = defaultdict(int)

    def count(name: str, mod: nn.Module, _inp: tuple, out: Any) -> None:
        handler: LayerHandler = handler_for(mod)  # type: ignore[assignment]
        positions[name] += handler.positions(mod, out)

    trace_handled_layers(model, example, count, skip)
    return dict(positions)


def layer_widths(layers: dict[str, nn.Module], groups: list[Group],
                 removed: dict[str, torch.Tensor]) -> dict[str, tuple[int, int]]:
    """(c_in, c_out) of every layer of ``layers`` (handled layers by path) after removing
    ``removed`` units of ``groups``: no forward pass needed."""
    cut_in: dict[str, int] = defaultdict(int)
    cut_out: dict[str, int] = defaultdict(int)
    for g in groups:
        k = len(removed.get(g.name, ()))
        if not k:
            continue
        for port in (*g.producers, *g.consumers, *g.followers):
            (cut_out if port.axis == "out" else cut_in)[port.module] += k * port.unit
    out = {}
    for name, layer in layers.items():
        c_in, c_out = handler_for(layer).widths(layer)
        out[name] = (c_in - cut_in[name], c_out - cut_out[name])
    return out


def flow_passes(model: nn.Module, example: torch.Tensor, flow: nn.Module) -> int:
    """Image pairs the flow network ``flow`` (a submodule of ``model``) sees in one forward
    pass of ``example`` (on a ``meta`` copy; calls are batched over pairs)."""
    meta = copy.deepcopy(model).to("meta").eval()
    path = next(n for n, m in model.named_modules() if m is flow)
    pairs = [0]

    def count(_m: nn.Module, inputs: tuple, _out: object) -> None:
        pairs[0] += inputs[0].shape[0]

    hook = meta.get_submodule(path).register_forward_hook(count)
    try:
        with torch.no_grad():
            meta(example.to("meta"))
    finally:
        hook.remove()
    return pairs[0]


class SizeModel:
    """Params and per-frame MACs of ``model`` after removing units, per handled layer.

    Args:
        model: the dense (or already compact) model the groups refer to.
        lr_size: LR input size at which MACs are counted.
        frames: clip length of the counting pass (video models: ``model.is_video``).
        example: the input of the counting pass instead (a plain module's own input; then
            MACs are per forward pass).
        flow: also count the flow network's layers (``flow_net``; when it is pruned too):
            their params, and their MACs per flow pass (one pass per frame, the profiler's
            convention) in ``macs(..., with_flow=True)``. Off, the flow network is a fixed
            part of the params and outside every MAC count.
    """

    def __init__(self, model: nn.Module, lr_size: tuple[int, int] | None = None,
                 frames: int = 2, example: torch.Tensor | None = None,
                 flow: bool = False) -> None:
        video = bool(getattr(model, "is_video", False)) and example is None
        flow_net = getattr(model, "flow_net", None)
        flow_net = flow_net if isinstance(flow_net, nn.Module) else None
        if example is None:
            if lr_size is None:
                raise ValueError("SizeModel needs lr_size or an example input")
            shape = (1, frames, 3, *lr_size) if video else (1, 3, *lr_size)
            example = torch.empty(shape, device="meta")
        skip = None if flow else flow_net
        counted = layer_positions(model, example, skip)
        inside = {id(m) for m in flow_net.modules()} if flow_net is not None else set()
        self.layers = {name: m for name, m in model.named_modules()
                       if name and handler_for(m) is not None
                       and (flow or id(m) not in inside)}
        self.flow_layers = {k for k, m in self.layers.items() if id(m) in inside}
        n = frames if video else 1
        passes = max(1, flow_passes(model, example, flow_net)) if self.flow_layers else 1
        self.positions = {k: v / (passes if k in self.flow_layers else n)  # 0: never run
                          for k, v in counted.items()}
        self.handlers = {k: handler_for(m) for k, m in self.layers.items()}
        dense = sum(h.params(self.layers[k], *h.widths(self.layers[k]))
                    for k, h in self.handlers.items())
        self.other_params = sum(p.numel() for p in model.parameters()) - dense

    def widths(self, groups: list[Group], removed: dict[str, torch.Tensor]
               ) -> dict[str, tuple[int, int]]:
        """(c_in, c_out) of every counted layer after the removal."""
        return layer_widths(self.layers, groups, removed)

    def macs(self, groups: list[Group], removed: dict[str, torch.Tensor],
             with_flow: bool = False) -> float:
        """MACs per frame of the handled layers outside the flow network (and one pass of
        the flow network with ``with_flow``, when it is counted: ``flow=True``)."""
        return sum(self.positions.get(n, 0.0) * self.handlers[n].weights(self.layers[n], ci, co)
                   for n, (ci, co) in self.widths(groups, removed).items()
                   if with_flow or n not in self.flow_layers)

    def params(self, groups: list[Group], removed: dict[str, torch.Tensor]) -> float:
        """All parameters (the flow network's included, as pruned when counted) after the
        removal."""
        return float(self.other_params) + sum(
            self.handlers[n].params(self.layers[n], ci, co)
            for n, (ci, co) in self.widths(groups, removed).items())

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

import copy
from collections import defaultdict

import torch
from torch import nn

from srprune.pruning.groups import Group
from srprune.pruning.handlers import LayerHandler, handler_for


def layer_positions(model: nn.Module, example: torch.Tensor, skip: nn.Module | None = None
                    ) -> dict[str, int]:
    """Output positions (summed over all calls) of every handled layer for one forward pass of
    ``example`` through a ``meta`` copy of ``model``; layers inside ``skip`` (a submodule, such as
    a flow network) are left out."""
    meta = copy.deepcopy(model).to("meta").eval()
    skipped = set()
    if skip is not None:
        path = next(n for n, m in model.named_modules() if m is skip)
        skipped = {id(m) for m in meta.get_submodule(path).modules()}
    positions: dict[str, int] = defaultdict(int)
    hooks = []
    for name, m in meta.named_modules():
        handler = handler_for(m)
        if handler is None or id(m) in skipped:
            continue

        def count(mod: nn.Module, _inp: tuple, out: torch.Tensor, name: str = name,
                  handler: LayerHandler = handler) -> None:
            positions[name] += handler.positions(mod, out)
        hooks.append(m.register_forward_hook(count))
    try:
        with torch.no_grad():
            meta(example.to("meta"))
    finally:
        for hook in hooks:
            hook.remove()
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


class SizeModel:
    """Params and per-frame MACs of ``model`` after removing units, per handled layer.

    Args:
        model: the dense (or already compact) model the groups refer to.
        lr_size: LR input size at which MACs are counted.
        frames: clip length of the counting pass (video models: ``model.is_video``).
        example: the input of the counting pass instead (a plain module's own input; then
            MACs are per forward pass).
    """

    def __init__(self, model: nn.Module, lr_size: tuple[int, int] | None = None,
                 frames: int = 2, example: torch.Tensor | None = None) -> None:
        video = bool(getattr(model, "is_video", False)) and example is None
        flow = getattr(model, "flow_net", None)  # never pruned: counted by the profiler alone
        if example is None:
            if lr_size is None:
                raise ValueError("SizeModel needs lr_size or an example input")
            shape = (1, frames, 3, *lr_size) if video else (1, 3, *lr_size)
            example = torch.empty(shape, device="meta")
        skip = flow if isinstance(flow, nn.Module) else None
        counted = layer_positions(model, example, skip)
        n = frames if video else 1
        self.positions = {k: v / n for k, v in counted.items()}  # 0 for a layer never run
        skipped = {id(m) for m in skip.modules()} if skip is not None else set()
        self.layers = {name: m for name, m in model.named_modules()
                       if name and handler_for(m) is not None and id(m) not in skipped}
        self.handlers = {k: handler_for(m) for k, m in self.layers.items()}
        dense = sum(h.params(self.layers[k], *h.widths(self.layers[k]))
                    for k, h in self.handlers.items())
        self.other_params = sum(p.numel() for p in model.parameters()) - dense

    def widths(self, groups: list[Group], removed: dict[str, torch.Tensor]
               ) -> dict[str, tuple[int, int]]:
        """(c_in, c_out) of every counted layer after the removal."""
        return layer_widths(self.layers, groups, removed)

    def macs(self, groups: list[Group], removed: dict[str, torch.Tensor]) -> float:
        """MACs per frame of the handled layers outside the flow network."""
        return sum(self.positions.get(n, 0.0) * self.handlers[n].weights(self.layers[n], ci, co)
                   for n, (ci, co) in self.widths(groups, removed).items())

    def params(self, groups: list[Group], removed: dict[str, torch.Tensor]) -> float:
        """All parameters (the flow network's included) after the removal."""
        return float(self.other_params) + sum(
            self.handlers[n].params(self.layers[n], ci, co)
            for n, (ci, co) in self.widths(groups, removed).items())

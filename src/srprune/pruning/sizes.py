"""Params and MACs of a channel-pruned model, computed from the removed units without building it.

Every conv's MACs per output frame are ``positions x c_in x c_out x k^2`` (positions: output
pixels it computes per frame), so once the positions are known (one forward pass on the meta
device), the size of any selection is a sum over convs of kept widths: microseconds instead of
a surgery and a FLOP count per candidate. A size search (``pruning/targets.py``) can then try
many selections. Equal to the profiler's conv/linear MAC count (tested).
"""

from __future__ import annotations

import copy
from collections import defaultdict

import torch
from torch import nn

from srprune.models.contract import flow_network, is_video
from srprune.pruning.groups import Group


class SizeModel:
    """Params and per-frame MACs of ``model`` after removing units, per conv.

    Args:
        model: the dense (or already compact) model the groups refer to.
        lr_size: LR input size at which MACs are counted.
        frames: clip length of the counting pass (video models).
    """

    def __init__(self, model: nn.Module, lr_size: tuple[int, int], frames: int = 2) -> None:
        meta = copy.deepcopy(model).to("meta").eval()
        flow = flow_network(meta)
        flow_convs = {id(m) for m in flow.modules()} if flow is not None else set()
        positions: dict[str, float] = defaultdict(float)
        self.convs: dict[str, nn.Conv2d] = {}
        hooks = []
        for name, m in meta.named_modules():
            if isinstance(m, nn.Conv2d) and id(m) not in flow_convs:
                self.convs[name] = m

                def count(mod: nn.Module, inp: tuple, out: torch.Tensor, name: str = name) -> None:
                    positions[name] += out.shape[0] * out.shape[-2] * out.shape[-1]
                hooks.append(m.register_forward_hook(count))
        video = is_video(meta)
        h, w = lr_size
        x = torch.empty(1, frames, 3, h, w, device="meta") if video else \
            torch.empty(1, 3, h, w, device="meta")
        with torch.no_grad():
            meta(x)
        for hook in hooks:
            hook.remove()
        n = frames if video else 1
        self.positions = {k: v / n for k, v in positions.items()}
        self.kernel = {k: m.kernel_size[0] * m.kernel_size[1] // m.groups
                       for k, m in self.convs.items()}
        conv_params = sum(p.numel() for m in self.convs.values() for p in m.parameters())
        self.other_params = sum(p.numel() for p in meta.parameters()) - conv_params

    def widths(self, groups: list[Group], removed: dict[str, torch.Tensor]
               ) -> dict[str, tuple[int, int]]:
        """(c_in, c_out) of every counted conv after the removal."""
        cut_in: dict[str, int] = defaultdict(int)
        cut_out: dict[str, int] = defaultdict(int)
        for g in groups:
            k = len(removed.get(g.name, ()))
            if not k:
                continue
            for port in (*g.producers, *g.consumers, *g.followers):
                (cut_out if port.axis == "out" else cut_in)[port.module] += k * port.unit
        return {name: (m.in_channels - cut_in[name], m.out_channels - cut_out[name])
                for name, m in self.convs.items()}

    def macs(self, groups: list[Group], removed: dict[str, torch.Tensor]) -> float:
        """Conv MACs per frame outside the flow network."""
        return sum(self.positions.get(n, 0.0) * ci * co * self.kernel[n]
                   for n, (ci, co) in self.widths(groups, removed).items())

    def params(self, groups: list[Group], removed: dict[str, torch.Tensor]) -> float:
        """All parameters (the flow network's included) after the removal."""
        total = float(self.other_params)
        for n, (ci, co) in self.widths(groups, removed).items():
            total += ci * co * self.kernel[n] + (co if self.convs[n].bias is not None else 0)
        return total

"""SPyNet optical flow (Ranjan & Black, CVPR 2017) in BasicSR's layout.

Six pyramid levels, each a ``basic_module`` of five 7x7 convs (8->32->64->32->16->2, ReLU between;
the hidden widths scale with ``width``).
Frames are normalised with ImageNet statistics, resized to a multiple of 32 and the flow is resized
back and rescaled. The coarsest level starts from zero flow at its own size, so frames of any size
(1x1 included) work; from 33 pixels up the output is BasicSR's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from srprune.models.blocks import flow_warp
from srprune.pruning.groups import FLOW_ROLE, Group, Port, filter_group

PYRAMID_LEVELS = 6


class SpyNetLevel(nn.Module):
    """One pyramid level: ``basic_module`` = conv7x7 stack predicting a flow residual."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        widths = [8, width, 2 * width, width, max(1, width // 2), 2]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Conv2d(c_in, c_out, 7, 1, 3))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.basic_module = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(x)

    def channel_groups(self, path: str) -> list[Group]:
        """The hidden widths of the conv chain (``path``: this level inside the model), one
        filter group per hidden conv read by the next; the input (frames and flow) and the
        output (the flow residual) keep their channels."""
        convs = [i for i, m in enumerate(self.basic_module) if isinstance(m, nn.Conv2d)]
        groups = []
        for producer, consumer in zip(convs[:-1], convs[1:], strict=True):
            name = f"{path}.basic_module.{producer}"
            groups.append(filter_group(name, name, [Port(f"{path}.basic_module.{consumer}",
                                                         "in")],
                                       self.basic_module[producer].out_channels,
                                       role=FLOW_ROLE))
        return groups


class SpyNet(nn.Module):
    """Flow from ``ref`` to ``supp``: ``supp(p + flow(p)) ~ ref(p)``.

    ``width`` is the first hidden width of every level (official 32: 8->32->64->32->16->2); a
    narrower SPyNet (e.g. 8: 8->8->16->8->4->2, 17x fewer MACs) suits small models whose flow
    net would otherwise cost more than their SR part.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.basic_module = nn.ModuleList([SpyNetLevel(width) for _ in range(PYRAMID_LEVELS)])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def channel_groups(self, path: str) -> list[Group]:
        """Every level's hidden groups (:meth:`SpyNetLevel.channel_groups`); ``path``: this
        network inside the model (e.g. ``spynet``)."""
        return [g for i, level in enumerate(self.basic_module)
                for g in level.channel_groups(f"{path}.basic_module.{i}")]

    def _pyramid_flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        refs = [(ref - self.mean) / self.std]
        supps = [(supp - self.mean) / self.std]
        for _ in range(PYRAMID_LEVELS - 1):
            refs.insert(0, F.avg_pool2d(refs[0], 2, 2, count_include_pad=False))
            supps.insert(0, F.avg_pool2d(supps[0], 2, 2, count_include_pad=False))
        flow = refs[0].new_zeros(refs[0].shape[0], 2, *refs[0].shape[-2:])
        for level, (r, s) in enumerate(zip(refs, supps, strict=True)):
            if level == 0:
                # BasicSR upsamples a zero flow of half this size: zeros either way, and this
                # also works when the coarsest level is a single pixel.
                up = flow
            else:
                up = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2
                if up.size(2) != r.size(2):
                    up = F.pad(up, [0, 0, 0, 1], mode="replicate")
                if up.size(3) != r.size(3):
                    up = F.pad(up, [0, 1, 0, 0], mode="replicate")
            warped = flow_warp(s, up, padding_mode="border")
            flow = self.basic_module[level](torch.cat([r, warped, up], 1)) + up
        return flow

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        """Args: ``ref``, ``supp`` (N,3,H,W) in [0,1]. Returns: flow (N,2,H,W) in pixels."""
        h, w = ref.shape[-2:]
        # BasicSR resizes to ceil(size/32)*32 (at least 32, so five halvings leave a pixel).
        h_r = max(32, math.ceil(h / 32) * 32)
        w_r = max(32, math.ceil(w / 32) * 32)
        ref_r = F.interpolate(ref, size=(h_r, w_r), mode="bilinear", align_corners=False)
        supp_r = F.interpolate(supp, size=(h_r, w_r), mode="bilinear", align_corners=False)
        flow = F.interpolate(self._pyramid_flow(ref_r, supp_r), size=(h, w), mode="bilinear",
                             align_corners=False)
        scale = torch.tensor([w / w_r, h / h_r], dtype=flow.dtype, device=flow.device)
        return flow * scale.view(1, 2, 1, 1)

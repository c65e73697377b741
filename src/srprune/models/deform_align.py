"""BasicVSR++'s second-order flow-guided deformable alignment, and how the pruner shrinks it.

The module is the DCNv2 layer itself (``weight``, ``bias``: an ``nn.Conv2d`` whose forward is
deformable) plus ``conv_offset``, the conv stack that predicts offset residues and masks from
``[extra_feat, flow_1, flow_2]``. Its input is ``[feat_n1, feat_n2]`` (the propagated features
one and two frames back); the first half of the deformable groups reads ``feat_n1`` and moves
along ``flow_1``, the second half ``feat_n2`` along ``flow_2``. Offsets are the flows plus
``max_residue_magnitude * tanh(residue)``. Parameter names are BasicSR's and mmagic's.

Being a ``Conv2d``, the layer is counted, scaled, weight-normalised and narrowed like one; its
handler (registered here) adds one thing. When its input channels are pruned it keeps
``in_index`` (the dense input channels it still reads) so every kept channel still samples at
its own deformable group's offsets.
"""

from __future__ import annotations

from types import MappingProxyType

import torch
from torch import nn

from srprune.models.blocks import IndexBuffers
from srprune.models.deform import modulated_deform_conv2d
from srprune.pruning.handlers import Conv2dHandler, register_handler


class SecondOrderDeformableAlignment(IndexBuffers, nn.Conv2d):
    """``(x, extra_feat, flow_1, flow_2) -> aligned features`` (3x3 DCNv2, stride 1, pad 1).

    Declares one index buffer (``in``: the input channels it still reads, set by its handler),
    so saved structures record it as they record RSC blocks' (``IndexBuffers``).

    Args:
        in_channels: width of ``x`` = ``[feat_n1, feat_n2]`` (BasicVSR++: 2C).
        out_channels: aligned width (C); also the hidden width of ``conv_offset``.
        deform_groups: deformable groups G (BasicVSR++: 16; even, dividing ``in_channels``).
        max_residue_magnitude: bound on the learned offset residue (BasicVSR++: 10).
        cond_channels: width of ``extra_feat`` (default ``3 * out_channels``).
    """

    rsc_buffers = MappingProxyType({"in": "in_index"})

    def __init__(self, in_channels: int, out_channels: int, deform_groups: int = 16,
                 max_residue_magnitude: float = 10.0, cond_channels: int | None = None) -> None:
        if deform_groups % 2 or in_channels % deform_groups:
            raise ValueError(f"deform_groups {deform_groups} must be even and divide the "
                             f"{in_channels} input channels")
        super().__init__(in_channels, out_channels, 3, 1, 1)
        self.deform_groups = deform_groups
        self.max_residue_magnitude = max_residue_magnitude
        self.group_channels = in_channels // deform_groups
        cond = 3 * out_channels if cond_channels is None else cond_channels
        act = nn.LeakyReLU(0.1, inplace=True)
        self.conv_offset = nn.Sequential(
            nn.Conv2d(cond + 4, out_channels, 3, 1, 1), act,
            nn.Conv2d(out_channels, out_channels, 3, 1, 1), act,
            nn.Conv2d(out_channels, out_channels, 3, 1, 1), act,
            nn.Conv2d(out_channels, 27 * deform_groups, 3, 1, 1))
        nn.init.zeros_(self.conv_offset[-1].weight)  # start from the flows, masks 0.5
        nn.init.zeros_(self.conv_offset[-1].bias)
        self.register_index_buffers()

    def offsets(self, extra_feat: torch.Tensor, flow_1: torch.Tensor, flow_2: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(offsets (N, 2GK, h, w), masks (N, GK, h, w)) from the condition and the flows."""
        out = self.conv_offset(torch.cat([extra_feat, flow_1, flow_2], dim=1))
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        residue = self.max_residue_magnitude * torch.tanh(torch.cat((o1, o2), dim=1))
        r1, r2 = torch.chunk(residue, 2, dim=1)
        pairs = r1.shape[1] // 2  # (dy, dx) pairs per half; flows are (dx, dy)
        offset = torch.cat([r1 + flow_1.flip(1).repeat(1, pairs, 1, 1),
                            r2 + flow_2.flip(1).repeat(1, pairs, 1, 1)], dim=1)
        return offset, torch.sigmoid(mask)

    def forward(self, x: torch.Tensor, extra_feat: torch.Tensor,  # type: ignore[override]
                flow_1: torch.Tensor, flow_2: torch.Tensor) -> torch.Tensor:
        offset, mask = self.offsets(extra_feat, flow_1, flow_2)
        group = None if self.in_index is None else self.in_index // self.group_channels
        return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias,
                                       self.padding[0], self.dilation[0], group)


class DeformAlignHandler(Conv2dHandler):
    """Conv2d's scoring, scaling and in-place narrowing (the layer keeps its class and
    ``conv_offset``), plus the input channels' deformable groups."""

    @torch.no_grad()
    def shrink(self, layer: nn.Module, keep_out: torch.Tensor, keep_in: torch.Tensor
               ) -> nn.Module:
        width, old = layer.in_channels, layer.in_index
        layer = super().shrink(layer, keep_out, keep_in)
        if old is not None or len(keep_in) < width:
            base = old if old is not None else torch.arange(width)
            kept = base.to(keep_in.device)[keep_in]
            layer.register_buffer("in_index", kept.to(layer.weight.device))
        return layer


register_handler(SecondOrderDeformableAlignment, DeformAlignHandler())

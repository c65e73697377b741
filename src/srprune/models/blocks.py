"""Building blocks shared by every srprune model, and the parts the pruner shrinks.

The residual block here is BasicSR's ``ResidualBlockNoBN`` (conv3x3 -> ReLU -> conv3x3, scaled,
plus identity) with two optional index buffers that make it a Residual Sparsity Connection block
after pruning: ``in_index`` (stream channels its first conv reads) and ``out_index`` (stream
channels its last conv adds into). With both unset it is the plain block.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import nn

from srprune.errors import UserError
from srprune.pruning.declared import Side
from srprune.pruning.groups import Group, Port, ResidualMode, filter_group

ACTIVATIONS = ("lrelu", "relu")

INPLACE_ADD = True
"""Without autograd (inference), plain blocks add the identity into the branch's fresh output
instead of allocating ``x + r``: bit-identical, faster on the CPU (bench/speed_variants.py)."""
INPLACE_SCATTER = True
"""Without autograd, RSC blocks that own their input (:attr:`ResidualBlock.owns_input`)
scatter-add straight into it instead of into a copy of the stream. Bit-identical; at 90x160
with a 64-wide stream the scatter-add takes 0.97 instead of 3.18 ms, a pruned 32/32/32 block
14.4 -> 12.2 ms (``bench/rsc_block_costs.py``, results/rsc_block_costs.md)."""


def make_activation(name: str, negative_slope: float = 0.1) -> nn.Module:
    """``lrelu`` (LeakyReLU with ``negative_slope``, BasicSR's default) or ``relu``.

    In place, as in BasicSR: every use follows a conv whose output nothing else reads.
    """
    if name == "lrelu":
        return nn.LeakyReLU(negative_slope, inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    raise UserError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def conv3x3(c_in: int, c_out: int, bias: bool = True) -> nn.Conv2d:
    """A 3x3 convolution with padding 1."""
    return nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias)


def _strictly_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and not x.is_contiguous() and \
        x.is_contiguous(memory_format=torch.channels_last)


def gather_channels(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[:, index]`` (RSC gather). On channels_last input it works on the contiguous
    (N*H*W, C) view, where the gather is several times faster than along dim 1."""
    if _strictly_channels_last(x):
        n, c, h, w = x.shape
        picked = x.permute(0, 2, 3, 1).reshape(-1, c).index_select(1, index)
        return picked.view(n, h, w, -1).permute(0, 3, 1, 2)
    return x.index_select(1, index)


def scatter_add_channels(x: torch.Tensor, index: torch.Tensor, r: torch.Tensor,
                         inplace: bool = False) -> torch.Tensor:
    """``x`` with ``r`` added into channels ``index`` (RSC scatter), out of place unless
    ``inplace`` (then into ``x`` itself, saving a copy of the stream); fast path on
    channels_last tensors as in :func:`gather_channels`."""
    if _strictly_channels_last(x) and _strictly_channels_last(r):
        n, c, h, w = x.shape
        flat = x.permute(0, 2, 3, 1).reshape(-1, c)  # a view of x (channels_last)
        out = flat if inplace else flat.clone()
        out.index_add_(1, index, r.permute(0, 2, 3, 1).reshape(-1, r.shape[1]))
        return out.view(n, h, w, c).permute(0, 3, 1, 2)
    return x.index_add_(1, index, r) if inplace else x.index_add(1, index, r)


class IndexBuffers:
    """Mixin: a module's channel index buffers, as :class:`~srprune.pruning.declared.RSCBlock`
    declares them (surgery, saved structures and model-file checks go through these methods).

    ``rsc_buffers`` maps a side to its buffer: ``in`` (the stream channels the module reads) and
    ``out`` (the channels it adds into); a subclass may declare only one side.
    """

    rsc_buffers: Mapping[Side, str] = MappingProxyType({"in": "in_index", "out": "out_index"})

    def register_index_buffers(self) -> None:
        """Register every declared buffer, unset (all channels)."""
        for buffer in self.rsc_buffers.values():
            self.register_buffer(buffer, None)  # type: ignore[attr-defined]

    def rsc_index(self, side: Side) -> torch.Tensor | None:
        """Stream channels read (``in``) or added into (``out``); None: all of them."""
        return getattr(self, self.rsc_buffers[side])

    def set_rsc_index(self, side: Side, index: torch.Tensor | None) -> None:
        """Set (None: clear) the index buffer of ``side``."""
        self.register_buffer(self.rsc_buffers[side], index)  # type: ignore[attr-defined]


class ResidualBlock(IndexBuffers, nn.Module):
    """``x + res_scale * conv2(relu(conv1(x)))``, optionally as an RSC block.

    Subclasses change the residual branch (:meth:`branch`) and keep the RSC plumbing and the
    group declarations. It satisfies :class:`~srprune.pruning.declared.RSCBlock`: surgery sets
    its index buffers through :meth:`set_rsc_index`.

    Args:
        channels: stream width C (input and output of the block).
        mid_channels: width between the two convs (default C).
        res_scale: residual scaling (EDSR uses 0.1 for its large models).
    """

    def __init__(self, channels: int, mid_channels: int | None = None,
                 res_scale: float = 1.0) -> None:
        super().__init__()
        mid = mid_channels or channels
        self.conv1 = conv3x3(channels, mid)
        self.conv2 = conv3x3(mid, channels)
        self.relu = nn.ReLU(inplace=True)
        self.res_scale = res_scale
        self.register_index_buffers()
        self.owns_input = False
        """Set by the chain that builds the block when nothing else reads its input (it is
        the previous block's output): inference may then scatter-add into it in place."""

    def branch(self, h: torch.Tensor) -> torch.Tensor:
        """The residual branch on the (gathered) block input."""
        return self.conv2(self.relu(self.conv1(h)))

    def add_residual(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` plus the branch, through the RSC gather / scatter-add when pruned so."""
        h = x if self.in_index is None else gather_channels(x, self.in_index)
        r = self.branch(h)
        if self.res_scale != 1.0:
            r = r * self.res_scale
        grad = torch.is_grad_enabled()
        if self.out_index is None:
            if INPLACE_ADD and not grad and r.dtype == x.dtype and r.shape == x.shape:
                return r.add_(x)  # r: the branch's fresh output
            return x + r
        inplace = INPLACE_SCATTER and not grad and self.owns_input
        return scatter_add_channels(x, self.out_index, r, inplace=inplace)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.add_residual(x)

    def groups(self, path: str, mode: ResidualMode) -> list[Group]:
        """This block's groups when it sits at ``path``, residual streams in ``mode``.

        Always the inner group (``conv1`` filters, read by ``conv2``); in ``rsc`` mode also the
        gather (stream channels ``conv1`` reads) and scatter (channels ``conv2`` adds into)
        groups. In ``coupled`` mode the owner adds :meth:`stream_ports` to its stream group.
        """
        c1, c2 = f"{path}.conv1", f"{path}.conv2"
        inner = filter_group(f"{path}.mid", c1, [Port(c2, "in")], self.conv1.out_channels,
                             layer=c1)
        if mode != "rsc":
            return [inner]
        gather = Group(name=f"{path}.in", units=self.conv1.in_channels,
                       consumers=(Port(c1, "in"),), gather=path, role="rsc_in",
                       layer=f"{c1}.in")
        scatter = Group(name=f"{path}.out", units=self.conv2.out_channels,
                        producers=(Port(c2, "out"),), scatter=path, role="rsc_out", layer=c2)
        return [gather, inner, scatter]

    @staticmethod
    def stream_ports(path: str) -> tuple[Port, Port]:
        """(writer, reader): how the block at ``path`` writes and reads a coupled stream."""
        return Port(f"{path}.conv2", "out"), Port(f"{path}.conv1", "in")


def chain_stream_ports(blocks: nn.Sequential, path: str) -> tuple[list[Port], list[Port]]:
    """Writers and readers of a coupled stream through the residual blocks of ``blocks``."""
    ports = [block.stream_ports(f"{path}.{i}") for i, block in enumerate(blocks)]
    return [w for w, _ in ports], [r for _, r in ports]


def chain_groups(blocks: nn.Sequential, path: str, mode: ResidualMode) -> list[Group]:
    """The groups of every block of ``blocks`` (a Sequential at ``path``), in order."""
    return [g for i, block in enumerate(blocks) for g in block.groups(f"{path}.{i}", mode)]


def make_blocks(num_blocks: int, channels: int, res_scale: float = 1.0) -> nn.Sequential:
    """``num_blocks`` residual blocks in a Sequential (BasicSR's ``make_layer`` naming); every
    block after the first owns its input (:attr:`ResidualBlock.owns_input`)."""
    blocks = [ResidualBlock(channels, res_scale=res_scale) for _ in range(num_blocks)]
    for block in blocks[1:]:
        block.owns_input = True
    return nn.Sequential(*blocks)


def flow_warp(x: torch.Tensor, flow: torch.Tensor, padding_mode: str = "zeros",
              align_corners: bool = True) -> torch.Tensor:
    """Warp ``x`` (N,C,H,W) by ``flow`` (N,2,H,W) in pixels: ``out(p) = x(p + flow(p))``.

    BasicSR's convention (bilinear ``grid_sample``, ``align_corners=True``, normalised by
    ``max(size - 1, 1)``).
    """
    _, _, h, w = x.shape
    ys = torch.arange(h, dtype=x.dtype, device=x.device)
    xs = torch.arange(w, dtype=x.dtype, device=x.device)
    gx = xs.view(1, 1, w) + flow[:, 0]
    gy = ys.view(1, h, 1) + flow[:, 1]
    grid = torch.stack((2.0 * gx / max(w - 1, 1) - 1.0, 2.0 * gy / max(h - 1, 1) - 1.0), dim=3)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode,
                         align_corners=align_corners)

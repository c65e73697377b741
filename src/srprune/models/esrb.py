"""ESRB-N-C, the efficient SR baseline that FMP prunes (REFERENCE.md section 4).

``conv_first`` (3 -> C); N blocks of [conv3x3 -> LeakyReLU(0.05) -> conv3x3 -> LeakyReLU(0.05),
+ block input, conv1x1 (C -> C), ESA]; ``conv_after_body`` (C -> C) + head output; ``conv_up``
(C -> 3 s^2) and PixelShuffle(s). ESA as in RLFN with f = 16 channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from srprune.models.blocks import ResidualBlock, chain_groups, conv3x3
from srprune.models.limits import FEAT, MAX_BLOCKS, MAX_ESA_FEAT, residual_trunk_floats
from srprune.models.spec import MemoryModel, NamePattern, image_export, register_arch
from srprune.pruning.groups import Group, Port, ResidualMode


@dataclass(frozen=True, kw_only=True)
class ESRBConfig:
    """Architecture of an ESRB: ``num_block`` blocks of width ``num_feat`` (FMP: 6 x 256)."""

    arch: str = "esrb"
    num_feat: int = 256
    num_block: int = 6
    scale: int = 4
    esa_feat: int = 16


class ESA(nn.Module):
    """Enhanced spatial attention (RLFN variant): a per-pixel, per-channel sigmoid mask."""

    def __init__(self, channels: int, f: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv2 = nn.Conv2d(f, f, 3, 2, 0)
        self.conv3 = nn.Conv2d(f, f, 3, 1, 1)
        self.conv4 = nn.Conv2d(f, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        c1 = self.conv2(F.pad(c1_, _stride2_pad(c1_))) if min(c1_.shape[-2:]) < 3 else \
            self.conv2(c1_)
        k = min(7, *c1.shape[-2:])  # tiny patches: pool over what there is
        v_max = F.max_pool2d(c1, kernel_size=k, stride=3)
        c3 = F.interpolate(self.conv3(v_max), size=x.shape[-2:], mode="bilinear",
                           align_corners=False)
        mask = torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))
        return x * mask


def _stride2_pad(x: torch.Tensor) -> list[int]:
    """Replicate-free zero padding that lets a 3x3 valid conv run on a frame smaller than 3."""
    h, w = x.shape[-2:]
    return [0, max(0, 3 - w), 0, max(0, 3 - h)]


class ESRBBlock(ResidualBlock):
    """conv-LReLU-conv-LReLU + x, then conv1x1 and ESA; RSC plumbing and groups as in
    :class:`ResidualBlock`."""

    def __init__(self, channels: int, esa_feat: int) -> None:
        super().__init__(channels)
        self.act = nn.LeakyReLU(0.05)
        self.conv_fuse = nn.Conv2d(channels, channels, 1)
        self.esa = ESA(channels, esa_feat)

    def branch(self, h: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.act(self.conv1(h))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.esa(self.conv_fuse(self.add_residual(x)))


@register_arch(
    arch="esrb", title="ESRB", config=ESRBConfig,
    names=(NamePattern("esrb-N-C", r"esrb-(\d+)-(\d+)",
                       lambda m: {"num_block": int(m[1]), "num_feat": int(m[2])}),),
    tiny={"esrb": ESRBConfig(num_feat=8, num_block=2, esa_feat=4, scale=2)},
    bounds={"num_feat": FEAT, "num_block": ("int", (1, MAX_BLOCKS)), "scale": ("int", (2, 4)),
            "esa_feat": ("int", (1, MAX_ESA_FEAT))},
    scales=(2, 3, 4),
    # ``12 C + 8 s^2 + 10`` per image
    memory=MemoryModel(lambda cfg: (12.0 * cfg.num_feat + 8 * cfg.scale ** 2 + 10, 0.0),
                       lambda cfg: residual_trunk_floats(cfg.num_feat, cfg.num_block)),
    export=image_export,
)
class ESRB(nn.Module):
    """ESRB. Input (N,3,h,w) in [0,1]; output (N,3,s*h,s*w)."""

    is_video = False
    causal = True
    flow_net = None

    def __init__(self, config: ESRBConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ESRBConfig()
        self.conv_first = conv3x3(3, cfg.num_feat)
        self.body = nn.Sequential(*[ESRBBlock(cfg.num_feat, cfg.esa_feat)
                                    for _ in range(cfg.num_block)])
        self.conv_after_body = conv3x3(cfg.num_feat, cfg.num_feat)
        self.conv_up = conv3x3(cfg.num_feat, 3 * cfg.scale ** 2)
        self.pixel_shuffle = nn.PixelShuffle(cfg.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        res = self.conv_after_body(self.body(feat)) + feat
        return self.pixel_shuffle(self.conv_up(res))

    def image_ports(self) -> tuple[Port, ...]:
        """``conv_first`` reads RGB; ``conv_up`` writes RGB x s^2 for the pixel shuffle."""
        return Port("conv_first", "in"), Port("conv_up", "out")

    def precision_roles(self) -> dict[str, tuple[str, ...]]:
        """Module prefixes by role that ``srprune quantize`` may keep in float:
        ``head`` reads RGB, ``tail`` writes the RGB x s^2 the pixel shuffle
        turns into the image."""
        return {"head": ("conv_first",), "tail": ("conv_up",)}

    def channel_groups(self, residual: ResidualMode = "rsc") -> list[Group]:
        """Prunable groups.

        Every block has an inner group (``conv1`` filters). In ``rsc`` mode each block also gets
        gather/scatter groups on its residual; in ``coupled`` mode the channels between blocks
        are pruned too: the head stream (head, first block's residual, ``conv_after_body``) and
        each block's output (``conv_fuse`` filters, with ESA's mask conv following them).
        """
        n = len(self.body)
        groups = chain_groups(self.body, "body", residual)
        if residual != "coupled":
            return groups

        def stream_readers(i: int) -> list[Port]:
            if i == n:
                return [Port("conv_after_body", "in")]
            return [Port(f"body.{i}.conv1", "in"), Port(f"body.{i}.conv_fuse", "in")]

        groups.append(Group(
            name="stream", units=self.conv_first.out_channels,
            producers=(Port("conv_first", "out"), Port("body.0.conv2", "out"),
                       Port("conv_after_body", "out")),
            consumers=(*stream_readers(0), Port("conv_up", "in")), role="stream",
            layer="conv_first"))
        for i in range(n):
            p = f"body.{i}"
            producers = [Port(f"{p}.conv_fuse", "out")]
            if i + 1 < n:
                producers.append(Port(f"body.{i + 1}.conv2", "out"))
            groups.append(Group(
                name=f"{p}.fuse", units=self.body[i].conv_fuse.out_channels,
                producers=tuple(producers),
                consumers=(Port(f"{p}.esa.conv1", "in"), *stream_readers(i + 1)),
                followers=(Port(f"{p}.esa.conv4", "out"),), role="stream",
                layer=f"{p}.conv_fuse"))
        return groups

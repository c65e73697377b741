"""EDSR (Lim et al., CVPRW 2017) in BasicSR's layout; EDSR-PyTorch checkpoints import by renaming.

``conv_first``; B residual blocks (conv-ReLU-conv, x res_scale, + x); ``conv_after_body``; global
skip; pixel-shuffle upsampler; ``conv_last``. Inputs in [0,1] are shifted by the RGB mean and
multiplied by ``img_range`` (255 for EDSR-PyTorch/BasicSR weights) inside the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from srprune.models.blocks import chain_groups, chain_stream_ports, conv3x3, make_blocks
from srprune.models.edsr_import import DIV2K_RGB_MEAN, IMPORTER
from srprune.models.limits import BLOCKS, FEAT, residual_trunk_floats
from srprune.models.spec import MemoryModel, NamePattern, image_export, register_arch
from srprune.models.upsample import PixelShuffleUpsampler
from srprune.pruning.groups import Group, Port, ResidualMode


@dataclass(frozen=True, kw_only=True)
class EDSRConfig:
    """Architecture of an EDSR: ``num_block`` x ``num_feat`` (baseline 16x64, paper 32x256)."""

    arch: str = "edsr"
    num_feat: int = 64
    num_block: int = 16
    scale: int = 4
    res_scale: float = 1.0
    img_range: float = 255.0
    rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN


def _inference_floats(cfg: EDSRConfig) -> tuple[float, float]:
    """``(2 s^2 + 4) C + 8 s^2 + 10`` per image."""
    s2 = cfg.scale * cfg.scale
    return float((2 * s2 + 4) * cfg.num_feat + 8 * s2 + 10), 0.0


@register_arch(
    arch="edsr", title="EDSR", config=EDSRConfig,
    names=(NamePattern("edsr", r"edsr"),
           NamePattern("edsr-B-C", r"edsr-(\d+)-(\d+)",
                       lambda m: {"num_block": int(m[1]), "num_feat": int(m[2])})),
    tiny={"edsr": EDSRConfig(num_feat=8, num_block=2, scale=2)},
    bounds={"num_feat": FEAT, "num_block": BLOCKS, "scale": ("int", (2, 4)),
            "res_scale": ("float", (0.0, 10.0, True)),
            "img_range": ("float", (0.0, 65535.0, True)), "rgb_mean": ("mean3", None)},
    scales=(2, 3, 4),
    memory=MemoryModel(_inference_floats,
                       lambda cfg: residual_trunk_floats(cfg.num_feat, cfg.num_block)),
    export=image_export,
    importer=IMPORTER,
)
class EDSR(nn.Module):
    """EDSR. Input (N,3,h,w) in [0,1]; output (N,3,s*h,s*w)."""

    is_video = False
    causal = True
    flow_net = None

    def __init__(self, config: EDSRConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or EDSRConfig()
        self.register_buffer("mean", torch.tensor(cfg.rgb_mean).view(1, 3, 1, 1),
                             persistent=False)
        self.conv_first = conv3x3(3, cfg.num_feat)
        self.body = make_blocks(cfg.num_block, cfg.num_feat, cfg.res_scale)
        self.conv_after_body = conv3x3(cfg.num_feat, cfg.num_feat)
        self.upsample = PixelShuffleUpsampler(cfg.scale, cfg.num_feat)
        self.conv_last = conv3x3(cfg.num_feat, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) * self.config.img_range
        x = self.conv_first(x)
        res = self.conv_after_body(self.body(x)) + x
        out = self.conv_last(self.upsample(res))
        return out / self.config.img_range + self.mean

    def image_ports(self) -> tuple[Port, ...]:
        """``conv_first`` reads RGB, ``conv_last`` writes it."""
        return Port("conv_first", "in"), Port("conv_last", "out")

    def precision_roles(self) -> dict[str, tuple[str, ...]]:
        """Module prefixes by role that ``srprune quantize`` may keep in float:
        ``head`` reads RGB, ``tail`` writes it after the upsampler."""
        return {"head": ("conv_first",), "tail": ("conv_last",)}

    def channel_groups(self, residual: ResidualMode = "rsc") -> list[Group]:
        """Prunable groups: residual blocks (per ``residual`` mode) and the upsampler units."""
        groups = chain_groups(self.body, "body", residual)
        if residual == "coupled":
            writers, readers = chain_stream_ports(self.body, "body")
            groups.append(Group(
                name="stream", units=self.conv_first.out_channels,
                producers=(Port("conv_first", "out"), *writers, Port("conv_after_body", "out")),
                consumers=(*readers, Port("conv_after_body", "in"), Port("upsample.0", "in")),
                role="stream", layer="conv_first"))
        return groups + self.upsample.groups("upsample", "conv_last")

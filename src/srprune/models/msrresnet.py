"""MSRResNet (SRResNet without batch norm, Wang et al., ECCVW 2018) in BasicSR's layout.

``conv_first`` + LeakyReLU(0.1); B residual blocks (conv-ReLU-conv, + x, no global skip);
x2 / x3: ``upconv1`` (C -> s^2 C) + PixelShuffle(s); x4: ``upconv1`` and ``upconv2``
(C -> 4C) each + PixelShuffle(2); LeakyReLU after each shuffle; ``conv_hr`` + LeakyReLU;
``conv_last``; plus bilinear upsampling of the input (BasicSR ``MSRResNet``,
``basicsr/archs/srresnet_arch.py``; checkpoints import strictly under the same key names).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srprune.errors import UserError
from srprune.models.blocks import chain_groups, chain_stream_ports, conv3x3, make_blocks
from srprune.models.import_spec import ArchImporter, ImportContext, feat_and_blocks, first_dim
from srprune.models.limits import BLOCKS, FEAT, residual_trunk_floats
from srprune.models.spec import MemoryModel, NamePattern, image_export, register_arch
from srprune.pruning.groups import Group, Port, ResidualMode, filter_group


@dataclass(frozen=True, kw_only=True)
class MSRResNetConfig:
    """Architecture of an MSRResNet: ``num_block`` x ``num_feat`` (BasicSR: 16 x 64)."""

    arch: str = "msrresnet"
    num_feat: int = 64
    num_block: int = 16
    scale: int = 4


def _inference_floats(cfg: MSRResNetConfig) -> tuple[float, float]:
    """EDSR's terms plus ``conv_hr``'s C channels at HR: ``(3 s^2 + 4) C + 8 s^2 + 10``."""
    s2 = cfg.scale * cfg.scale
    return float((3 * s2 + 4) * cfg.num_feat + 8 * s2 + 10), 0.0


def _infer_config(ctx: ImportContext) -> dict[str, Any]:
    """C from ``conv_first``, B by counting blocks, scale from the upconvs (``upconv2`` present:
    x4; else ``upconv1`` writes s^2 C channels). BasicSR's names are srprune's."""
    fields = feat_and_blocks(ctx, [("conv_first.weight", 0), ("conv_hr.weight", 0),
                                   ("conv_last.weight", 1)])
    if "upconv2.weight" in ctx.state:
        return {**fields, "scale": 4}
    ratio = first_dim(ctx, "scale", [("upconv1.weight", 0)]) // max(1, fields["num_feat"])
    scale = {4: 2, 9: 3}.get(ratio, 0)
    if not scale:
        raise UserError(f"{ctx.path}: upconv1 writes {ratio} x num_feat channels; an MSRResNet "
                        "has 4 (x2) or 9 (x3)")
    return {**fields, "scale": scale}


def _detect(keys: Sequence[str]) -> bool:
    """``upconv1`` (a BasicVSR's, which has no ``conv_first``, is taken first)."""
    return any(k.startswith("upconv1.") for k in keys)


@register_arch(
    arch="msrresnet", title="MSRResNet", config=MSRResNetConfig,
    names=(NamePattern("msrresnet", r"msrresnet"),
           NamePattern("msrresnet-B-C", r"msrresnet-(\d+)-(\d+)",
                       lambda m: {"num_block": int(m[1]), "num_feat": int(m[2])})),
    tiny={"msrresnet": MSRResNetConfig(num_feat=8, num_block=2, scale=4)},
    bounds={"num_feat": FEAT, "num_block": BLOCKS, "scale": ("int", (2, 4))},
    scales=(2, 3, 4),
    memory=MemoryModel(_inference_floats,
                       lambda cfg: residual_trunk_floats(cfg.num_feat, cfg.num_block)),
    export=image_export,
    importer=ArchImporter(key_maps={}, detect=_detect, infer_config=_infer_config, priority=20),
)
class MSRResNet(nn.Module):
    """MSRResNet. Input (N,3,h,w) in [0,1]; output (N,3,s*h,s*w)."""

    is_video = False
    causal = True
    flow_net = None

    def __init__(self, config: MSRResNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MSRResNetConfig()
        if cfg.scale not in (2, 3, 4):
            raise ValueError(f"MSRResNet supports x2, x3 and x4, not x{cfg.scale}")
        c = cfg.num_feat
        self.conv_first = conv3x3(3, c)
        self.body = make_blocks(cfg.num_block, c)
        shuffle = 2 if cfg.scale == 4 else cfg.scale
        self.upconv1 = conv3x3(c, c * shuffle * shuffle)
        if cfg.scale == 4:
            self.upconv2 = conv3x3(c, c * 4)
        self.pixel_shuffle = nn.PixelShuffle(shuffle)
        self.conv_hr = conv3x3(c, c)
        self.conv_last = conv3x3(c, 3)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)

    def _upconvs(self) -> list[str]:
        return ["upconv1", "upconv2"] if self.config.scale == 4 else ["upconv1"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(self.lrelu(self.conv_first(x)))
        for name in self._upconvs():
            # activation before the shuffle: elementwise, so the same values as BasicSR's after
            out = self.pixel_shuffle(self.lrelu(getattr(self, name)(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        base = F.interpolate(x, scale_factor=self.config.scale, mode="bilinear",
                             align_corners=False)
        return out + base

    # -- the model contract (models/contract.py) ---------------------------------------------
    def image_ports(self) -> tuple[Port, ...]:
        """``conv_first`` reads RGB, ``conv_last`` writes it."""
        return Port("conv_first", "in"), Port("conv_last", "out")

    def precision_roles(self) -> dict[str, tuple[str, ...]]:
        """Module prefixes by role that ``srprune quantize`` may keep in float:
        ``head`` reads RGB, ``tail`` the convs after the last pixel shuffle."""
        return {"head": ("conv_first",), "tail": ("conv_hr", "conv_last")}

    def channel_groups(self, residual: ResidualMode = "rsc") -> list[Group]:
        """Residual blocks (per ``residual`` mode), the pixel-shuffle units and ``conv_hr``.

        In ``coupled`` mode the stream (``conv_first`` and every block's output, read by every
        block and the first upconv) is one group.
        """
        groups = chain_groups(self.body, "body", residual)
        if residual == "coupled":
            writers, readers = chain_stream_ports(self.body, "body")
            groups.append(Group(
                name="stream", units=self.conv_first.out_channels,
                producers=(Port("conv_first", "out"), *writers),
                consumers=(*readers, Port("upconv1", "in")), role="stream",
                layer="conv_first"))
        ups = self._upconvs()
        unit = self.pixel_shuffle.upscale_factor ** 2
        for i, name in enumerate(ups):
            consumer = ups[i + 1] if i + 1 < len(ups) else "conv_hr"
            conv = getattr(self, name)
            groups.append(filter_group(name, name, [Port(consumer, "in")],
                                       conv.out_channels // unit, unit=unit,
                                       role="pixel_shuffle"))
        groups.append(filter_group("conv_hr", "conv_hr", [Port("conv_last", "in")],
                                   self.conv_hr.out_channels))
        return groups

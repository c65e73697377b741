"""RRDBNet (ESRGAN, Wang et al. 2018; Real-ESRGAN's x4plus / x2plus / anime_6B) in BasicSR's
layout (``basicsr/archs/rrdbnet_arch.py``; checkpoints import strictly under the same names).

``conv_first``; ``num_block`` RRDBs (``body.N``), each three residual dense blocks
(``rdb1..3``: conv k reads the block input concatenated with the k-1 earlier outputs,
``num_grow_ch`` wide, LeakyReLU 0.2; output ``0.2 * conv5(...) + x``) and ``0.2 * out + x``
around the three;
``conv_body`` plus the trunk input; ``conv_up1`` / ``conv_up2`` each after a nearest x2;
``conv_hr``; ``conv_last``. The x2 and x1 models pixel-unshuffle the input first (3 * 4 or
3 * 16 channels into ``conv_first``); an input whose sides are not multiples of that factor
is reflect-padded and the output cropped, as Real-ESRGAN's inference does.

Prunable: the growth channels of conv1..conv4 of every dense block (read at an offset by every
later conv of the block), the filters of ``conv_up1``, ``conv_up2`` and ``conv_hr``, and the
trunk stream (``conv_first``, every conv5 and ``conv_body`` write it; every dense conv and
``conv_up1`` read it): one group in ``coupled`` mode, whole in ``fixed`` mode, and in ``rsc``
mode whole with a gather (the stream channels a dense block reads) and a scatter (the channels
it adds into) per dense block. Each is exact: the nested residuals only add tensors of the
stream's width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from srprune.models.blocks import IndexBuffers, conv3x3, gather_channels, scatter_add_channels
from srprune.models.limits import BLOCKS, FEAT
from srprune.models.rrdbnet_import import IMPORTER
from srprune.models.spec import MemoryModel, NamePattern, image_export, register_arch
from srprune.pruning.groups import Group, Port, ResidualMode, filter_group

RDB_SCALE = 0.2
"""Residual scaling of a dense block and of an RRDB (ESRGAN's 0.2)."""
UNSHUFFLE = {1: 4, 2: 2, 4: 1}
"""Pixel-unshuffle factor of the input per scale (x4 models read RGB)."""


@dataclass(frozen=True, kw_only=True)
class RRDBNetConfig:
    """Architecture of an RRDBNet: ``num_block`` RRDBs of width ``num_feat`` and growth
    ``num_grow_ch`` (ESRGAN and RealESRGAN_x4plus: 23 x 64, growth 32)."""

    arch: str = "rrdbnet"
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32
    scale: int = 4


class ResidualDenseBlock(IndexBuffers, nn.Module):
    """Five convs with dense connections; ``0.2 * conv5(...) + x``, optionally as an RSC block
    (``in_index``: stream channels the convs read; ``out_index``: channels conv5 adds into)."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        for k in range(1, 5):
            setattr(self, f"conv{k}", conv3x3(num_feat + (k - 1) * num_grow_ch, num_grow_ch))
        self.conv5 = conv3x3(num_feat + 4 * num_grow_ch, num_feat)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        self.register_index_buffers()

    def convs(self) -> list[nn.Conv2d]:
        """conv1..conv5 in order."""
        return [getattr(self, f"conv{k}") for k in range(1, 6)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x if self.in_index is None else gather_channels(x, self.in_index)]
        for conv in self.convs()[:4]:
            feats.append(self.lrelu(conv(torch.cat(feats, 1))))
        r = self.conv5(torch.cat(feats, 1)) * RDB_SCALE
        if self.out_index is None:
            return r + x
        return scatter_add_channels(x, self.out_index, r)

    def growth_groups(self, path: str) -> list[Group]:
        """conv1..conv4's filters, each read at its offset by every later conv."""
        convs = self.convs()
        groups = []
        offset = convs[0].in_channels  # the (gathered) stream comes first
        for k in range(4):
            readers = [Port(f"{path}.conv{j + 1}", "in", offset) for j in range(k + 1, 5)]
            name = f"{path}.conv{k + 1}"
            groups.append(filter_group(name, name, readers, convs[k].out_channels))
            offset += convs[k].out_channels
        return groups

    def rsc_groups(self, path: str) -> list[Group]:
        """The gather (stream channels every conv reads, at offset 0) and scatter (conv5's
        filters, added into the stream) groups."""
        width = self.conv1.in_channels
        gather = Group(name=f"{path}.in", units=width,
                       consumers=tuple(Port(f"{path}.conv{k}", "in") for k in range(1, 6)),
                       gather=path, role="rsc_in", layer=f"{path}.conv1.in")
        scatter = Group(name=f"{path}.out", units=self.conv5.out_channels,
                        producers=(Port(f"{path}.conv5", "out"),), scatter=path,
                        role="rsc_out", layer=f"{path}.conv5")
        return [gather, scatter]

    @staticmethod
    def stream_ports(path: str) -> tuple[list[Port], list[Port]]:
        """(writers, readers) of a coupled stream: conv5 writes; every conv reads at 0."""
        return [Port(f"{path}.conv5", "out")], [Port(f"{path}.conv{k}", "in")
                                               for k in range(1, 6)]


class RRDB(nn.Module):
    """Three dense blocks, ``0.2 * rdb3(rdb2(rdb1(x))) + x``."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * RDB_SCALE + x


def _inference_floats(cfg: RRDBNetConfig) -> tuple[float, float]:
    """``(8 C + 8 G) s^2 / 16 + 6 s^2 C + 8 s^2 + 10`` per LR pixel: the trunk (at 1 / (4 / s)^2
    of the input's pixels) holds the trunk input, an RRDB's and a dense block's input, the growth
    outputs, the last concatenation and conv5's output and residual sum; the upsampler the
    interpolated input, a conv's output and its workspace, C wide at s^2 times the pixels; the
    image tail, padding and crop."""
    c, g, s2 = cfg.num_feat, cfg.num_grow_ch, cfg.scale ** 2
    return float((8 * c + 8 * g) * s2 / 16 + 6 * s2 * c + 8 * s2 + 10), 0.0


def _training_floats(cfg: RRDBNetConfig) -> float:
    """Per RRDB ``19 C + 42 G`` kept for backward (each dense block's concatenations, growth
    outputs, conv5 output and scaled residual) at the trunk's resolution, and the upsampler."""
    c, g, s2 = cfg.num_feat, cfg.num_grow_ch, cfg.scale ** 2
    return float(cfg.num_block * (19 * c + 42 * g) * s2 / 16 + 4 * s2 * c)


def _fields(num_feat: int, num_block: int, **pinned: int) -> dict[str, int]:
    return {"num_feat": num_feat, "num_block": num_block, **pinned}


@register_arch(
    arch="rrdbnet", title="RRDBNet", config=RRDBNetConfig,
    names=(NamePattern("rrdbnet", r"rrdbnet|esrgan"),
           NamePattern("rrdbnet-F-B", r"rrdbnet-(\d+)-(\d+)",
                       lambda m: _fields(int(m[1]), int(m[2]))),
           NamePattern("realesrgan-x4plus", r"realesrgan-x4plus",
                       lambda m: _fields(64, 23, scale=4)),
           NamePattern("realesrgan-x2plus", r"realesrgan-x2plus",
                       lambda m: _fields(64, 23, scale=2)),
           NamePattern("realesrgan-x4plus-anime-6b", r"realesrgan-x4plus-anime-6b",
                       lambda m: _fields(64, 6, scale=4))),
    tiny={"rrdbnet": RRDBNetConfig(num_feat=8, num_block=1, num_grow_ch=4, scale=4)},
    bounds={"num_feat": FEAT, "num_block": BLOCKS, "num_grow_ch": FEAT,
            "scale": ("int", (1, 4))},
    scales=(1, 2, 4),
    memory=MemoryModel(_inference_floats, _training_floats),
    export=image_export,
    importer=IMPORTER,
)
class RRDBNet(nn.Module):
    """RRDBNet. Input (N,3,h,w) in [0,1]; output (N,3,s*h,s*w)."""

    is_video = False
    causal = True
    flow_net = None
    hidden_states: dict[str, str | None] = {}

    def __init__(self, config: RRDBNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or RRDBNetConfig()
        if cfg.scale not in UNSHUFFLE:
            raise ValueError(f"RRDBNet supports x1, x2 and x4, not x{cfg.scale}")
        c = cfg.num_feat
        self.conv_first = conv3x3(3 * UNSHUFFLE[cfg.scale] ** 2, c)
        self.body = nn.Sequential(*(RRDB(c, cfg.num_grow_ch) for _ in range(cfg.num_block)))
        self.conv_body = conv3x3(c, c)
        self.conv_up1 = conv3x3(c, c)
        self.conv_up2 = conv3x3(c, c)
        self.conv_hr = conv3x3(c, c)
        self.conv_last = conv3x3(c, 3)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = UNSHUFFLE[self.config.scale]
        h, w = x.shape[-2:]
        feat = x
        if factor > 1:
            feat = F.pixel_unshuffle(F.pad(x, (0, -w % factor, 0, -h % factor), mode="reflect"),
                                     factor)
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        s = self.config.scale
        return out if factor == 1 else out[..., :h * s, :w * s]

    def _dense_blocks(self) -> list[tuple[str, ResidualDenseBlock]]:
        return [(f"body.{i}.rdb{k}", getattr(rrdb, f"rdb{k}"))
                for i, rrdb in enumerate(self.body) for k in (1, 2, 3)]

    # -- the model contract (models/contract.py) ---------------------------------------------
    def image_ports(self) -> tuple[Port, ...]:
        """``conv_first`` reads RGB (pixel-unshuffled at x1 / x2), ``conv_last`` writes it."""
        return Port("conv_first", "in"), Port("conv_last", "out")

    def precision_roles(self) -> dict[str, tuple[str, ...]]:
        """Module prefixes by role that ``srprune quantize`` may keep in float:
        ``head`` reads RGB, ``tail`` the convs after the last upsampling."""
        return {"head": ("conv_first",), "tail": ("conv_hr", "conv_last")}

    def channel_groups(self, residual: ResidualMode = "rsc") -> list[Group]:
        """Growth channels of every dense block, the trunk stream per ``residual`` mode, and
        the filters of ``conv_up1``, ``conv_up2`` and ``conv_hr``."""
        groups: list[Group] = []
        writers = [Port("conv_first", "out")]
        readers: list[Port] = []
        for path, rdb in self._dense_blocks():
            groups += rdb.growth_groups(path)
            if residual == "rsc":
                groups += rdb.rsc_groups(path)
            w, r = rdb.stream_ports(path)
            writers += w
            readers += r
        if residual == "coupled":
            groups.append(Group(
                name="stream", units=self.conv_first.out_channels,
                producers=(*writers, Port("conv_body", "out")),
                consumers=(*readers, Port("conv_body", "in"), Port("conv_up1", "in")),
                role="stream", layer="conv_first"))
        for conv, reader in (("conv_up1", "conv_up2"), ("conv_up2", "conv_hr"),
                             ("conv_hr", "conv_last")):
            groups.append(filter_group(conv, conv, [Port(reader, "in")],
                                       self.get_submodule(conv).out_channels))
        return groups

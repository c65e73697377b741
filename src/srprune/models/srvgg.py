"""SRVGGNetCompact (Real-ESRGAN's compact model, Wang et al. 2021) in BasicSR's layout.

``body`` is one sequence (BasicSR's ``nn.ModuleList``; here an ``nn.Sequential`` with the same
keys, so the profiler sees it as one part): conv(3 -> F), activation, ``num_conv`` x
[conv(F -> F), activation], conv(F -> 3 s^2); then PixelShuffle(s) plus the nearest-upsampled input
(BasicSR ``SRVGGNetCompact``, ``basicsr/archs/srvgg_arch.py``; Real-ESRGAN's
realesr-animevideov3 is F 64, 16 convs, x4, PReLU). A PReLU's per-channel slopes are
``body.{i}.weight`` between the convs' keys, so checkpoints import under the same names.

Prunable: the filters of every conv but the last (whose output is the image through the pixel
shuffle); a PReLU's slopes follow their conv's filters. A zeroed filter stays zero through the
activation (PReLU(0) = ReLU(0) = 0), and a unit scale g >= 0 passes through it unchanged
(PReLU(g x) = g PReLU(x)), so masked and compact models agree exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from srprune.models.blocks import conv3x3
from srprune.models.limits import BLOCKS, FEAT
from srprune.models.spec import MemoryModel, NamePattern, image_export, register_arch
from srprune.models.srvgg_import import IMPORTER
from srprune.pruning.groups import Group, Port, ResidualMode, filter_group

SRVGG_ACTIVATIONS = ("prelu", "relu", "lrelu")
"""BasicSR's ``act_type`` ``prelu``, ``relu`` and ``leakyrelu`` (slope 0.1)."""


@dataclass(frozen=True, kw_only=True)
class SRVGGConfig:
    """Architecture of an SRVGGNetCompact: ``num_conv`` body convs of width ``num_feat``."""

    arch: str = "srvgg"
    num_feat: int = 64
    num_conv: int = 16
    scale: int = 4
    act: str = "prelu"


def make_srvgg_activation(name: str, channels: int) -> nn.Module:
    """The activation after each body conv (BasicSR's choices)."""
    if name == "prelu":
        return nn.PReLU(num_parameters=channels)
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "lrelu":
        return nn.LeakyReLU(negative_slope=0.1, inplace=True)
    raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(SRVGG_ACTIVATIONS)}")


def _inference_floats(cfg: SRVGGConfig) -> tuple[float, float]:
    """``6 F + 12 s^2 + 10`` per image: a conv's input, output and workspace and a PReLU's output
    at LR (with a margin for the convolution's scratch buffers), then the last conv's 3 s^2
    channels, the pixel shuffle, the nearest-upsampled input and their sum."""
    return float(6 * cfg.num_feat + 12 * cfg.scale ** 2 + 10), 0.0


def _training_floats(cfg: SRVGGConfig) -> float:
    """Every conv's and activation's output kept for backward, and the HR tail."""
    return float(2 * (cfg.num_conv + 2) * cfg.num_feat + 9 * cfg.scale ** 2)


def _fields(num_feat: int, num_conv: int, **pinned: int) -> dict[str, int]:
    return {"num_feat": num_feat, "num_conv": num_conv, **pinned}


@register_arch(
    arch="srvgg", title="SRVGGNetCompact", config=SRVGGConfig,
    names=(NamePattern("srvgg", r"srvgg"),
           NamePattern("srvgg-F-N", r"srvgg-(\d+)-(\d+)",
                       lambda m: _fields(int(m[1]), int(m[2]))),
           NamePattern("realesr-animevideov3", r"realesr-animevideov3",
                       lambda m: _fields(64, 16)),
           NamePattern("realesr-general-x4v3", r"realesr-general(?:-wdn)?-x4v3",
                       lambda m: _fields(64, 32, scale=4))),
    tiny={"srvgg": SRVGGConfig(num_feat=8, num_conv=2, scale=4)},
    bounds={"num_feat": FEAT, "num_conv": BLOCKS, "scale": ("int", (1, 4)),
            "act": ("choice", SRVGG_ACTIVATIONS)},
    scales=(1, 2, 3, 4),
    memory=MemoryModel(_inference_floats, _training_floats),
    export=image_export,
    importer=IMPORTER,
)
class SRVGGNetCompact(nn.Module):
    """SRVGGNetCompact. Input (N,3,h,w) in [0,1]; output (N,3,s*h,s*w)."""

    is_video = False
    causal = True
    flow_net = None
    hidden_states: dict[str, str | None] = {}

    def __init__(self, config: SRVGGConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or SRVGGConfig()
        if cfg.scale not in (1, 2, 3, 4):
            raise ValueError(f"SRVGGNetCompact supports x1 to x4, not x{cfg.scale}")
        f = cfg.num_feat
        layers: list[nn.Module] = [conv3x3(3, f), make_srvgg_activation(cfg.act, f)]
        for _ in range(cfg.num_conv):
            layers += [conv3x3(f, f), make_srvgg_activation(cfg.act, f)]
        layers.append(conv3x3(f, 3 * cfg.scale * cfg.scale))
        self.body = nn.Sequential(*layers)
        self.upsampler = nn.PixelShuffle(cfg.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.upsampler(self.body(x))
        return out + F.interpolate(x, scale_factor=self.config.scale, mode="nearest")

    def _conv_paths(self) -> list[str]:
        return [f"body.{i}" for i in range(0, len(self.body), 2)]

    # -- the model contract (models/contract.py) ---------------------------------------------
    def image_ports(self) -> tuple[Port, ...]:
        """The first conv reads RGB; the last writes 3 s^2 channels, the image after the
        pixel shuffle."""
        convs = self._conv_paths()
        return Port(convs[0], "in"), Port(convs[-1], "out")

    def precision_roles(self) -> dict[str, tuple[str, ...]]:
        """Module prefixes by role that ``srprune quantize`` may keep in float:
        ``head`` the first conv, ``tail`` the last (3 s^2 channels for the
        pixel shuffle)."""
        convs = self._conv_paths()
        return {"head": (convs[0],), "tail": (convs[-1],)}

    def channel_groups(self, residual: ResidualMode = "rsc") -> list[Group]:
        """One group per conv but the last (its filters, read by the next conv; a PReLU's
        slopes follow). There is no residual stream: every mode gives the same groups."""
        convs = self._conv_paths()
        groups = []
        for i, (conv, reader) in enumerate(zip(convs[:-1], convs[1:], strict=True)):
            g = filter_group(conv, conv, [Port(reader, "in")],
                             self.get_submodule(conv).out_channels)
            act = self.body[2 * i + 1]
            if isinstance(act, nn.PReLU):
                g = dataclasses.replace(g, followers=(Port(f"body.{2 * i + 1}", "out"),))
            groups.append(g)
        return groups

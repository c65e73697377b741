"""BasicVSR (Chan et al., CVPR 2021), bidirectional and unidirectional, in BasicSR's layout.

Per frame: SPyNet flow, a backward and a forward recurrent trunk (``main.0`` conv3x3 from
3 + C to C, LeakyReLU, then residual blocks), 1x1 fusion of the two hidden states, two x2
pixel-shuffle upsamplers, ``conv_hr``, ``conv_last``, plus bilinear x4 upsampling of the LR frame.
The unidirectional variant (SSL paper, Sec. 3.2) drops the backward trunk: it is causal and can
stream frame by frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from srprune.models.basicvsr_export import export_module
from srprune.models.basicvsr_import import IMPORTER
from srprune.models.blocks import (
    ACTIVATIONS,
    chain_groups,
    chain_stream_ports,
    conv3x3,
    flow_warp,
    make_activation,
    make_blocks,
)
from srprune.models.contract import CellSpec, CellState
from srprune.models.limits import BLOCKS, FEAT, residual_trunk_floats
from srprune.models.spec import MemoryModel, NamePattern, register_arch
from srprune.models.spynet import SpyNet
from srprune.pruning.groups import Group, Port, ResidualMode, filter_group


@dataclass(frozen=True, kw_only=True)
class BasicVSRConfig:
    """Architecture of a BasicVSR.

    Attributes:
        num_feat: hidden-state width C (paper: 64).
        num_block: residual blocks per trunk B (paper: 30).
        bidirectional: False for BasicVSR-uni (forward trunk only).
        act: trunk and reconstruction activation, ``lrelu`` (BasicSR) or ``relu`` (official SSL).
        recon_feat: width after the second upsampler (BasicSR: 64).
        flow_feat: SPyNet's first hidden width (official: 32; smaller for small models).
    """

    arch: str = "basicvsr"
    num_feat: int = 64
    num_block: int = 30
    bidirectional: bool = True
    act: str = "lrelu"
    recon_feat: int = 64
    scale: int = 4
    flow_feat: int = 32


class Trunk(nn.Module):
    """Recurrent trunk: ``main = [conv3x3(3 + C -> C), act, B residual blocks]``."""

    def __init__(self, num_feat: int, num_block: int, act: str) -> None:
        super().__init__()
        self.main = nn.Sequential(conv3x3(3 + num_feat, num_feat), make_activation(act),
                                  make_blocks(num_block, num_feat))

    @property
    def width(self) -> int:
        """Current hidden-state width (shrinks under coupled pruning)."""
        return self.main[0].out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def _inference_floats(cfg: BasicVSRConfig) -> tuple[float, float]:
    """Per frame ``C + 200`` (the backward hidden states, flows, SPyNet's batched pyramid, the SR
    output and its stacked copy), fixed ``40 R + 12 C`` (one frame's reconstruction at 2x and
    4x)."""
    return float(cfg.num_feat + 200), float(40 * cfg.recon_feat + 12 * cfg.num_feat)


def _training_floats(cfg: BasicVSRConfig) -> float:
    """Both trunks' activations (one trunk for BasicVSR-uni)."""
    return residual_trunk_floats(cfg.num_feat, cfg.num_block, 2 if cfg.bidirectional else 1)


def _sizes(m: re.Match[str]) -> dict[str, int]:
    return {"num_feat": int(m[1]), "num_block": int(m[2])}


@register_arch(
    arch="basicvsr", title="BasicVSR", config=BasicVSRConfig,
    names=(NamePattern("basicvsr", r"basicvsr"),
           NamePattern("basicvsr-uni", r"basicvsr-uni", lambda m: {"bidirectional": False}),
           NamePattern("basicvsr-C-B", r"basicvsr-(\d+)-(\d+)", _sizes),
           NamePattern("basicvsr-uni-C-B", r"basicvsr-uni-(\d+)-(\d+)",
                       lambda m: {**_sizes(m), "bidirectional": False})),
    tiny={"basicvsr": BasicVSRConfig(num_feat=8, num_block=2, recon_feat=8),
          "basicvsr-uni": BasicVSRConfig(num_feat=8, num_block=2, recon_feat=8,
                                         bidirectional=False)},
    bounds={"num_feat": FEAT, "num_block": BLOCKS, "bidirectional": ("bool", None),
            "act": ("choice", ACTIVATIONS), "recon_feat": FEAT, "scale": ("int", (4, 4)),
            "flow_feat": ("int", (2, 32))},  # SPyNet narrower than official only
    scales=(4,),
    memory=MemoryModel(_inference_floats, _training_floats),
    export=lambda cfg: "window" if cfg.bidirectional else "stream",
    importer=IMPORTER,
)
class BasicVSR(nn.Module):
    """BasicVSR x4. Input (N,T,3,h,w) in [0,1]; output (N,T,3,4h,4w)."""

    is_video = True

    def __init__(self, config: BasicVSRConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or BasicVSRConfig()
        if cfg.scale != 4:
            raise ValueError("BasicVSR is defined for x4 only")
        self.spynet = SpyNet(cfg.flow_feat)
        if cfg.bidirectional:
            self.backward_trunk = Trunk(cfg.num_feat, cfg.num_block, cfg.act)
        self.forward_trunk = Trunk(cfg.num_feat, cfg.num_block, cfg.act)
        fusion_in = cfg.num_feat * (2 if cfg.bidirectional else 1)
        self.fusion = nn.Conv2d(fusion_in, cfg.num_feat, 1, 1, 0)
        self.upconv1 = conv3x3(cfg.num_feat, cfg.num_feat * 4)
        self.upconv2 = conv3x3(cfg.num_feat, cfg.recon_feat * 4)
        self.conv_hr = conv3x3(cfg.recon_feat, cfg.recon_feat)
        self.conv_last = conv3x3(cfg.recon_feat, 3)
        self.pixel_shuffle = nn.PixelShuffle(2)
        self.act = make_activation(cfg.act)

    # -- the model contract (models/contract.py) ---------------------------------------------
    @property
    def flow_net(self) -> nn.Module:
        """SPyNet: frozen in pruning stages and left whole unless ``prune.flow`` asks for
        :meth:`flow_channel_groups`; counted once per frame."""
        return self.spynet

    def flow_channel_groups(self) -> list[Group]:
        """SPyNet's hidden widths, every pyramid level's conv chain (role ``flow``); its
        inputs (frames, flow) and outputs (flow) keep their channels."""
        return self.spynet.channel_groups("spynet")

    @property
    def causal(self) -> bool:
        """BasicVSR-uni is causal (it streams); the bidirectional model is not."""
        return not self.config.bidirectional

    @property
    def hidden_states(self) -> dict[str, str | None]:
        """``forward`` = H_F,T and ``backward`` = H_B,0, each sized by its trunk's stream."""
        names = {"backward_trunk": "backward", "forward_trunk": "forward"}
        return {names[n]: f"{n}.stream" for n, _ in self.trunks()}

    def image_ports(self) -> tuple[Port, ...]:
        """Each trunk's first conv reads the RGB frame (its first 3 inputs); ``conv_last``
        writes RGB."""
        return (*(Port(f"{n}.main.0", "in") for n, _ in self.trunks()),
                Port("conv_last", "out"))

    def precision_roles(self) -> dict[str, tuple[str, ...]]:
        """Module prefixes by role that ``srprune quantize`` may keep in float:
        ``head`` the trunks' first convs (they read the RGB frame), ``tail``
        the convs after the last pixel shuffle, ``flow`` SPyNet (its flows feed every warp)."""
        return {"head": tuple(f"{n}.main.0" for n, _ in self.trunks()),
                "tail": ("conv_hr", "conv_last"), "flow": ("spynet",)}

    def trunks(self) -> list[tuple[str, Trunk]]:
        """(name, trunk) pairs present in this variant."""
        names = ["backward_trunk", "forward_trunk"] if self.config.bidirectional else [
            "forward_trunk"]
        return [(n, getattr(self, n)) for n in names]

    # -- forward ---------------------------------------------------------------------------
    def _flows(self, lrs: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        n, t, c, h, w = lrs.shape
        a = lrs[:, :-1].reshape(-1, c, h, w)
        b = lrs[:, 1:].reshape(-1, c, h, w)
        backward = None
        if self.config.bidirectional:
            backward = self.spynet(a, b).view(n, t - 1, 2, h, w)
        forward = self.spynet(b, a).view(n, t - 1, 2, h, w)
        return backward, forward

    def reconstruct(self, feat: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """Upsampling network for one frame: fused features (N,C',h,w) -> SR frame.

        The activation runs before each pixel shuffle (BasicSR: after; both are elementwise on
        the same values), in place on the conv output, saving a pass over the shuffled tensor.
        """
        out = self.act(self.fusion(feat))
        out = self.pixel_shuffle(self.act(self.upconv1(out)))
        out = self.pixel_shuffle(self.act(self.upconv2(out)))
        out = self.act(self.conv_hr(out))
        out = self.conv_last(out)
        base = F.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)
        return out + base

    def forward(self, lrs: torch.Tensor, return_hidden: bool | str = False
                ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Super-resolve a clip.

        Args:
            lrs: (N,T,3,h,w) LR frames in [0,1].
            return_hidden: ``True``: also return the final hidden states (Temporal
                Finetuning): ``forward`` = H_F,T (after the last frame), ``backward`` = H_B,0.
                ``"all"``: every frame's hidden states instead, (N,T,C,h,w) per branch, frame
                t's state at index t (temporal error propagation).
        """
        n, t, _, h, w = lrs.shape
        flows_backward, flows_forward = self._flows(lrs)
        hidden: dict[str, torch.Tensor] = {}
        backward_feats: list[torch.Tensor] = []
        if self.config.bidirectional:
            feat = lrs.new_zeros(n, self.backward_trunk.width, h, w)
            for i in range(t - 1, -1, -1):
                if i < t - 1:
                    feat = flow_warp(feat, flows_backward[:, i])
                feat = self.backward_trunk(torch.cat([lrs[:, i], feat], dim=1))
                backward_feats.insert(0, feat)
            hidden["backward"] = (torch.stack(backward_feats, dim=1) if return_hidden == "all"
                                  else backward_feats[0])
        feat = lrs.new_zeros(n, self.forward_trunk.width, h, w)
        outs, forward_feats = [], []
        for i in range(t):
            if i > 0:
                feat = flow_warp(feat, flows_forward[:, i - 1])
            feat = self.forward_trunk(torch.cat([lrs[:, i], feat], dim=1))
            if return_hidden == "all":
                forward_feats.append(feat)
            fused = torch.cat([backward_feats[i], feat], dim=1) if backward_feats else feat
            outs.append(self.reconstruct(fused, lrs[:, i]))
        hidden["forward"] = torch.stack(forward_feats, dim=1) if return_hidden == "all" else feat
        out = torch.stack(outs, dim=1)
        return (out, hidden) if return_hidden else out

    @torch.no_grad()
    def stream(self, frames: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Causal frame-by-frame inference (unidirectional only): (N,3,h,w) in, SR frame out."""
        if self.config.bidirectional:
            raise ValueError("only a unidirectional BasicVSR can stream; use forward() on chunks")
        prev: torch.Tensor | None = None
        feat: torch.Tensor | None = None
        for lr in frames:
            if prev is None or feat is None:
                feat = lr.new_zeros(lr.shape[0], self.forward_trunk.width, *lr.shape[-2:])
            else:
                feat = flow_warp(feat, self.spynet(lr, prev))
            feat = self.forward_trunk(torch.cat([lr, feat], dim=1))
            prev = lr
            yield self.reconstruct(feat, lr)

    # -- pruning structure -----------------------------------------------------------------
    def channel_groups(self, residual: ResidualMode = "rsc") -> list[Group]:
        """Prunable channel groups; ``conv_last`` and the fusion input are never pruned, SPyNet
        only through :meth:`flow_channel_groups`.

        In ``rsc`` and ``fixed`` modes the hidden states keep their width (the trunks' first convs
        and the fusion input are untouched); in ``coupled`` mode each trunk's hidden state is one
        group shared by its first conv, every block and the fusion input.
        """
        groups: list[Group] = []
        fusion_offset = 0
        for name, trunk in self.trunks():
            groups += chain_groups(trunk.main[2], f"{name}.main.2", residual)
            if residual == "coupled":
                writers, readers = chain_stream_ports(trunk.main[2], f"{name}.main.2")
                groups.append(Group(
                    name=f"{name}.stream", units=trunk.width,
                    producers=(Port(f"{name}.main.0", "out"), *writers),
                    consumers=(*readers, Port(f"{name}.main.0", "in", offset=3),
                               Port("fusion", "in", offset=fusion_offset)),
                    role="stream", layer=f"{name}.main.0"))
            fusion_offset += trunk.width
        groups.append(filter_group("fusion", "fusion", [Port("upconv1", "in")],
                                   self.fusion.out_channels))
        groups.append(filter_group("upconv1", "upconv1", [Port("upconv2", "in")],
                                   self.upconv1.out_channels // 4, unit=4, role="pixel_shuffle"))
        groups.append(filter_group("upconv2", "upconv2", [Port("conv_hr", "in")],
                                   self.upconv2.out_channels // 4, unit=4, role="pixel_shuffle"))
        groups.append(filter_group("conv_hr", "conv_hr", [Port("conv_last", "in")],
                                   self.conv_hr.out_channels))
        return groups

    # -- deployment ------------------------------------------------------------------------
    def export_module(self, kind: str, frames: int = 0) -> nn.Module:
        """An export-shaped view sharing these weights: ``stream`` (the streaming cell of
        :meth:`cell_spec`, unidirectional only) or ``window`` (``frames`` frames in, as many
        out); see :mod:`srprune.models.basicvsr_export`."""
        return export_module(self, kind, frames)

    def cell_spec(self) -> CellSpec:
        """The streaming cell (unidirectional only) carries the forward trunk's hidden state
        (``hidden``, its current width) and needs one previous frame (for the flow)."""
        if self.config.bidirectional:
            raise ValueError("only a unidirectional BasicVSR has a streaming cell")
        return CellSpec((CellState("hidden", self.forward_trunk.width),), previous_frames=1)

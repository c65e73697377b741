"""BasicVSR++ (Chan et al., CVPR 2022) in BasicSR's layout, x4 from low-resolution input.

Per clip: SPyNet flows; ``feat_extract`` (conv 3 -> C, residual blocks) per frame; four
propagation branches ``backward_1``, ``forward_1``, ``backward_2``, ``forward_2``, each a
second-order grid propagation: at every frame the branch's previous state and the one before it
are aligned by flow-guided deformable convolution (``deform_align``), then
``state = aligned + backbone([spatial, earlier branches' states, aligned])``; per frame
``reconstruction`` of ``[spatial, four branch states]``, two x2 pixel-shuffle upconvs, ``conv_hr``,
``conv_last``, plus bilinear x4 of the LR frame.

The alignment always runs (BasicSR's own module silently drops it when CUDA is absent); the
deformable convolution is :mod:`srprune.models.deform` (plain PyTorch ops, exportable). BasicSR's
mirror-extension shortcut (reuse the backward flows for a palindromic clip) is left out: it
saves one SPyNet pass and computes the same flows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from srprune.models.basicvsr_export import WindowGraph
from srprune.models.basicvsrpp_import import IMPORTER
from srprune.models.blocks import (
    chain_groups,
    chain_stream_ports,
    conv3x3,
    flow_warp,
    make_activation,
    make_blocks,
)
from srprune.models.contract import CellSpec
from srprune.models.deform_align import SecondOrderDeformableAlignment
from srprune.models.limits import BLOCKS, FEAT, residual_trunk_floats
from srprune.models.spec import MemoryModel, NamePattern, register_arch
from srprune.models.spynet import SpyNet
from srprune.pruning.groups import Group, Port, ResidualMode, filter_group

BRANCHES = ("backward_1", "forward_1", "backward_2", "forward_2")


@dataclass(frozen=True, kw_only=True)
class BasicVSRPPConfig:
    """Architecture of a BasicVSR++.

    Attributes:
        num_feat: feature width C (``mid_channels``; official 64).
        num_block: residual blocks per propagation branch (official 7).
        extract_block: residual blocks of ``feat_extract`` and ``reconstruction`` (official 5).
        deform_groups: deformable groups of each alignment (official 16; divides 2C, even).
        max_residue_magnitude: bound on the offsets' learned residue (official 10).
        recon_feat: width after the second upconv (official 64).
        flow_feat: SPyNet's first hidden width (official 32; smaller for small models).
    """

    arch: str = "basicvsrpp"
    num_feat: int = 64
    num_block: int = 7
    extract_block: int = 5
    deform_groups: int = 16
    max_residue_magnitude: float = 10.0
    recon_feat: int = 64
    flow_feat: int = 32
    scale: int = 4


class ConvResidualBlocks(nn.Module):
    """``main = [conv3x3(c_in -> C), LeakyReLU(0.1), B residual blocks]`` (BasicSR's
    ``ConvResidualBlocks``, mmagic's ``ResidualBlocksWithInputConv``)."""

    def __init__(self, c_in: int, channels: int, num_block: int) -> None:
        super().__init__()
        self.main = nn.Sequential(conv3x3(c_in, channels), make_activation("lrelu"),
                                  make_blocks(num_block, channels))

    @property
    def width(self) -> int:
        """Output (stream) width; shrinks under coupled pruning."""
        return self.main[0].out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)

    def stream_group(self, path: str, extra_producers: tuple[Port, ...],
                     readers: tuple[Port, ...]) -> Group:
        """The coupled group of this module's output stream and everything that reads it."""
        writers, inner_readers = chain_stream_ports(self.main[2], f"{path}.main.2")
        return Group(name=f"{path}.stream", units=self.width,
                     producers=(Port(f"{path}.main.0", "out"), *writers, *extra_producers),
                     consumers=(*inner_readers, *readers), role="stream",
                     layer=f"{path}.main.0")


def _inference_floats(cfg: BasicVSRPPConfig) -> tuple[float, float]:
    """Per frame ``5 C + 250`` (frame features, the four branch states, flows, SPyNet's batched
    pyramid, the SR output and its stacked copy); fixed ``40 R + 100 C + 30 G`` (one
    reconstruction at 2x and 4x, one alignment step: its condition, offsets, masks, sampling
    grid and the 18 C sampled taps). Measured against it: bench/vsrpp_memory.py."""
    c, g = cfg.num_feat, cfg.deform_groups
    return float(5 * c + 250), float(40 * cfg.recon_feat + 100 * c + 30 * g)


def _training_floats(cfg: BasicVSRPPConfig) -> float:
    """The four backbones, ``feat_extract`` and ``reconstruction``, plus per branch one
    alignment step's kept tensors (``40 C + 60 G``)."""
    c, g = cfg.num_feat, cfg.deform_groups
    return (residual_trunk_floats(c, cfg.num_block, 4)
            + residual_trunk_floats(c, cfg.extract_block, 2) + 4 * (40 * c + 60 * g))


@register_arch(
    arch="basicvsrpp", title="BasicVSR++", config=BasicVSRPPConfig,
    names=(NamePattern("basicvsrpp", r"basicvsrpp"),
           NamePattern("basicvsrpp-C-B", r"basicvsrpp-(\d+)-(\d+)",
                       lambda m: {"num_feat": int(m[1]), "num_block": int(m[2])})),
    tiny={"basicvsrpp": BasicVSRPPConfig(num_feat=8, num_block=1, extract_block=1,
                                         deform_groups=2, recon_feat=8, flow_feat=8)},
    bounds={"num_feat": FEAT, "num_block": BLOCKS, "extract_block": BLOCKS,
            "deform_groups": ("int", (2, 512)),
            "max_residue_magnitude": ("float", (0.0, 1000.0, True)), "recon_feat": FEAT,
            "flow_feat": ("int", (2, 32)), "scale": ("int", (4, 4))},
    scales=(4,),
    memory=MemoryModel(_inference_floats, _training_floats),
    export=lambda cfg: "window",
    importer=IMPORTER,
)
class BasicVSRPlusPlus(nn.Module):
    """BasicVSR++ x4. Input (N,T,3,h,w) in [0,1]; output (N,T,3,4h,4w)."""

    is_video = True
    causal = False

    def __init__(self, config: BasicVSRPPConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or BasicVSRPPConfig()
        if cfg.scale != 4:
            raise ValueError("BasicVSR++ is defined for x4 only")
        c = cfg.num_feat
        self.spynet = SpyNet(cfg.flow_feat)
        self.feat_extract = ConvResidualBlocks(3, c, cfg.extract_block)
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, name in enumerate(BRANCHES):
            self.deform_align[name] = SecondOrderDeformableAlignment(
                2 * c, c, cfg.deform_groups, cfg.max_residue_magnitude)
            self.backbone[name] = ConvResidualBlocks((2 + i) * c, c, cfg.num_block)
        self.reconstruction = ConvResidualBlocks(5 * c, c, cfg.extract_block)
        self.upconv1 = conv3x3(c, 4 * c)
        self.upconv2 = conv3x3(c, 4 * cfg.recon_feat)
        self.pixel_shuffle = nn.PixelShuffle(2)
        self.conv_hr = conv3x3(cfg.recon_feat, cfg.recon_feat)
        self.conv_last = conv3x3(cfg.recon_feat, 3)
        self.lrelu = make_activation("lrelu")

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
    def hidden_states(self) -> dict[str, str | None]:
        """Each branch's final state (frame 0 for backward branches, T-1 for forward ones),
        sized by the branch's coupled stream group."""
        return {name: f"backbone.{name}.stream" for name in BRANCHES}

    def image_ports(self) -> tuple[Port, ...]:
        """``feat_extract.main.0`` reads RGB; ``conv_last`` writes RGB."""
        return Port("feat_extract.main.0", "in"), Port("conv_last", "out")

    def precision_roles(self) -> dict[str, tuple[str, ...]]:
        """Module prefixes by role that ``srprune quantize`` may keep in float:
        ``head`` reads RGB, ``tail`` the convs after the last pixel shuffle,
        ``flow`` SPyNet, ``align`` the deformable alignment (offsets from the flows)."""
        return {"head": ("feat_extract.main.0",), "tail": ("conv_hr", "conv_last"),
                "flow": ("spynet",), "align": ("deform_align",)}

    # -- forward ---------------------------------------------------------------------------
    def _flows(self, lrs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(flows_backward, flows_forward), (N,T-1,2,h,w): frame i to i+1, and i+1 to i."""
        n, t, c, h, w = lrs.shape
        a = lrs[:, :-1].reshape(-1, c, h, w)
        b = lrs[:, 1:].reshape(-1, c, h, w)
        return (self.spynet(a, b).view(n, t - 1, 2, h, w),
                self.spynet(b, a).view(n, t - 1, 2, h, w))

    def propagate(self, spatial: list[torch.Tensor], done: dict[str, list[torch.Tensor]],
                  flows: torch.Tensor | None, name: str) -> list[torch.Tensor]:
        """One branch's states for every frame (in frame order), from the frame features,
        the earlier branches' states and the flows (None for a single frame)."""
        t = len(spatial)
        backward = name.startswith("backward")
        frames = list(range(t - 1, -1, -1)) if backward else list(range(t))
        # flows[:, j] links frames j and j + 1: the step from idx back to the previous frame
        # is flows[:, idx] going backward, flows[:, idx - 1] going forward
        step = 1 if backward else -1
        align, backbone = self.deform_align[name], self.backbone[name]
        feat_prop = spatial[0].new_zeros(spatial[0].shape[0], backbone.width,
                                         *spatial[0].shape[-2:])
        states: list[torch.Tensor] = []
        for i, idx in enumerate(frames):
            if i > 0 and flows is not None:
                n1 = idx if backward else idx - 1
                flow_n1 = flows[:, n1]
                cond_n1 = flow_warp(feat_prop, flow_n1)
                feat_n2, flow_n2, cond_n2 = (torch.zeros_like(feat_prop),
                                             torch.zeros_like(flow_n1), torch.zeros_like(cond_n1))
                if i > 1:
                    feat_n2 = states[-2]
                    flow_n2 = flow_n1 + flow_warp(flows[:, n1 + step], flow_n1)
                    cond_n2 = flow_warp(feat_n2, flow_n2)
                cond = torch.cat([cond_n1, spatial[idx], cond_n2], dim=1)
                feat_prop = align(torch.cat([feat_prop, feat_n2], dim=1), cond, flow_n1, flow_n2)
            feat = torch.cat([spatial[idx], *(done[b][idx] for b in done), feat_prop], dim=1)
            feat_prop = feat_prop + backbone(feat)
            states.append(feat_prop)
        return states[::-1] if backward else states

    def reconstruct(self, feat: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """Upsampling network for one frame: ``[spatial, 4 states]`` -> SR frame.

        The activation runs before each pixel shuffle (BasicSR: after; both are elementwise on
        the same values), in place on the conv output.
        """
        out = self.reconstruction(feat)
        out = self.pixel_shuffle(self.lrelu(self.upconv1(out)))
        out = self.pixel_shuffle(self.lrelu(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)

    def forward(self, lrs: torch.Tensor, return_hidden: bool | str = False
                ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Super-resolve a clip.

        Args:
            lrs: (N,T,3,h,w) LR frames in [0,1].
            return_hidden: ``True``: also return each branch's final state (frame 0 for the
                backward branches, T-1 for the forward ones); ``"all"``: every frame's
                states, (N,T,C,h,w) per branch.
        """
        n, t, c, h, w = lrs.shape
        feats = self.feat_extract(lrs.reshape(n * t, c, h, w))
        spatial = list(feats.view(n, t, -1, h, w).unbind(1))
        flows_backward, flows_forward = self._flows(lrs) if t > 1 else (None, None)
        done: dict[str, list[torch.Tensor]] = {}
        for name in BRANCHES:
            flows = flows_backward if name.startswith("backward") else flows_forward
            done[name] = self.propagate(spatial, done, flows, name)
        out = torch.stack([self.reconstruct(torch.cat([spatial[i], *(done[b][i] for b in done)],
                                                      dim=1), lrs[:, i]) for i in range(t)],
                          dim=1)
        if not return_hidden:
            return out
        if return_hidden == "all":
            return out, {name: torch.stack(s, dim=1) for name, s in done.items()}
        return out, {name: s[0] if name.startswith("backward") else s[-1]
                     for name, s in done.items()}

    # -- pruning structure -----------------------------------------------------------------
    def channel_groups(self, residual: ResidualMode = "rsc") -> list[Group]:
        """Prunable channel groups. The alignments' offset convs and ``conv_last`` are never
        pruned, SPyNet only through :meth:`flow_channel_groups`.

        ``rsc`` / ``fixed``: the residual blocks of ``feat_extract``, every branch backbone
        and ``reconstruction`` (inner channels; in ``rsc`` also gather / scatter), the two
        upconvs (pixel-shuffle units) and ``conv_hr``; every stream keeps its width, so the
        deformable convolutions and the concatenations are untouched. ``coupled`` adds one
        group per stream: the frame features, each branch's state (its backbone, its
        deformable conv's output and both of its input halves, the offset convs' condition,
        and every later reader of the concatenations) and the reconstruction trunk.
        """
        groups = chain_groups(self.feat_extract.main[2], "feat_extract.main.2", residual)
        for name in BRANCHES:
            groups += chain_groups(self.backbone[name].main[2], f"backbone.{name}.main.2",
                                   residual)
        groups += chain_groups(self.reconstruction.main[2], "reconstruction.main.2", residual)
        if residual == "coupled":
            groups += self._stream_groups()
        groups.append(filter_group("upconv1", "upconv1", [Port("upconv2", "in")],
                                   self.upconv1.out_channels // 4, unit=4, role="pixel_shuffle"))
        groups.append(filter_group("upconv2", "upconv2", [Port("conv_hr", "in")],
                                   self.upconv2.out_channels // 4, unit=4, role="pixel_shuffle"))
        groups.append(filter_group("conv_hr", "conv_hr", [Port("conv_last", "in")],
                                   self.conv_hr.out_channels))
        return groups

    def _stream_groups(self) -> list[Group]:
        """Coupled stream groups; concatenated inputs are read at their offsets."""
        cs = self.feat_extract.width
        widths = {name: self.backbone[name].width for name in BRANCHES}
        spatial_readers = [Port("reconstruction.main.0", "in")]
        for name in BRANCHES:
            spatial_readers += [Port(f"backbone.{name}.main.0", "in"),
                                Port(f"deform_align.{name}.conv_offset.0", "in",
                                     offset=widths[name])]
        groups = [self.feat_extract.stream_group("feat_extract", (), tuple(spatial_readers))]
        offset = cs  # where branch j's state sits in later concatenations
        for j, name in enumerate(BRANCHES):
            cb, align = widths[name], f"deform_align.{name}"
            readers = [Port(align, "in"), Port(align, "in", offset=cb),
                       Port(f"{align}.conv_offset.0", "in"),
                       Port(f"{align}.conv_offset.0", "in", offset=cb + cs),
                       Port("reconstruction.main.0", "in", offset=offset)]
            readers += [Port(f"backbone.{later}.main.0", "in", offset=offset)
                        for later in BRANCHES[j:]]
            groups.append(self.backbone[name].stream_group(
                f"backbone.{name}", (Port(align, "out"),), tuple(readers)))
            offset += cb
        groups.append(self.reconstruction.stream_group("reconstruction", (),
                                                       (Port("upconv1", "in"),)))
        return groups

    # -- deployment ------------------------------------------------------------------------
    def export_module(self, kind: str, frames: int = 0) -> nn.Module:
        """``window``: ``frames`` frames in, as many out (the graph unrolls every branch);
        BasicVSR++ is bidirectional, so there is no streaming cell."""
        if kind != "window":
            raise ValueError("BasicVSR++ is bidirectional: export it as a window of frames")
        return WindowGraph(self, frames)

    def stream(self, frames: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Not causal: there is no frame-by-frame inference (contract: ``VideoSRModel``)."""
        raise ValueError("BasicVSR++ is bidirectional: run forward() on chunks of frames")

    def cell_spec(self) -> CellSpec:
        """Not causal: there is no streaming cell (contract: ``VideoSRModel``)."""
        raise ValueError("BasicVSR++ is bidirectional: it has no streaming cell")

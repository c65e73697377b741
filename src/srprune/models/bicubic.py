"""The "bicubic" model: MATLAB-compatible bicubic upsampling, the first row of every table."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from srprune.data.degrade import imresize
from srprune.models.spec import MemoryModel, NamePattern, image_export, register_arch


@dataclass(frozen=True, kw_only=True)
class BicubicConfig:
    """Bicubic upsampling by ``scale``."""

    arch: str = "bicubic"
    scale: int = 4


@register_arch(
    arch="bicubic", title="bicubic", config=BicubicConfig,
    names=(NamePattern("bicubic", r"bicubic"),), tiny={},
    bounds={"scale": ("int", (1, 8))}, scales=tuple(range(1, 9)),
    memory=MemoryModel(lambda cfg: (8.0 * cfg.scale ** 2 + 10, 0.0), lambda cfg: 0.0),
    export=image_export,
)
class Bicubic(nn.Module):
    """Upsample (N,3,h,w) images or (N,T,3,h,w) clips with MATLAB's ``imresize`` bicubic."""

    is_video = False
    causal = True
    flow_net = None

    def __init__(self, config: BicubicConfig | None = None) -> None:
        super().__init__()
        self.config = config or BicubicConfig()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 5:
            n, t = x.shape[:2]
            out = imresize(x.flatten(0, 1), float(self.config.scale))
            return out.view(n, t, *out.shape[1:])
        return imresize(x, float(self.config.scale))

    def image_ports(self) -> tuple:
        """No convs."""
        return ()

    def precision_roles(self) -> dict[str, tuple[str, ...]]:
        """No weights, nothing to quantize."""
        return {}

    def channel_groups(self, residual: str = "rsc") -> list:
        """Nothing to prune."""
        return []

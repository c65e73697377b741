"""Pixel-shuffle upsampler shared by the image-SR models, and its pruning groups."""

from __future__ import annotations

import math

from torch import nn

from srprune.models.blocks import conv3x3
from srprune.pruning.groups import Group, Port, filter_group


def upsample_factors(scale: int) -> list[int]:
    """Pixel-shuffle factors for an overall ``scale``: 2^n -> [2]*n, 3 -> [3]."""
    if scale == 3:
        return [3]
    if scale >= 2 and scale & (scale - 1) == 0:
        return [2] * int(math.log2(scale))
    raise ValueError(f"scale {scale} is not supported; use 2, 3, 4 or 8")


class PixelShuffleUpsampler(nn.Sequential):
    """``[conv3x3(C -> s^2 C), PixelShuffle(s)]`` per factor (BasicSR ``Upsample`` layout)."""

    def __init__(self, scale: int, num_feat: int) -> None:
        layers: list[nn.Module] = []
        for s in upsample_factors(scale):
            layers += [conv3x3(num_feat, s * s * num_feat), nn.PixelShuffle(s)]
        super().__init__(*layers)

    def groups(self, path: str, next_consumer: str) -> list[Group]:
        """One pixel-shuffle group per conv: units of s^2 filters, read by the next conv."""
        convs = [i for i, m in enumerate(self) if isinstance(m, nn.Conv2d)]
        groups = []
        for k, i in enumerate(convs):
            conv, shuffle = self[i], self[i + 1]
            unit = shuffle.upscale_factor ** 2
            consumer = f"{path}.{convs[k + 1]}" if k + 1 < len(convs) else next_consumer
            groups.append(filter_group(f"{path}.{i}", f"{path}.{i}", [Port(consumer, "in")],
                                       conv.out_channels // unit, unit=unit,
                                       role="pixel_shuffle"))
        return groups

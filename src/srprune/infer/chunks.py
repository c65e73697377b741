"""Run a model on inputs too large to hold at once: spatial tiles.

Each LR tile (plus ``tile_pad`` context pixels on each side) is upscaled and only its centre is
pasted into the output. (Temporal chunks of long videos: :mod:`srprune.infer.windows`.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Runner = Callable[[torch.Tensor], torch.Tensor]


def tiled(run: Runner, lrs: torch.Tensor, scale: int, tile: int, tile_pad: int) -> torch.Tensor:
    """``run`` over spatial tiles of ``lrs`` (..., 3, h, w); returns (..., 3, s*h, s*w)."""
    h, w = lrs.shape[-2:]
    if tile <= 0 or (h <= tile and w <= tile):
        return run(lrs)
    out = lrs.new_zeros(*lrs.shape[:-2], scale * h, scale * w)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(0, y0 - tile_pad), max(0, x0 - tile_pad)
            yb, xb = min(h, y1 + tile_pad), min(w, x1 + tile_pad)
            sr = run(lrs[..., ya:yb, xa:xb])
            oy, ox = (y0 - ya) * scale, (x0 - xa) * scale
            out[..., y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                sr[..., oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
    return out

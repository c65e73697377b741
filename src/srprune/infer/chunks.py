"""Run a model on inputs too long or too large to hold at once.

* Temporal chunks: a non-causal video model sees ``chunk`` frames plus ``overlap`` context
  frames on each side; only the central outputs are kept, so memory is bounded and seams are
  rare (the recurrent state has seen ``overlap`` frames of context).
* Spatial tiles: each LR tile (plus ``tile_pad`` context pixels on each side) is upscaled and
  only its centre is pasted into the output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Runner = Callable[[torch.Tensor], torch.Tensor]


def temporal_windows(num_frames: int, chunk: int, overlap: int
                     ) -> list[tuple[int, int, int, int]]:
    """(context start, context stop, keep start, keep stop) per chunk, covering every frame."""
    if chunk < 1 or overlap < 0:
        raise ValueError("chunk must be >= 1 and overlap >= 0")
    windows = []
    for start in range(0, num_frames, chunk):
        stop = min(start + chunk, num_frames)
        windows.append((max(0, start - overlap), min(num_frames, stop + overlap), start, stop))
    return windows


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

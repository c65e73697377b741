"""Choose temporal chunks and spatial tiles so that ``upscale`` stays within a memory budget.

The peak of one upscale is bounded by (docs/limits.md)::

    bytes = 2 * weights + 4 * p * (T * per_frame + fixed) + RUNTIME
            + 4 * T * 3 * s^2 * h * w [tiled] + 6 * s^2 * h * w * ENCODER_FRAMES [video output]

with ``RUNTIME`` = 256 MB (caches, codec and I/O buffers), ``p`` the pixels of one pass (the LR
frame, or a tile plus its padding), ``T`` the frames per pass (non-causal video:
``chunk + 2 * overlap``; streamed causal video: 2; image models: 1), ``per_frame`` /
``fixed`` the model's floats per LR pixel
(:func:`srprune.models.limits.inference_floats_per_pixel`) and ``s`` the scale. The video's
length does not appear: frames are read, upscaled and written a chunk at a time. The bound is
on what ``upscale`` allocates beyond the process at its start (Python, PyTorch, codecs).

The budget is ``--max-memory`` or, by default, half of the memory available when the run
starts. Without ``--chunk`` / ``--tile``: the largest chunk (up to 30, down to twice the
overlap) on whole frames, then the largest tile with such a chunk, then shorter chunks; given
values that do not fit are an error that says what to lower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from srprune.errors import UserError
from srprune.resources import estimate_inference_bytes, format_bytes, module_bytes

DEFAULT_CHUNK = 30
MIN_TILE = 32
TILE_STEPS = (1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32)
ENCODER_FRAMES = 48  # frames an H.264 encoder may hold (lookahead + reordering)
ENCODER_BYTES_PER_PIXEL = 6  # per SR pixel of each: YUV 4:2:0 planes, lowres copies, padding


@dataclass(frozen=True)
class MemoryPlan:
    """What ``upscale`` will do and the memory bound that goes with it."""

    chunk: int
    tile: int
    estimate: int
    budget: int
    frames_per_pass: int
    mode: str = "chunks"  # "chunks" (bidirectional), "stream" (causal, untiled), "frames" (image)

    def describe(self) -> str:
        """``chunk 30, no tiles, memory <= 1.2 GB (budget 11.4 GB)``; ``streamed frame by
        frame, ...`` for a causal model and ``frame by frame, ...`` for an image model."""
        how = {"stream": "streamed frame by frame", "frames": "frame by frame"}.get(
            self.mode, f"chunk {self.chunk}")
        tiles = f"tiles of {self.tile} px" if self.tile else "no tiles"
        return (f"{how}, {tiles}, memory <= {format_bytes(self.estimate)} "
                f"(budget {format_bytes(self.budget)})")


def _frames_per_pass(model: Any, chunk: int, overlap: int, tile: int) -> int:
    if not model.is_video:
        return 1
    if model.causal and tile <= 0:
        return 2  # streamed: the previous frame and the current one
    return chunk + 2 * overlap


def estimate(model: Any, lr_size: tuple[int, int], chunk: int, overlap: int, tile: int,
             tile_pad: int, video_out: bool, weights: int | None = None) -> tuple[int, int]:
    """(bytes, frames per pass) of an upscale with these settings (the formula above)."""
    h, w = lr_size
    frames = _frames_per_pass(model, chunk, overlap, tile)
    tiled = tile > 0 and (h > tile or w > tile)
    pass_size = (min(h, tile + 2 * tile_pad), min(w, tile + 2 * tile_pad)) if tiled else (h, w)
    need = estimate_inference_bytes(model.config, pass_size, frames,
                                    out_size=(h, w) if tiled else None,
                                    weights=module_bytes(model) if weights is None else weights)
    if video_out:
        s = int(getattr(model.config, "scale", 4))
        need += ENCODER_BYTES_PER_PIXEL * s * s * h * w * ENCODER_FRAMES
    return need, frames


def plan_memory(model: Any, lr_size: tuple[int, int], *, chunk: int | None, overlap: int,
                tile: int | None, tile_pad: int, budget: int, video_out: bool) -> MemoryPlan:
    """The chunk and tile to use within ``budget`` bytes (UserError when none fits)."""
    h, w = lr_size
    buffered = model.is_video
    chunks = [chunk] if chunk is not None else (
        list(range(DEFAULT_CHUNK, 0, -1)) if buffered else [DEFAULT_CHUNK])
    tiles = [tile] if tile is not None else [0] + [t for t in TILE_STEPS if t < max(h, w)]
    # Chunks shorter than twice the overlap spend most of their work on context: first try every
    # tile with longer chunks, then the short ones.
    long_enough = [c for c in chunks if c >= 2 * overlap] or chunks
    candidates = [(t, c) for t in tiles for c in long_enough] + [
        (t, c) for t in tiles for c in chunks if c not in long_enough]
    best = None
    weights = module_bytes(model)
    for t, c in candidates:
        need, frames = estimate(model, lr_size, c, overlap, t, tile_pad, video_out, weights)
        if best is None or need < best[0]:
            best = (need, c, t)
        if need <= budget:
            mode = "frames" if not model.is_video else (
                "stream" if model.causal and t <= 0 else "chunks")
            return MemoryPlan(c, t, need, budget, frames, mode)
    assert best is not None
    need, c, t = best
    given = [f for f, v in (("--chunk", chunk), ("--tile", tile)) if v is not None]
    how = f"with {' '.join(f'{f} {v}' for f, v in (('--chunk', c), ('--tile', t)) if f in given)}"
    if given:
        lower = (f"lower {' or '.join(given)} (or leave {'them' if len(given) > 1 else 'it'} "
                 "out to choose automatically), or raise --max-memory")
    else:
        lower = "raise --max-memory, or use smaller frames or a smaller model"
    size = f"{h}x{w} frames"
    raise UserError(f"upscaling {size} {how if given else 'even in the smallest chunks and tiles'}"
                    f" needs about {format_bytes(need)} of memory, more than the budget "
                    f"({format_bytes(budget)}); {lower}")

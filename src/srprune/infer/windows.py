"""Temporal windows over a stream of frames: the one schedule both upscalers cut videos with.

A non-causal video model cannot see a whole long video at once. :func:`windows` reads frames
lazily and yields windows, each a clip of consecutive frames plus the frames whose outputs to
keep from it (the central ones: every kept output has seen ``overlap`` frames of context on each
side where the video has them); every frame is kept exactly once, in order, and only about one
window of frames is held: a window's ``clip`` is emptied when the next window is asked for.

* ``chunk=C`` (the PyTorch upscaler): each window keeps up to ``C`` frames and adds up to
  ``overlap`` context frames on each side, so clips are at most ``C + 2 overlap`` long.
* ``length=T`` (an exported window file, which takes exactly T frames): every clip is T frames;
  the first keeps all but its last ``overlap``, each next starts ``overlap`` frames before the
  first frame it keeps, the last one ends at the last frame, and a video shorter than T is padded
  by repeating its last frame (outputs past the video are not kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

F = TypeVar("F")


@dataclass(frozen=True)
class Window(Generic[F]):
    """One clip and what to keep of its output.

    Attributes:
        start: video index of ``clip[0]``.
        clip: the frames the model sees (in ``length`` mode padded to ``length``).
        keep: video indices whose outputs this window gives; frame ``t``'s output is the
            clip's output ``t - start``.
    """

    start: int
    clip: list[F]
    keep: range


def windows(frames: Iterable[F], overlap: int, chunk: int | None = None,
            length: int | None = None) -> Iterator[Window[F]]:
    """Windows over ``frames`` (read lazily), with either ``chunk`` or ``length`` (see module)."""
    if (chunk is None) == (length is None):
        raise ValueError("give exactly one of chunk and length")
    if overlap < 0 or (chunk is not None and chunk < 1) or (length is not None and length < 1):
        raise ValueError("chunk and length must be >= 1 and overlap >= 0")
    if length is not None and 2 * overlap >= length:
        raise ValueError(f"overlap {overlap} leaves nothing to keep of {length}-frame windows")
    source = iter(frames)
    buffer: list[F] = []
    offset = 0  # video index of buffer[0]
    next_keep = 0
    exhausted = False
    while True:
        want = next_keep + chunk + overlap if chunk is not None else \
            max(0, next_keep - overlap) + length
        while not exhausted and offset + len(buffer) < want:
            try:
                buffer.append(next(source))
            except StopIteration:
                exhausted = True
        total = offset + len(buffer)
        if next_keep >= total:
            return
        if chunk is not None:
            start = max(0, next_keep - overlap)
            stop = min(next_keep + chunk, total)
            end = min(total, stop + overlap)
        else:
            start = max(0, min(next_keep - overlap, total - length))
            end = start + length
            stop = total if exhausted and end >= total else end - overlap
        clip = buffer[start - offset:end - offset]
        if length is not None:
            clip += [clip[-1]] * (length - len(clip))  # only for a video shorter than T
        yield Window(start, clip, range(next_keep, stop))
        clip.clear()  # the consumer is done with it: hold no frame longer than the buffer does
        next_keep = stop
        drop = max(0, next_keep - (overlap if chunk is not None else length) - offset)
        buffer = buffer[drop:]
        offset += drop

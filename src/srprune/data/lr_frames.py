"""LR-only footage for distillation: image folders, clip folders and video files, no HR.

A distillation folder (``--data DIR``) may hold, in any mix:

- video files (``.mp4``, ``.mkv``, ...): each is a clip, decoded with PyAV;
- sub-folders of images: each is a clip (its frames in natural order);
- images directly in ``DIR``: one clip for a video model (the frames of one shot), one clip per
  image for an image model (unrelated pictures may differ in size).

``DIR`` may also be a single video file. At most ``max_frames`` frames are read per source:
longer ones contribute evenly spaced segments of ``segment`` consecutive frames, each its own
clip. Frames are kept in memory as uint8 (h, w, 3) arrays.

:func:`split_held_out` sets a deterministic part aside to measure fidelity to the teacher: whole
clips when there are several (the last one and every tenth before it), else the last tenth of
the only clip's frames.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srprune.data.images import IMAGE_EXTENSIONS, list_images, natural_key, read_image
from srprune.data.video import VIDEO_SUFFIXES, iter_frames, probe
from srprune.errors import UserError


@dataclass(frozen=True)
class Source:
    """One place frames come from: a video file, or image files (a folder's or a single one)."""

    name: str
    video: Path | None = None
    images: tuple[Path, ...] = ()

    def files(self) -> list[Path]:
        """The files this source reads."""
        return [self.video] if self.video is not None else list(self.images)


@dataclass
class LRClip:
    """Consecutive LR frames (uint8 (h, w, 3) each) of one source or one segment of it."""

    name: str
    frames: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.frames)


def _is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
               for p in folder.iterdir() if p.is_file())


def find_sources(root: str | os.PathLike[str], is_video: bool) -> list[Source]:
    """The sources of ``root`` (see the module docstring), in natural name order."""
    root = Path(root)
    if _is_video(root):
        return [Source(root.name, video=root)]
    if not root.is_dir():
        raise UserError(f"distillation data not found: {root} (a folder of LR frames, of "
                        "frame folders or of videos, or a video file)")
    entries = sorted((p for p in root.iterdir() if not p.name.startswith(".")),
                     key=lambda p: natural_key(p.name))
    sources = [Source(p.name, video=p) for p in entries if _is_video(p)]
    sources += [Source(p.name, images=tuple(list_images(p)))
                for p in entries if p.is_dir() and _has_images(p)]
    if _has_images(root):
        loose = list_images(root)
        if is_video:
            sources.append(Source(root.name, images=tuple(loose)))
        else:
            sources += [Source(p.stem, images=(p,)) for p in loose]
    if not sources:
        raise UserError(f"{root}: no LR frames: expected images, folders of images or video "
                        f"files ({', '.join(VIDEO_SUFFIXES)})")
    return sorted(sources, key=lambda s: natural_key(s.name))


def segment_starts(total: int, max_frames: int, segment: int) -> list[int]:
    """Starts of evenly spaced ``segment``-frame runs that keep at most ``max_frames`` of
    ``total`` frames ([0] when everything fits)."""
    if total <= max_frames:
        return [0]
    segment = max(1, min(segment, max_frames))
    count = max(1, max_frames // segment)
    if count == 1:
        return [(total - segment) // 2]
    step = (total - segment) / (count - 1)
    return sorted({round(i * step) for i in range(count)})


def kept_indices(total: int | None, max_frames: int, segment: int) -> list[int]:
    """Indices of the frames read from a source of ``total`` frames (None: unknown, the first
    ``max_frames``): all of them, or evenly spaced ``segment``-frame runs."""
    if total is None or total <= max_frames:
        return list(range(total if total is not None else max_frames))
    length = max(1, min(segment, max_frames))
    return sorted({s + k for s in segment_starts(total, max_frames, length)
                   for k in range(length)})


def _video_frames(path: Path, max_frames: int, segment: int) -> Iterator[tuple[int, np.ndarray]]:
    """(index, frame) of the frames kept from a video (the header's frame count decides the
    segments; without one, the first ``max_frames``)."""
    wanted = set(kept_indices(probe(path).num_frames or None, max_frames, segment))
    last = max(wanted)
    for i, frame in enumerate(iter_frames(path)):
        if i in wanted:
            yield i, frame
        if i >= last:
            break


def _split_runs(name: str, indexed: list[tuple[int, np.ndarray]]) -> list[LRClip]:
    """Clips of consecutive frame indices (one per kept segment)."""
    if not indexed:
        return []
    runs: list[list[tuple[int, np.ndarray]]] = [[indexed[0]]]
    for item in indexed[1:]:
        (runs[-1].append(item) if item[0] == runs[-1][-1][0] + 1 else runs.append([item]))
    if len(runs) == 1 and runs[0][0][0] == 0:
        return [LRClip(name, [f for _, f in runs[0]])]
    return [LRClip(f"{name}[{r[0][0]}:{r[-1][0] + 1}]", [f for _, f in r]) for r in runs]


def _check_sizes(clip: LRClip) -> None:
    first = clip.frames[0].shape
    for i, frame in enumerate(clip.frames):
        if frame.shape != first:
            raise UserError(f"clip {clip.name}: frame {i} is {frame.shape[0]}x{frame.shape[1]} "
                            f"but earlier frames are {first[0]}x{first[1]}")


def load_source(source: Source, max_frames: int, segment: int) -> list[LRClip]:
    """The clips a source contributes (one, or one per kept segment)."""
    if source.video is not None:
        indexed = list(_video_frames(source.video, max_frames, segment))
    else:
        keep = kept_indices(len(source.images), max_frames, segment)
        indexed = [(i, read_image(source.images[i])) for i in keep]
    clips = _split_runs(source.name, indexed)
    for clip in clips:
        _check_sizes(clip)
    return clips


def load_lr_clips(root: str | os.PathLike[str], is_video: bool, max_frames: int,
                  segment: int) -> list[LRClip]:
    """Every clip of ``root`` (see the module docstring); UserError when none is readable."""
    clips = [c for s in find_sources(root, is_video) for c in load_source(s, max_frames, segment)]
    if not clips:
        raise UserError(f"{root}: no readable LR frames")
    return clips


def split_held_out(clips: list[LRClip], min_train: int) -> tuple[list[LRClip], list[LRClip]]:
    """(training clips, held-out clips): with several clips, the last one and every tenth
    before it are held out; with one, the last tenth of its frames (at least one).

    Args:
        min_train: frames every training clip needs (a video model's window; 1 for images).
    """
    if not clips:
        raise UserError("no LR clips to distil from")
    if len(clips) >= 2:
        held_idx = set(range(len(clips) - 1, -1, -10))
        train = [c for i, c in enumerate(clips) if i not in held_idx]
        held = [c for i, c in enumerate(clips) if i in held_idx]
    else:
        clip = clips[0]
        n = len(clip)
        tail = max(math.ceil(n / 10), min(min_train, n - min_train)) if min_train > 1 \
            else math.ceil(n / 10)
        if n - tail < max(1, min_train) or tail < 1:
            need = max(1, min_train) + 1
            raise UserError(f"clip {clip.name} has {n} frame{'s' if n != 1 else ''}; "
                            f"distillation needs at least {need} (training "
                            f"{'windows of ' + str(min_train) if min_train > 1 else 'frames'} "
                            "plus held-out frames), or a second clip")
        train = [LRClip(clip.name, clip.frames[: n - tail])]
        held = [LRClip(f"{clip.name}[{n - tail}:{n}]", clip.frames[n - tail:])]
    short = [c for c in train if len(c) < min_train]
    if short:
        c = short[0]
        raise UserError(f"clip {c.name} has {len(c)} frames, fewer than the {min_train}-frame "
                        "training window (data.num_frames); give longer clips or a shorter "
                        "window")
    return train, held

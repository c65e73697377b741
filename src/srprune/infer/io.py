"""Frame sources (a video file or a folder of images) and sinks (a video file or a folder)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from srprune.data.images import image_size, list_image_names, read_image, write_image
from srprune.data.video import VIDEO_SUFFIXES, VideoWriter, iter_frames, probe
from srprune.errors import UserError
from srprune.io.atomic import as_path_error, atomic_dir
from srprune.io.special import refuse_special

DEFAULT_FPS = Fraction(25)


@dataclass
class FrameSource:
    """Frames of a video file or an image folder, with their frame rate, count and size."""

    path: Path
    fps: Fraction
    num_frames: int | None
    is_video: bool
    size: tuple[int, int] | None = None  # (height, width) of the frames, from the header
    names: list[str] | None = None  # a folder's frame names, listed once by open_source

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.is_video:
            yield from iter_frames(self.path)
            return
        first = None
        names = self.names if self.names is not None else list_image_names(self.path)
        for name in names:
            p = self.path / name
            img = read_image(p)
            if first is None:
                first = img.shape
            elif img.shape != first:
                raise UserError(f"{p.name} is {img.shape[0]}x{img.shape[1]} but earlier frames "
                                f"are {first[0]}x{first[1]}")
            yield img


def open_source(path: str | Path) -> FrameSource:
    """A video file (by suffix) or a folder of frames."""
    path = Path(path)
    refuse_special(path, "--input", "a video file or a folder of frames")
    if not path.exists():
        raise UserError(f"input not found: {path}")
    if path.is_dir():
        names = list_image_names(path)
        return FrameSource(path, DEFAULT_FPS, len(names), False, image_size(path / names[0]),
                           names)
    info = probe(path)
    return FrameSource(path, info.fps, info.num_frames, True, (info.height, info.width))


class FrameSink:
    """Writes SR frames to a video file or a folder of PNGs, atomically.

    A folder is written under a temporary name and renamed when complete; a video goes through
    the atomic :class:`VideoWriter`. On error nothing is left at the output path.
    """

    def __init__(self, path: str | Path, fps: Fraction, audio_from: Path | None = None) -> None:
        self.path = Path(path)
        self.fps = fps
        self.audio_from = audio_from
        self.is_video = self.path.suffix.lower() in VIDEO_SUFFIXES
        if self.path.suffix and not self.is_video:
            raise UserError(f"output {self.path}: use a video suffix "
                            f"({', '.join(VIDEO_SUFFIXES)}) or a folder name without suffix")
        if self.path.exists():
            raise UserError(f"output {self.path} exists; remove it or choose another name")
        self._writer: VideoWriter | None = None
        self._tmpdir: Path | None = None
        self._dir_ctx: contextlib.AbstractContextManager[Path] | None = None
        self.count = 0
        self.padded: tuple[int, int] | None = None  # (H, W) the video was padded to, if odd

    def __enter__(self) -> FrameSink:
        if not self.is_video:
            self._dir_ctx = atomic_dir(self.path)
            self._tmpdir = self._dir_ctx.__enter__()
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, 3) frame (a full disk is raised as ENOSPC naming the path)."""
        try:
            self._write(frame)
        except Exception as exc:
            mapped = as_path_error(exc, self.path)
            if mapped is not exc:
                raise mapped from exc
            raise

    def _write(self, frame: np.ndarray) -> None:
        if self.is_video:
            if self._writer is None:
                h, w = frame.shape[:2]
                self._writer = VideoWriter(self.path, self.fps, w, h,
                                           audio_from=self.audio_from).__enter__()
                self.padded = self._writer.padded_size
            self._writer.write(frame)
        else:
            assert self._tmpdir is not None
            write_image(self._tmpdir / f"{self.count:08d}.png", frame)
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self.count == 0:
            exc = UserError("the input had no frames; nothing was written")
            exc_type, tb = UserError, None
        try:
            if self._writer is not None:
                writer, self._writer = self._writer, None
                writer.__exit__(exc_type, exc, tb)
        finally:
            if self._dir_ctx is not None:
                ctx, self._dir_ctx = self._dir_ctx, None
                ctx.__exit__(exc_type, exc, tb)
        if exc_type is UserError and self.count == 0:
            raise exc

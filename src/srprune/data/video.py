"""Video file I/O with PyAV: probing, decoding to uint8 RGB frames and atomic encoding.

Decoded frames are uint8 (H, W, 3) RGB arrays. Rotation metadata (phone videos) is not applied.
``VideoWriter`` encodes to a temporary file beside the target and renames it on success, so an
error never leaves a partial video; it can carry the audio of a source video over (stream copy
when the output container accepts the codec, otherwise re-encoded to AAC).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
import torch

from srprune.errors import UserError
from srprune.io.atomic import atomic_path
from srprune.io.special import refuse_special

DEFAULT_FPS = Fraction(25)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
"""File suffixes read and written as video (anything else is an image or a folder)."""
_AUDIO_FALLBACKS = ("aac", "libopus", "libvorbis", "libmp3lame", "pcm_s16le")
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError)


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` reports about a video file."""

    path: Path
    width: int
    height: int
    fps: Fraction
    num_frames: int | None  # from the container header; None when it does not say
    duration: float | None  # seconds
    codec: str
    has_audio: bool


def _open_input(path: str | os.PathLike[str]) -> av.container.InputContainer:
    path = Path(path)
    refuse_special(path, "video", "a video file")
    if not path.is_file():
        raise UserError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file, not a video")
    try:
        container = av.open(str(path), mode="r")
    except _AV_ERRORS as exc:
        raise UserError(f"{path}: cannot open as a video ({exc})") from None
    if not container.streams.video:
        container.close()
        raise UserError(f"{path}: contains no video stream")
    return container


def _fps(stream: av.video.stream.VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return DEFAULT_FPS


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate, frame count (if the header has it), duration, codec, audio presence."""
    with _open_input(path) as container:
        stream = container.streams.video[0]
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        return VideoInfo(path=Path(path), width=stream.codec_context.width,
                         height=stream.codec_context.height, fps=_fps(stream),
                         num_frames=stream.frames or None, duration=duration,
                         codec=stream.codec_context.name, has_audio=bool(container.streams.audio))


def iter_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Decode frames one at a time as uint8 (H, W, 3) RGB; raises UserError if there are none.

    The file is opened (and checked) when this is called, not at the first ``next``.
    """
    container = _open_input(path)

    def frames() -> Iterator[np.ndarray]:
        count = 0
        with container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                for frame in container.decode(stream):
                    count += 1
                    yield frame.to_ndarray(format="rgb24")
            except _AV_ERRORS as exc:
                raise UserError(f"{path}: cannot decode video ({exc})") from None
        if count == 0:
            raise UserError(f"{path}: contains no video frames")

    return frames()


def read_video(path: str | os.PathLike[str]) -> tuple[np.ndarray, Fraction]:
    """All frames as uint8 (T, H, W, 3) RGB, and the frame rate."""
    with _open_input(path) as container:
        fps = _fps(container.streams.video[0])
    return np.stack(list(iter_frames(path))), fps


def default_codec() -> str:
    """``libx264`` when this FFmpeg build has it, else ``mpeg4``."""
    try:
        av.Codec("libx264", "w")
    except _AV_ERRORS:
        return "mpeg4"
    return "libx264"


class VideoWriter:
    """Atomic video encoder; use as a context manager and ``write`` frames.

    ``frame`` is uint8 (H, W, 3) RGB or a float tensor (3, H, W) in [0, 1]. ``codec`` defaults
    to libx264 (``crf`` sets its quality; 18 is visually lossless) with mpeg4 as fallback
    (``bit_rate`` in bits/s, default about 0.25 bit per pixel). Always YUV 4:2:0, which every
    player decodes: an odd width or height is padded by one row / column (a copy of the last
    one), and ``padded_size`` says so. ``audio_from``: a media file whose first audio stream
    is copied into the output.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float | Fraction, width: int,
                 height: int, *, codec: str | None = None, crf: int = 18,
                 bit_rate: int | None = None, audio_from: str | os.PathLike[str] | None = None
                 ) -> None:
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001000)
        if self.fps <= 0:
            raise UserError(f"frame rate must be positive, got {fps}")
        if width < 1 or height < 1:
            raise UserError(f"video size must be positive, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        even = (self.height + self.height % 2, self.width + self.width % 2)
        self.padded_size: tuple[int, int] | None = even if even != (self.height,
                                                                    self.width) else None
        self.codec = codec or default_codec()
        self.crf, self.bit_rate = crf, bit_rate
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self.frames_written = 0
        self._stack: contextlib.ExitStack | None = None
        self._out: av.container.OutputContainer | None = None
        self._src: av.container.InputContainer | None = None
        self._src_audio: av.audio.stream.AudioStream | None = None
        self._out_audio: av.audio.stream.AudioStream | None = None
        self._copy_audio = False

    # -- setup
    def _open_output(self, tmp: Path, copy_audio: bool) -> None:
        try:
            out = av.open(str(tmp), mode="w")
        except _AV_ERRORS as exc:
            raise UserError(f"cannot write a video file named {self.path.name} ({exc})") from None
        self._out = out
        try:
            stream = out.add_stream(self.codec, rate=self.fps)
        except _AV_ERRORS as exc:
            raise UserError(f"cannot encode {self.path.name} with codec {self.codec!r} ({exc})"
                            ) from None
        stream.height, stream.width = self.padded_size or (self.height, self.width)
        if self.codec in ("libx264", "libx265"):
            stream.pix_fmt = "yuv420p"
            if self.bit_rate:
                stream.bit_rate = self.bit_rate
                stream.options = {"preset": "medium"}
            else:
                stream.options = {"crf": str(self.crf), "preset": "medium"}
        else:
            stream.pix_fmt = "yuv420p"
            rate = self.bit_rate or int(0.25 * self.width * self.height * float(self.fps))
            stream.bit_rate = max(rate, 200_000)
        self._video = stream
        if self._src_audio is not None:
            src = self._src_audio
            if copy_audio:
                self._out_audio = out.add_stream_from_template(src)
            else:
                name = next((c for c in _AUDIO_FALLBACKS if c in out.supported_codecs), None)
                if name is None:
                    raise UserError(f"{self.path.suffix} files cannot hold audio; "
                                    "use .mp4 or .mkv, or leave the audio out")
                layout = src.codec_context.layout.name if src.codec_context.layout else "stereo"
                self._out_audio = out.add_stream(name, rate=src.codec_context.sample_rate or 48000,
                                                 layout=layout)
        self._copy_audio = copy_audio
        out.start_encoding()

    def __enter__(self) -> VideoWriter:
        self._stack = contextlib.ExitStack()
        try:
            tmp = self._stack.enter_context(atomic_path(self.path))
            if self.audio_from is not None:
                self._src = _open_input_any(self.audio_from)
                self._stack.callback(self._src.close)
                self._src_audio = self._src.streams.audio[0] if self._src.streams.audio else None
            try:
                self._open_output(tmp, copy_audio=self._src_audio is not None)
            except (av.error.FFmpegError, ValueError):
                if self._src_audio is None:
                    raise
                self._close_output_quietly()  # the container rejects this audio codec: re-encode
                self._open_output(tmp, copy_audio=False)
        except BaseException as exc:
            self._close_output_quietly()
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            self._stack = None
            if isinstance(exc, av.error.FFmpegError):
                raise UserError(f"cannot create video {self.path}: {exc}") from None
            raise
        return self

    def _close_output_quietly(self) -> None:
        if self._out is not None:
            with contextlib.suppress(Exception):
                self._out.close()
        self._out = None

    # -- writing
    def write(self, frame: np.ndarray | torch.Tensor) -> None:
        """Encode one frame: uint8 (H, W, 3) RGB or float (3, H, W) in [0, 1]."""
        if self._out is None:
            raise RuntimeError("VideoWriter.write outside its 'with' block")
        if isinstance(frame, torch.Tensor):
            frame = (frame.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
            frame = frame.permute(1, 2, 0).cpu().numpy()
        if frame.dtype != np.uint8 or frame.shape != (self.height, self.width, 3):
            raise ValueError(f"frame must be uint8 ({self.height}, {self.width}, 3), got "
                             f"{frame.dtype} {frame.shape}")
        if self.padded_size is not None:
            ph, pw = self.padded_size
            frame = np.pad(frame, ((0, ph - self.height), (0, pw - self.width), (0, 0)),
                           mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.frames_written
        vf.time_base = 1 / self.fps
        for packet in self._video.encode(vf):
            self._out.mux(packet)
        self.frames_written += 1

    def _write_audio(self) -> None:
        src, out, src_audio, out_audio = self._src, self._out, self._src_audio, self._out_audio
        if src is None or src_audio is None or out is None or out_audio is None:
            return
        src.seek(0)
        if self._copy_audio:
            for packet in src.demux(src_audio):
                if packet.dts is None:
                    continue
                packet.stream = out_audio
                out.mux(packet)
            return
        ctx = out_audio.codec_context
        resampler = av.AudioResampler(format=ctx.format.name, layout=ctx.layout.name,
                                      rate=ctx.sample_rate)
        for frame in src.decode(src_audio):
            frame.pts = None
            for chunk in resampler.resample(frame):
                for packet in out_audio.encode(chunk):
                    out.mux(packet)
        for chunk in resampler.resample(None):
            for packet in out_audio.encode(chunk):
                out.mux(packet)
        for packet in out_audio.encode(None):
            out.mux(packet)

    def close(self) -> None:
        """Flush the encoder, add the audio, and move the file into place."""
        if self._stack is None or self._out is None:
            return
        try:
            if self.frames_written == 0:
                raise UserError(f"no frames were written to {self.path}")
            for packet in self._video.encode(None):
                self._out.mux(packet)
            self._write_audio()
            self._out.close()
            self._out = None
        except BaseException as exc:
            self._abort(exc)
            if isinstance(exc, av.error.FFmpegError):
                raise UserError(f"cannot write video {self.path}: {exc}") from None
            raise
        stack, self._stack = self._stack, None
        stack.close()

    def _abort(self, exc: BaseException) -> None:
        self._close_output_quietly()
        if self._stack is not None:
            stack, self._stack = self._stack, None
            with contextlib.suppress(BaseException):
                stack.__exit__(type(exc), exc, exc.__traceback__)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
        else:
            self._abort(exc)


def _open_input_any(path: Path) -> av.container.InputContainer:
    """Open a media file that may have no video stream (an audio source)."""
    if not path.is_file():
        raise UserError(f"audio source not found: {path}")
    try:
        return av.open(str(path), mode="r")
    except _AV_ERRORS as exc:
        raise UserError(f"{path}: cannot open as a media file ({exc})") from None

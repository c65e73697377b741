"""PyAV video I/O: probing, decoding, atomic writing and audio carry-over."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from srprune.data.video import VideoWriter, iter_frames, probe, read_video
from srprune.errors import UserError

W, H, N, FPS = 64, 48, 10, 24


def _frames() -> np.ndarray:
    """Frames whose mean brightness identifies them (robust to lossy coding)."""
    ramp = np.linspace(0, 60, W, dtype=np.float32)[None, :, None]
    return np.stack([np.clip(20 * i + ramp, 0, 255).astype(np.uint8).repeat(H, 0).repeat(3, 2)
                     for i in range(N)])


def _make_video(path: Path, audio: str | None = None) -> None:
    """Encode N frames at FPS with PyAV, optionally with a 440 Hz mono audio track."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.bit_rate = 2_000_000
        sound = out.add_stream(audio, rate=16000, layout="mono") if audio else None
        for i, arr in enumerate(_frames()):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        if sound is not None:
            fmt = "fltp" if audio == "aac" else "s16"
            rate, total, pts = 16000, 16000 * N // FPS, 0
            while pts < total:
                count = min(1024, total - pts)
                wave = 0.2 * np.sin(2 * np.pi * 440 * np.arange(pts, pts + count) / rate)
                samples = wave[None].astype(np.float32)
                if fmt == "s16":
                    samples = (samples * 32767).astype(np.int16)
                chunk = av.AudioFrame.from_ndarray(samples, format=fmt, layout="mono")
                chunk.sample_rate, chunk.pts = rate, pts
                for packet in sound.encode(chunk):
                    out.mux(packet)
                pts += count
            for packet in sound.encode(None):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    paths = {"plain": root / "plain.mp4", "aac": root / "aac.mp4", "pcm": root / "pcm.mkv"}
    _make_video(paths["plain"])
    _make_video(paths["aac"], audio="aac")
    _make_video(paths["pcm"], audio="pcm_s16le")
    return paths


def _audio_codecs(path: Path) -> list[str]:
    with av.open(str(path)) as c:
        return [s.codec_context.name for s in c.streams.audio]


def test_probe_and_read(clips: dict[str, Path]) -> None:
    info = probe(clips["aac"])
    assert (info.width, info.height, info.fps, info.has_audio) == (W, H, Fraction(FPS), True)
    assert info.codec == "mpeg4" and info.num_frames == N
    assert probe(clips["plain"]).has_audio is False
    frames, fps = read_video(clips["plain"])
    assert frames.shape == (N, H, W, 3) and frames.dtype == np.uint8 and fps == FPS
    means = frames.reshape(N, -1).mean(axis=1)
    np.testing.assert_allclose(means, _frames().reshape(N, -1).mean(axis=1), atol=3)
    assert sum(1 for _ in iter_frames(clips["pcm"])) == N


def test_writer_roundtrip_and_audio_copy(clips: dict[str, Path], tmp_path: Path) -> None:
    frames, _ = read_video(clips["aac"])
    out = tmp_path / "out.mp4"
    with VideoWriter(out, Fraction(30000, 1001), W, H, audio_from=clips["aac"]) as writer:
        for i, frame in enumerate(frames):
            writer.write(frame if i % 2 else torch.from_numpy(frame).permute(2, 0, 1) / 255)
    back, fps = read_video(out)
    assert back.shape == (N, H, W, 3) and fps == Fraction(30000, 1001)
    np.testing.assert_allclose(back.mean(axis=(1, 2, 3)), frames.mean(axis=(1, 2, 3)), atol=3)
    assert _audio_codecs(out) == ["aac"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    with VideoWriter(tmp_path / "silent.mkv", FPS, W, H, audio_from=clips["plain"]) as writer:
        writer.write(frames[0])
    assert _audio_codecs(tmp_path / "silent.mkv") == []


def test_writer_transcodes_audio_the_container_rejects(clips: dict[str, Path],
                                                       tmp_path: Path) -> None:
    for codec in ("libvpx-vp9", "libopus"):
        try:
            av.Codec(codec, "w")
        except av.error.FFmpegError:
            pytest.skip(f"{codec} not in this FFmpeg build")
    out = tmp_path / "out.webm"  # WebM cannot hold PCM audio: re-encoded
    with VideoWriter(out, FPS, W, H, codec="libvpx-vp9", audio_from=clips["pcm"]) as writer:
        for frame in _frames()[:3]:
            writer.write(frame)
    assert len(_audio_codecs(out)) == 1 and _audio_codecs(out) != ["pcm_s16le"]
    assert read_video(out)[0].shape == (3, H, W, 3)


def test_writer_codecs_and_odd_sizes(tmp_path: Path) -> None:
    odd = np.random.default_rng(0).integers(0, 256, (33, 47, 3), dtype=np.uint8)
    with VideoWriter(tmp_path / "odd.mp4", FPS, 47, 33) as writer:
        writer.write(odd)
        writer.write(odd)
    # odd sizes are padded by one edge row / column to stay YUV 4:2:0 (playable everywhere)
    assert writer.padded_size == (34, 48)
    assert read_video(tmp_path / "odd.mp4")[0].shape == (2, 34, 48, 3)
    assert probe(tmp_path / "odd.mp4").codec == "h264"
    with av.open(str(tmp_path / "odd.mp4")) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    with VideoWriter(tmp_path / "m4.mp4", FPS, W, H, codec="mpeg4") as writer:
        writer.write(_frames()[0])
    assert probe(tmp_path / "m4.mp4").codec == "mpeg4"
    with VideoWriter(tmp_path / "m4odd.mp4", FPS, 47, 33, codec="mpeg4") as writer:
        writer.write(odd)
    assert read_video(tmp_path / "m4odd.mp4")[0].shape == (1, 34, 48, 3)


def test_writer_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(target, FPS, W, H) as writer:
        writer.write(_frames()[0])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError), VideoWriter(target, FPS, W, H) as writer:
        writer.write(np.zeros((H + 1, W, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UserError, match="no frames"), VideoWriter(target, FPS, W, H):
        pass
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        probe(tmp_path / "empty.mp4")
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(UserError, match="junk.mp4"):
        read_video(tmp_path / "junk.mp4")
    with pytest.raises(UserError, match="junk.mp4"):
        iter_frames(tmp_path / "junk.mp4")
    with av.open(str(tmp_path / "sound.wav"), "w") as out:
        sound = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        chunk.sample_rate = 8000
        for packet in [*sound.encode(chunk), *sound.encode(None)]:
            out.mux(packet)
    with pytest.raises(UserError, match="no video stream"):
        read_video(tmp_path / "sound.wav")
    with av.open(str(tmp_path / "noframes.mkv"), "w") as out:
        stream = out.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height = W, H
        out.start_encoding()
    with pytest.raises(UserError, match="noframes.mkv"):
        read_video(tmp_path / "noframes.mkv")
    with pytest.raises(UserError, match="out.xyz"), VideoWriter(tmp_path / "out.xyz", FPS, W, H):
        pass
    assert not (tmp_path / "out.xyz").exists()
    with pytest.raises(UserError, match="audio source not found"), VideoWriter(
            tmp_path / "x.mp4", FPS, W, H, audio_from=tmp_path / "nope.wav"):
        pass

"""Upscaling: chunking and tiling are exact where they should be; the CLI on real files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from srprune.cli import main
from srprune.data.video import VideoWriter, probe, read_video
from srprune.infer.chunks import tiled
from srprune.infer.io import FrameSink, FrameSource
from srprune.infer.upscale import UpscaleOptions, upscale
from srprune.infer.windows import windows
from srprune.io.model_file import save_model
from srprune.models.registry import create_model


def _frames(n: int, h: int = 12, w: int = 14, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


class ListSource(FrameSource):
    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__(Path("mem"), Fraction(24), len(frames), False)
        self.frames = frames

    def __iter__(self):
        return iter(self.frames)


def _upscale_to_dir(model, frames, tmp_path: Path, **opt) -> np.ndarray:
    out = tmp_path / "out"
    upscale(model, ListSource(frames), FrameSink(out, Fraction(24)),
            UpscaleOptions(channels_last=False, **opt), progress=False)
    from srprune.data.images import list_images, read_image
    return np.stack([read_image(p) for p in list_images(out)])


def _reference(model, frames) -> np.ndarray:
    from srprune.data.images import to_tensor
    from srprune.eval.metrics import tensor_to_uint8
    with torch.no_grad():
        x = torch.stack([to_tensor(f) for f in frames]).unsqueeze(0)
        y = model(x)[0] if model.is_video else model(x[0])
    return np.stack([tensor_to_uint8(f) for f in y])


def _schedule(n: int, overlap: int, **kw) -> list[tuple[int, int, int, int]]:
    """(context start, context stop, keep start, keep stop) per window over n frames."""
    out = []
    for w in windows(range(n), overlap, **kw):
        assert w.clip[:n - w.start] == list(range(w.start, min(n, w.start + len(w.clip))))
        out.append((w.start, w.start + len(w.clip), w.keep.start, w.keep.stop))
    return out


@pytest.mark.parametrize(("n", "chunk", "overlap"), [(23, 5, 2), (10, 4, 3), (1, 3, 0), (7, 7, 9)])
def test_chunk_windows_cover_every_frame_once(n: int, chunk: int, overlap: int) -> None:
    sched = _schedule(n, overlap, chunk=chunk)
    assert [t for *_, a, b in sched for t in range(a, b)] == list(range(n))
    for start, stop, a, b in sched:  # up to `overlap` context frames each side, within the video
        assert b - a <= chunk and start == max(0, a - overlap) and stop == min(n, b + overlap)
    assert _schedule(10, 3, chunk=4)[1] == (1, 10, 4, 8)
    assert _schedule(0, 1, chunk=3) == []


@pytest.mark.parametrize(("n", "t", "overlap"), [(9, 4, 1), (3, 4, 1), (4, 4, 0), (11, 5, 2)])
def test_fixed_windows_are_full_and_cover_every_frame_once(n: int, t: int, overlap: int) -> None:
    sched = _schedule(n, overlap, length=t)
    assert [k for *_, a, b in sched for k in range(a, b)] == list(range(n))
    assert all(stop - start == t for start, stop, _, _ in sched)
    assert sched[0][:3] == (0, t, 0) and (n < t or sched[-1][1] == n)
    for start, stop, a, b in sched[1:-1]:  # inner windows: `overlap` context on each side
        assert (a - start, stop - b) == (overlap, overlap)
    if n < t:  # padded by repeating the last frame
        assert next(windows(range(n), overlap, length=t)).clip == [*range(n)] + [n - 1] * (t - n)


def test_windows_read_lazily_and_refuse_bad_settings() -> None:
    read: list[int] = []

    def frames():
        for i in range(100):
            read.append(i)
            yield i

    first = next(windows(frames(), 2, chunk=5))
    assert first.keep == range(0, 5) and len(read) <= 5 + 2 + 1
    for kw in ({"chunk": 0}, {"length": 4, "chunk": 2}, {}, {"length": 4}):
        with pytest.raises(ValueError):
            next(windows(range(5), 2, **kw))


def test_bidirectional_chunks_with_full_context_match_one_pass(tmp_path: Path) -> None:
    model = create_model("basicvsr-8-1").eval()
    frames = _frames(7)
    out = _upscale_to_dir(model, frames, tmp_path, chunk=2, overlap=10)
    np.testing.assert_array_equal(out, _reference(model, frames))


def test_bidirectional_chunks_bound_the_clip_length(tmp_path: Path) -> None:
    model = create_model("basicvsr-8-1").eval()
    seen: list[int] = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[1]))
    out = _upscale_to_dir(model, _frames(11), tmp_path, chunk=3, overlap=1)
    assert out.shape == (11, 48, 56, 3)
    assert max(seen) <= 3 + 2 * 1


def test_unidirectional_streams_frame_by_frame(tmp_path: Path) -> None:
    model = create_model("basicvsr-uni-8-1").eval()
    frames = _frames(5)
    out = _upscale_to_dir(model, frames, tmp_path)
    np.testing.assert_allclose(out.astype(int), _reference(model, frames).astype(int), atol=1)


def test_tiles_with_enough_context_match_the_whole_frame() -> None:
    model = create_model("edsr-1-8", 2).eval()
    x = torch.rand(1, 3, 21, 26)
    with torch.no_grad():
        torch.testing.assert_close(tiled(model, x, 2, tile=8, tile_pad=8), model(x))


@pytest.fixture()
def video(tmp_path: Path) -> Path:
    path = tmp_path / "in.mp4"
    with VideoWriter(path, 24, 32, 24) as w:
        for f in _frames(6, 24, 32):
            w.write(f)
    return path


@pytest.fixture()
def model_file(tmp_path: Path) -> Path:
    return save_model(tmp_path / "m.safetensors", create_model("basicvsr-8-1"))


def test_cli_upscales_a_video(video: Path, model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    assert main(["upscale", "--model", str(model_file), "--input", str(video), "--output",
                 str(out), "--chunk", "4", "--device", "cpu", "--quiet"]) == 0
    info = probe(out)
    frames, fps = read_video(out)
    assert frames.shape == (6, 96, 128, 3)
    assert fps == 24 and info.width == 128


@pytest.mark.parametrize("case", ["missing", "corrupt", "empty", "exists", "tiny"])
def test_cli_bad_inputs_give_one_line_and_no_output(case: str, model_file: Path,
                                                    tmp_path: Path, capsys) -> None:
    src = tmp_path / "in.mp4"
    out = tmp_path / "out.mp4"
    if case == "corrupt":
        src.write_bytes(np.random.default_rng(0).bytes(4000))
    elif case == "empty":
        src.write_bytes(b"")
    elif case == "exists":
        with VideoWriter(src, 24, 16, 16) as w:
            w.write(_frames(1, 16, 16)[0])
        out.write_bytes(b"keep me")
    elif case == "tiny":
        with VideoWriter(src, 24, 2, 2) as w:
            w.write(_frames(1, 2, 2)[0])
    code = main(["upscale", "--model", str(model_file), "--input", str(src), "--output",
                 str(out), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "error" in err[0]
    if case == "exists":
        assert out.read_bytes() == b"keep me"
    else:
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]

"""Image reading/writing, validation and tensor conversion."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srprune.data import images
from srprune.data.images import list_images, read_image, to_tensor, to_uint8, write_image
from srprune.errors import UserError


def _png16_rgb(path: Path, arr: np.ndarray) -> None:
    """Write a 16-bit RGB PNG by hand (Pillow cannot write one)."""
    h, w = arr.shape[:2]

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_lossless_roundtrip(tmp_path: Path, rgb: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    write_image(path, rgb)
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (7, 9, 3)
    np.testing.assert_array_equal(out, rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"a{suffix}"]


def test_jpeg_and_palette_read_as_rgb(tmp_path: Path, rgb: np.ndarray) -> None:
    write_image(tmp_path / "a.jpg", rgb)
    assert read_image(tmp_path / "a.jpg").shape == (7, 9, 3)
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").shape == (7, 9, 3)


def test_write_is_atomic(tmp_path: Path, rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError):
        write_image(tmp_path / "a.png", rgb)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("mode", "match"),
    [("L", "grayscale"), ("1", "grayscale"), ("I;16", "8 bits"), ("RGBA", "alpha"),
     ("LA", "alpha")],
)
def test_rejects_non_rgb(tmp_path: Path, rgb: np.ndarray, mode: str, match: str) -> None:
    path = tmp_path / f"bad_{mode.replace(';', '')}.png"
    Image.fromarray(rgb).convert("RGBA" if mode == "LA" else mode).convert(mode).save(path)
    with pytest.raises(UserError, match=match) as info:
        read_image(path)
    assert path.name in str(info.value)


def test_rejects_palette_with_transparency(tmp_path: Path, rgb: np.ndarray) -> None:
    path = tmp_path / "t.png"
    Image.fromarray(rgb).convert("P").save(path, transparency=0)
    with pytest.raises(UserError, match="alpha"):
        read_image(path)


def test_rejects_16_bit_rgb(tmp_path: Path) -> None:
    arr = np.random.default_rng(1).integers(0, 65536, (5, 6, 3)).astype(np.uint16)
    _png16_rgb(tmp_path / "deep.png", arr)
    with pytest.raises(UserError, match="8 bits") as info:
        read_image(tmp_path / "deep.png")
    assert "deep.png" in str(info.value)
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "deep.tif", arr)
    with pytest.raises(UserError, match="8 bits"):
        read_image(tmp_path / "deep.tif")


def test_rejects_missing_and_corrupt(tmp_path: Path, rgb: np.ndarray) -> None:
    with pytest.raises(UserError, match="not found"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(np.random.default_rng(2).bytes(300))
    with pytest.raises(UserError, match="junk.png"):
        read_image(tmp_path / "junk.png")
    write_image(tmp_path / "full.png", np.random.default_rng(3).integers(0, 256, (64, 64, 3),
                                                                        dtype=np.uint8))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="cut.png"):
        read_image(tmp_path / "cut.png")


def test_tensor_conversions(rgb: np.ndarray) -> None:
    t = to_tensor(rgb)
    assert t.shape == (3, 7, 9) and t.dtype == torch.float32
    assert float(t.max()) <= 1.0
    np.testing.assert_array_equal(to_uint8(t), rgb)
    clip = to_tensor(np.stack([rgb, rgb]))
    assert clip.shape == (2, 3, 7, 9)
    assert to_uint8(clip).shape == (2, 7, 9, 3)
    # BasicSR tensor2img: clamp, *255, round.
    x = torch.tensor([-0.2, 0.0, 1.4 / 255, 1.6 / 255, 1.0, 1.3]).view(1, 1, 6).expand(3, 1, 6)
    assert to_uint8(x)[0, :, 0].tolist() == [0, 0, 1, 2, 255, 255]


def test_list_images_natural_sort(tmp_path: Path, rgb: np.ndarray) -> None:
    for name in ["10.png", "2.png", "1.jpg", "frame_3.bmp", "x.tif", ".hidden.png"]:
        write_image(tmp_path / name, rgb)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub.png").mkdir()
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["1.jpg", "2.png", "10.png", "frame_3.bmp", "x.tif"]
    assert images.natural_key("a2") < images.natural_key("a10")


def test_list_images_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        list_images(tmp_path / "empty")

"""Reading and writing 8-bit RGB images, and converting them to and from tensors.

Only 8-bit RGB is accepted: grayscale, alpha and 16-bit files raise ``UserError`` naming the file
instead of being converted silently (Pillow alone would quietly drop 8 bits of a 16-bit PNG).
Palette and YCbCr/CMYK images without transparency are converted to RGB. EXIF orientation is
ignored, as in BasicSR's data pipeline. An image whose header declares more than
``MAX_IMAGE_PIXELS`` pixels (or a side over ``MAX_IMAGE_SIDE``) is refused before it is decoded.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from srprune.errors import UserError
from srprune.io.atomic import atomic_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MAX_IMAGE_SIDE = 65536
MAX_IMAGE_PIXELS = 89_478_485  # Pillow's own bomb limit (0.25 GB as uint8 RGB)

_GRAY_MODES = {"1", "L", "I", "F", "I;16", "I;16B", "I;16L", "I;16N"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


def _rawmode(im: Image.Image) -> str:
    """The decoder's raw mode of the first tile ('' when unknown), e.g. 'RGB;16B'."""
    tile = getattr(im, "tile", None)
    if not tile:
        return ""
    args = tile[0].args if hasattr(tile[0], "args") else tile[0][3]
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _more_than_8_bits(im: Image.Image) -> bool:
    if im.mode in {"I", "F"} or im.mode.startswith("I;16"):
        return True
    if im.format == "TIFF":
        bits = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
        if bits is not None:
            bits = bits if isinstance(bits, tuple) else (bits,)
            return any(b > 8 for b in bits)
    if im.format in {"PNG", "TIFF"}:
        return re.search(r";(16|32)", _rawmode(im)) is not None
    return False


def _check_dimensions(path: Path, im: Image.Image) -> None:
    w, h = im.size
    if w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE or w * h > MAX_IMAGE_PIXELS:
        raise UserError(f"{path}: the image is {h}x{w} pixels, over srprune's limit "
                        f"({MAX_IMAGE_PIXELS:,} pixels, {MAX_IMAGE_SIDE} per side)")


def _open(path: Path) -> Image.Image:
    """``Image.open`` with one-line errors (missing, unreadable, not an image, too large)."""
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserError(f"{path}: the image is too large to decode ({exc})") from None
    except PermissionError:
        raise UserError(f"{path}: not readable (permission denied)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"{path}: cannot read image ({exc})") from None
    try:
        _check_dimensions(path, im)
    except UserError:
        im.close()
        raise
    return im


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(height, width) of an image from its header, without decoding it."""
    path = Path(path)
    with _open(path) as im:
        return im.size[1], im.size[0]


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an 8-bit RGB image as a uint8 array of shape (H, W, 3)."""
    path = Path(path)
    try:
        with _open(path) as im:
            if _more_than_8_bits(im):
                raise UserError(f"{path}: more than 8 bits per channel; convert it to 8-bit RGB")
            if im.mode in _GRAY_MODES:
                raise UserError(f"{path}: grayscale image; only RGB images are supported")
            if im.mode in _ALPHA_MODES or (im.mode == "P" and "transparency" in im.info):
                raise UserError(f"{path}: image has an alpha channel; save it as RGB without alpha")
            im.load()
            if im.mode != "RGB":
                im = im.convert("RGB")
            arr = np.array(im, dtype=np.uint8)
    except UserError:
        raise
    except Image.DecompressionBombError as exc:
        raise UserError(f"{path}: the image is too large to decode ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"{path}: cannot read image ({exc})") from None
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise UserError(f"{path}: expected an RGB image, got array shape {arr.shape}")
    return np.ascontiguousarray(arr)


def write_image(path: str | os.PathLike[str], img: np.ndarray) -> None:
    """Write a uint8 (H, W, 3) array atomically; the format follows the suffix (PNG lossless)."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"write_image needs uint8 (H, W, 3), got {img.dtype} {img.shape}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise UserError(f"{path}: unsupported image extension (use one of {IMAGE_EXTENSIONS})")
    options: dict[str, object] = {}
    if suffix == ".png":
        options["compress_level"] = 3
    elif suffix in {".jpg", ".jpeg"}:
        options["quality"] = 95
    image = Image.fromarray(np.ascontiguousarray(img))
    with atomic_path(path) as tmp:
        image.save(tmp, format=Image.registered_extensions()[suffix], **options)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W) in [0, 1]; also (T, H, W, 3) -> (T, 3, H, W)."""
    if img.dtype != np.uint8 or img.shape[-1] != 3:
        raise ValueError(f"to_tensor needs uint8 (..., H, W, 3), got {img.dtype} {img.shape}")
    if not img.flags.writeable:
        img = img.copy()
    t = torch.from_numpy(np.ascontiguousarray(img))
    return t.movedim(-1, -3).float().div_(255.0).contiguous()


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float (3, H, W) -> uint8 (H, W, 3) as BasicSR's tensor2img: clamp to [0,1], *255, round.

    Leading dims are kept: (T, 3, H, W) -> (T, H, W, 3).
    """
    if t.dim() < 3 or t.shape[-3] != 3:
        raise ValueError(f"to_uint8 needs (..., 3, H, W), got shape {tuple(t.shape)}")
    arr = (t.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return np.ascontiguousarray(arr.movedim(-3, -1).cpu().numpy())


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> str:
    """Sort key that orders embedded numbers numerically ('2' < '10'), case-insensitive: the
    lower-cased name with every number zero-padded to 24 digits (a string compares fast, so
    100,000 names sort in a fraction of a second)."""
    return _DIGITS.sub(lambda m: m.group().zfill(24), name.lower())


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files (png/jpg/jpeg/bmp/tif/tiff) directly in ``folder``, naturally sorted.

    Hidden files (such as half-written ``.name.part.png`` temporaries) are skipped.
    """
    folder = Path(folder)
    return [folder / name for name in list_image_names(folder)]


def list_image_names(folder: str | os.PathLike[str]) -> list[str]:
    """The names :func:`list_images` lists, without building a path for each (fast for
    folders of 100,000 frames)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"image folder not found: {folder}")
    with os.scandir(folder) as entries:  # the type comes with the entry: no stat per file
        names = [e.name for e in entries
                 if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
                 and not e.name.startswith(".") and e.is_file()]
    if not names:
        raise UserError(f"no images (png/jpg/bmp/tif) in {folder}")
    return sorted(names, key=natural_key)

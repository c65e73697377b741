"""The embedded default datasets: synthetic camera motion over the photos bundled in scikit-image.

Nothing is downloaded: the photos are read straight from scikit-image's own ``data`` folder
(files that ship with the wheel, never the pooch-fetched extras). Train and validation use
disjoint photos:

- train: astronaut, coffee, hubble_deep_field, ihc (immunohistochemistry), motorcycle_left,
  camera, brick, grass (grayscale ones are replicated to RGB);
- val: chelsea, rocket, coins, gravel.

``motorcycle_right`` is left out on purpose: it is the stereo twin of ``motorcycle_left``.

Video (``build_default_video``): each clip is a smooth similarity motion (sub-pixel translation
whose speed and direction drift, slow rotation, slight zoom) of one photo. A GT frame is
``frame_t(p) = photo(A_t p)`` for GT pixel centres p, rendered 2x supersampled with bicubic
sampling and reduced with MATLAB bicubic (antialiased), then quantised to uint8; LR frames are
the MATLAB bicubic x``scale`` downsampling of the quantised GT (the BI degradation). Because the
motion is known, the exact LR optical flow is stored too, in BasicSR's convention:
``flows[i](p) = A_{i+1}^-1 A_i p - p`` in LR pixels, so that ``frame_{i+1}(p + flows[i](p)) =
frame_i(p)`` (what ``spynet(ref=frame_i, supp=frame_{i+1})`` should output).

Layout written (the ``frames`` layout, one root per split)::

    root/manifest.json
    root/{train,val}/GT/<photo>_<k>/00000000.png ...
    root/{train,val}/LR/X<scale>/<photo>_<k>/00000000.png ...
    root/{train,val}/flows/<photo>_<k>.npy          (T-1, 2, h, w) float32, warps i+1 onto i
    root/{train,val}/flows_forward/<photo>_<k>.npy  (T-1, 2, h, w) float32, warps i onto i+1

Images (``build_default_images``): HR crops of the same photos (``sisr`` layout under
``root/train`` and ``root/val``), LR by MATLAB bicubic for scales 2, 3, 4 and the requested one.

Both builders are deterministic given the seed and cached: when ``root/manifest.json`` records
the same parameters they return at once; otherwise they build into a temporary sibling folder
and rename it into place, so an interrupted build never leaves a half-written dataset.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import uuid
import zlib
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import skimage
import torch
import torch.nn.functional as F
from PIL import Image

from srprune.data.degrade import bicubic_downsample, imresize, quantize
from srprune.data.images import write_image
from srprune.data.layouts import read_flow_file
from srprune.errors import UserError
from srprune.io.atomic import write_text_atomic

GENERATOR_VERSION = 1
TRAIN_PHOTOS = ("astronaut", "coffee", "hubble_deep_field", "ihc", "motorcycle_left", "camera",
                "brick", "grass")
VAL_PHOTOS = ("chelsea", "rocket", "coins", "gravel")
_PHOTO_FILES = {
    "astronaut": "astronaut.png", "coffee": "coffee.png", "ihc": "ihc.png",
    "hubble_deep_field": "hubble_deep_field.jpg", "motorcycle_left": "motorcycle_left.png",
    "camera": "camera.png", "brick": "brick.png", "grass": "grass.png", "chelsea": "chelsea.png",
    "rocket": "rocket.jpg", "coins": "coins.png", "gravel": "gravel.png",
}
SUPERSAMPLE = 2
_MARGIN = 3.0  # photo pixels kept between the sampled region and the photo border


def skimage_data_dir() -> Path:
    """scikit-image's bundled data folder (the files shipped inside the package)."""
    return Path(skimage.__file__).parent / "data"


@lru_cache(maxsize=16)
def load_photo(name: str) -> torch.Tensor:
    """A bundled photo as float64 (3, H, W) in [0, 1]; grayscale is replicated to RGB."""
    if name not in _PHOTO_FILES:
        raise UserError(f"unknown bundled photo {name!r}; known: {', '.join(sorted(_PHOTO_FILES))}")
    path = skimage_data_dir() / _PHOTO_FILES[name]
    if not path.is_file():
        raise UserError(f"scikit-image's bundled photo is missing: {path}")
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).double() / 255.0


# ----------------------------------------------------------------------------- geometry


def similarity(center: np.ndarray, scale: float, angle: float, origin: np.ndarray) -> np.ndarray:
    """3x3 matrix of p -> center + scale * R(angle) (p - origin) on (x, y) coordinates."""
    c, s = math.cos(angle), math.sin(angle)
    lin = scale * np.array([[c, -s], [s, c]])
    mat = np.eye(3)
    mat[:2, :2] = lin
    mat[:2, 2] = center - lin @ origin
    return mat


def _apply(mat: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (mat[0, 0] * xs + mat[0, 1] * ys + mat[0, 2],
            mat[1, 0] * xs + mat[1, 1] * ys + mat[1, 2])


def _motion(rng: np.random.Generator, num_frames: int, gt_size: int,
            photo_hw: tuple[int, int], ss_range: tuple[float, float],
            still: bool = False) -> list[np.ndarray]:
    """Per-frame matrices A_t (GT pixel -> photo pixel) of a smooth random camera motion.

    Translation speed (GT px/frame) and direction drift sinusoidally, rotation and log-zoom
    change at a slowly varying rate. ``ss`` (photo px per GT px) is drawn from ``ss_range`` and
    reduced when the swept region would not fit inside the photo.
    """
    t = np.arange(num_frames, dtype=np.float64)
    if still:
        dx = dy = angle = logz = np.zeros(num_frames)
    else:
        speed = rng.uniform(0.0, 6.0) * (1 + 0.3 * np.sin(2 * np.pi * t / rng.uniform(8, 24)
                                                          + rng.uniform(0, 2 * np.pi)))
        heading = rng.uniform(0, 2 * np.pi) + rng.uniform(0, 0.6) * np.sin(
            2 * np.pi * t / rng.uniform(8, 24) + rng.uniform(0, 2 * np.pi))
        step_x, step_y = speed * np.cos(heading), speed * np.sin(heading)
        dx = np.concatenate([[0.0], np.cumsum(step_x[:-1])])
        dy = np.concatenate([[0.0], np.cumsum(step_y[:-1])])
        angle = (rng.uniform(-0.5, 0.5) * t + rng.uniform(0, 1.0) * np.sin(
            2 * np.pi * t / rng.uniform(10, 30))) * np.pi / 180 + rng.uniform(-0.1, 0.1)
        logz = rng.uniform(-0.01, 0.01) * t + rng.uniform(0, 0.02) * np.sin(
            2 * np.pi * t / rng.uniform(10, 30))
    origin = np.full(2, (gt_size - 1) / 2)
    ss = rng.uniform(*ss_range)
    h, w = photo_hw
    corners = np.array([-0.5, gt_size - 0.5])
    cx, cy = np.meshgrid(corners, corners)

    def matrices(ss_: float, c0: np.ndarray) -> list[np.ndarray]:
        return [similarity(c0 + ss_ * np.array([dx[i], dy[i]]), ss_ * math.exp(logz[i]),
                           angle[i], origin) for i in range(num_frames)]

    def extent(ss_: float) -> tuple[np.ndarray, np.ndarray]:
        pts = [np.stack(_apply(m, cx.ravel(), cy.ravel())) for m in matrices(ss_, np.zeros(2))]
        allp = np.concatenate(pts, axis=1)
        return allp.min(axis=1), allp.max(axis=1)

    lo, hi = extent(ss)
    room = np.array([w - 1, h - 1]) - 2 * _MARGIN
    fit = float(np.min(room / (hi - lo)))
    if fit < 1.0:
        ss *= 0.98 * fit
        lo, hi = extent(ss)
    low = _MARGIN - lo
    high = np.array([w - 1, h - 1]) - _MARGIN - hi
    c0 = low + rng.random(2) * np.maximum(high - low, 0.0)
    return matrices(ss, c0)


def render(photo: torch.Tensor, mat: np.ndarray, size: int) -> torch.Tensor:
    """GT frame (3, size, size) float64 in [0,1], quantised: ``photo(A p)`` supersampled 2x."""
    k = SUPERSAMPLE
    q = (torch.arange(k * size, dtype=torch.float64) + 0.5) / k - 0.5
    ys, xs = torch.meshgrid(q, q, indexing="ij")
    m = torch.from_numpy(mat)
    px = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    py = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    h, w = photo.shape[-2:]
    grid = torch.stack([2 * px / (w - 1) - 1, 2 * py / (h - 1) - 1], dim=-1)[None]
    fine = F.grid_sample(photo[None], grid, mode="bicubic", padding_mode="reflection",
                         align_corners=True)[0]
    return quantize(imresize(fine, 1.0 / k))


def lr_flows(mats: list[np.ndarray], lr_size: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (T-1, 2, h, w) float32 LR flows (backward, forward) for GT->photo matrices ``mats``.

    LR pixel l sits at GT coordinate P = s (l + 0.5) - 0.5; backward[i] = (A_{i+1}^-1 A_i P - P)/s
    and forward[i] = (A_i^-1 A_{i+1} P - P)/s.
    """
    lr = np.arange(lr_size, dtype=np.float64)
    gx, gy = np.meshgrid(scale * (lr + 0.5) - 0.5, scale * (lr + 0.5) - 0.5)
    backward, forward = [], []
    for a, b in zip(mats[:-1], mats[1:], strict=True):
        for rel, out in ((np.linalg.solve(b, a), backward), (np.linalg.solve(a, b), forward)):
            qx, qy = _apply(rel, gx, gy)
            out.append(np.stack([(qx - gx) / scale, (qy - gy) / scale]))
    return np.stack(backward).astype(np.float32), np.stack(forward).astype(np.float32)


# ----------------------------------------------------------------------------- caching


def _read_manifest(root: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "kind" in data else None


def _matches(manifest: dict[str, Any] | None, request: dict[str, Any]) -> bool:
    return manifest is not None and all(manifest.get(k) == v for k, v in request.items())


def _build_cached(root: Path, request: dict[str, Any],
                  build: Callable[[Path], dict[str, Any]]) -> Path:
    """Return ``root`` if its manifest matches ``request``; else build it in a temp folder."""
    request = json.loads(json.dumps(request))  # normalise tuples to lists
    existing = _read_manifest(root)
    if _matches(existing, request):
        return root
    if existing is not None and existing.get("kind") != request["kind"]:
        raise UserError(f"{root} holds a different dataset ({existing.get('kind')}); "
                        "choose another folder")
    if root.exists() and _read_manifest(root) is None and (not root.is_dir()
                                                           or any(root.iterdir())):
        raise UserError(f"{root} exists and is not a srprune synthetic dataset; "
                        "choose an empty or new folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.build-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        with _one_thread():
            manifest = {**request, **build(tmp)}
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        write_text_atomic(tmp / "manifest.json", text)
        old = None
        if root.exists():
            old = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(root, old)
        try:
            os.rename(tmp, root)
        except OSError:
            if not _matches(_read_manifest(root), request):  # not built concurrently: a real error
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Render on one thread: as fast for these small tensors, and bit-identical everywhere."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _clip_rng(seed: int, split: str, photo: str, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(split.encode()), zlib.crc32(photo.encode()), k])


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    return (img * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


# ----------------------------------------------------------------------------- video


def build_default_video(root: str | os.PathLike[str], seed: int = 0, *, gt_size: int = 128,
                        scale: int = 4, num_frames: int = 12, train_clips_per_photo: int = 2,
                        val_clips_per_photo: int = 1) -> Path:
    """Build (or reuse) the synthetic video set at ``root``; returns ``root``.

    Defaults: 8 train photos x 2 clips and 4 val photos x 1 clip, 12 frames of 128x128 GT /
    32x32 LR each. Open a split with ``layouts.frames(root / "train", scale)``.
    """
    root = Path(root)
    if gt_size % scale or gt_size < 2 * scale:
        raise UserError(f"gt_size {gt_size} must be a multiple of scale {scale} (and >= 2x it)")
    if num_frames < 2:
        raise UserError(f"num_frames must be at least 2, got {num_frames}")
    lr_size = gt_size // scale
    per_photo = {"train": train_clips_per_photo, "val": val_clips_per_photo}
    photos = {"train": list(TRAIN_PHOTOS), "val": list(VAL_PHOTOS)}
    request = {"kind": "srprune-synthetic-video", "version": GENERATOR_VERSION, "seed": seed,
               "gt_size": gt_size, "lr_size": lr_size, "scale": scale, "num_frames": num_frames,
               "clips_per_photo": per_photo, "photos": photos}

    def build(tmp: Path) -> dict[str, Any]:
        clips: dict[str, list[str]] = {}
        for split in ("train", "val"):
            clips[split] = []
            base = tmp / split
            for photo_name in photos[split]:
                photo = load_photo(photo_name)
                for k in range(per_photo[split]):
                    name = f"{photo_name}_{k}"
                    rng = _clip_rng(seed, split, photo_name, k)
                    mats = _motion(rng, num_frames, gt_size, tuple(photo.shape[-2:]), (1.25, 2.0))
                    for t, mat in enumerate(mats):
                        gt = render(photo, mat, gt_size)
                        lr = bicubic_downsample(gt, scale)
                        write_image(base / "GT" / name / f"{t:08d}.png", _to_uint8(gt))
                        write_image(base / "LR" / f"X{scale}" / name / f"{t:08d}.png",
                                    _to_uint8(lr))
                    backward, forward = lr_flows(mats, lr_size, scale)
                    for folder, arr in (("flows", backward), ("flows_forward", forward)):
                        (base / folder).mkdir(parents=True, exist_ok=True)
                        np.save(base / folder / f"{name}.npy", arr)
                    clips[split].append(name)
        return {"clips": clips, "layout": "frames", "split_roots": {"train": "train",
                                                                    "val": "val"}}

    return _build_cached(root, request, build)


def load_flows(root: str | os.PathLike[str], clip_name: str,
               direction: str = "backward") -> torch.Tensor:
    """Flows (T-1, 2, h, w) of a clip of a ``frames`` root such as ``<video set>/train``.

    ``backward`` (``flows/``): ``flows[i]`` warps frame i+1 onto frame i; ``forward``
    (``flows_forward/``): warps frame i onto frame i+1. Units are LR pixels, channels (dx, dy).
    """
    folder = {"backward": "flows", "forward": "flows_forward"}.get(direction)
    if folder is None:
        raise ValueError(f"direction must be 'backward' or 'forward', got {direction!r}")
    return read_flow_file(Path(root) / folder / f"{clip_name}.npy")


# ----------------------------------------------------------------------------- images


def build_default_images(root: str | os.PathLike[str], scale: int = 4, seed: int = 0, *,
                         hr_size: int = 192, train_crops_per_photo: int = 4) -> Path:
    """Build (or reuse) the synthetic SISR set at ``root``; returns ``root``.

    ``root/{train,val}/HR/<photo>_<k>.png`` (``hr_size`` squares, 1.25-2 photo pixels per HR
    pixel) and ``LR_bicubic/X{s}/<photo>_<k>x{s}.png`` for s in {2, 3, 4, scale}. Train: 8
    photos x ``train_crops_per_photo`` random crops; val: one centre crop of each val photo.
    Open a split with ``layouts.sisr(root / "train", scale)``.
    """
    root = Path(root)
    scales = sorted({2, 3, 4, int(scale)})
    bad = [s for s in scales if hr_size % s]
    if bad:
        raise UserError(f"hr_size {hr_size} must be a multiple of the scales {scales}")
    photos = {"train": list(TRAIN_PHOTOS), "val": list(VAL_PHOTOS)}
    per_photo = {"train": train_crops_per_photo, "val": 1}
    request = {"kind": "srprune-synthetic-images", "version": GENERATOR_VERSION, "seed": seed,
               "hr_size": hr_size, "scales": scales, "crops_per_photo": per_photo,
               "photos": photos}

    def build(tmp: Path) -> dict[str, Any]:
        images: dict[str, list[str]] = {}
        for split in ("train", "val"):
            images[split] = []
            for photo_name in photos[split]:
                photo = load_photo(photo_name)
                for k in range(per_photo[split]):
                    name = f"{photo_name}_{k}"
                    rng = _clip_rng(seed, "images-" + split, photo_name, k)
                    if split == "val":
                        mat = _centre_crop(photo.shape[-2:], hr_size, 1.5)
                    else:
                        mat = _motion(rng, 1, hr_size, tuple(photo.shape[-2:]), (1.25, 2.0),
                                      still=True)[0]
                    hr = render(photo, mat, hr_size)
                    write_image(tmp / split / "HR" / f"{name}.png", _to_uint8(hr))
                    for s in scales:
                        lr = bicubic_downsample(hr, s)
                        write_image(tmp / split / "LR_bicubic" / f"X{s}" / f"{name}x{s}.png",
                                    _to_uint8(lr))
                    images[split].append(name)
        return {"images": images, "layout": "sisr"}

    return _build_cached(root, request, build)


def _centre_crop(photo_hw: torch.Size, size: int, ss: float) -> np.ndarray:
    """Matrix of an axis-aligned centre crop, ``ss`` photo px per output px (shrunk to fit)."""
    h, w = photo_hw
    ss = min(ss, (min(h, w) - 1 - 2 * _MARGIN) / size)
    origin = np.full(2, (size - 1) / 2)
    return similarity(np.array([(w - 1) / 2, (h - 1) / 2]), ss, 0.0, origin)

"""Readers for the standard SR dataset layouts; each returns a list of ``Clip``.

Layouts (``root`` is the dataset folder; ``X{s}``/``BIx{s}`` use the requested scale):

- ``reds``: ``train_sharp/<clip>/*.png``, LR in ``train_sharp_bicubic/X{s}/<clip>/``. Splits:
  ``train`` (every clip but REDS4), ``reds4`` (000, 011, 015, 020), ``val`` (the official
  validation set: ``val_sharp/`` with ``val_sharp_bicubic/X{s}/``, or clips 240-269 of
  ``train_sharp`` when it was merged in as BasicSR does) and ``val4`` (REDSval4: official clips
  000, 001, 006, 017, i.e. 240, 241, 246, 257 when merged).
- ``vimeo``: ``sequences/<a>/<b>/im1..im7.png`` listed in ``sep_trainlist.txt`` (split
  ``train``) or ``sep_testlist.txt`` (``test``); LR in ``BIx{s}/<a>/<b>/`` (or
  ``BIx{s}/sequences/<a>/<b>/``). Clip names are ``<a>/<b>``.
- ``vid4``: ``GT/<clip>/`` (every clip folder found) and LR in ``BIx{s}/<clip>/``.
- ``frames`` (generic, also what the synthetic set writes): if ``root/GT`` exists, clips are
  ``GT/<clip>/`` with LR in ``LR/X{s}/<clip>/`` and flows in ``flows/<clip>.npy`` when present;
  otherwise every sub-folder of ``root`` holding images is a GT-only clip; a folder holding images
  and no clip folders is one clip.
- ``sisr``: DIV2K / EDSR-PyTorch benchmark style ``HR/*`` with LR in ``LR_bicubic/X{s}/`` named
  ``0001x4.png`` or ``0001.png``, or BasicSR style ``GTmod12/*`` with LR in ``LRbicx{s}/`` (same
  names); each image is a one-frame clip. A folder of such sets (``benchmark/Set5``, ``Set14``,
  ...) is a multi-set root: ``sisr_sets`` keeps the sets apart, ``sisr`` names clips ``set/image``.

When the LR folder of a layout exists, every clip must have its LR frames there; when it does
not, ``load_clip`` makes LR frames with MATLAB bicubic downsampling of the (mod-cropped) GT.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from srprune.data.degrade import bicubic_downsample
from srprune.data.images import list_images, natural_key, read_image, to_tensor
from srprune.errors import UserError

REDS4 = ("000", "011", "015", "020")
REDS_VAL4 = ("000", "001", "006", "017")
REDS_VAL4_MERGED = ("240", "241", "246", "257")
VIMEO_FRAMES = 7


@dataclass
class Clip:
    """One clip: GT frame files, optional LR frame files and optional LR-resolution flows.

    ``flows`` holds (T-1, 2, h, w) float32 with ``flows[i]`` warping frame i+1 onto frame i;
    ``flows_forward`` (same shape) warps frame i onto frame i+1.
    """

    name: str
    gt: list[Path]
    lr: list[Path] | None = None
    flows: Path | None = None
    flows_forward: Path | None = None

    def __len__(self) -> int:
        return len(self.gt)


PathLike = str | os.PathLike[str]


def _require_dir(path: PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{what} not found: {path}")
    return path


def _subdirs(folder: Path) -> list[str]:
    names = [p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(names, key=natural_key)


def _has_images(folder: Path) -> bool:
    try:
        list_images(folder)
    except UserError:
        return False
    return True


def _clip(name: str, gt_dir: Path, lr_root: Path | None) -> Clip:
    """Clip from ``gt_dir``; LR from ``lr_root/<name>`` when ``lr_root`` exists (then required)."""
    gt = list_images(gt_dir)
    lr = None
    if lr_root is not None and lr_root.is_dir():
        lr_dir = lr_root / name
        if not lr_dir.is_dir():
            raise UserError(f"clip {name}: LR folder missing: {lr_dir}")
        lr = list_images(lr_dir)
        if len(lr) != len(gt):
            raise UserError(f"clip {name}: {len(gt)} GT frames but {len(lr)} LR frames in {lr_dir}")
    return Clip(name=name, gt=gt, lr=lr)


def _nonempty(clips: list[Clip], root: Path, what: str) -> list[Clip]:
    if not clips:
        raise UserError(f"no clips found for {what} in {root}")
    return clips


def reds(root: PathLike, split: str = "train", scale: int = 4) -> list[Clip]:
    """REDS clips of ``split`` (train, reds4, val, val4); see the module docstring."""
    root = _require_dir(root, "REDS folder")
    if split in ("train", "reds4"):
        gt_root = _require_dir(root / "train_sharp", "REDS train_sharp folder")
        lr_root = root / "train_sharp_bicubic" / f"X{scale}"
        names = [n for n in _subdirs(gt_root) if (n in REDS4) == (split == "reds4")]
        if split == "reds4":
            missing = sorted(set(REDS4) - set(names))
            if missing:
                raise UserError(f"REDS4 clips missing from {gt_root}: {', '.join(missing)}")
    elif split in ("val", "val4"):
        if (root / "val_sharp").is_dir():
            gt_root = root / "val_sharp"
            lr_root = root / "val_sharp_bicubic" / f"X{scale}"
            names = _subdirs(gt_root)
            wanted = REDS_VAL4
        else:
            gt_root = _require_dir(root / "train_sharp", "REDS val_sharp or train_sharp folder")
            lr_root = root / "train_sharp_bicubic" / f"X{scale}"
            names = [n for n in _subdirs(gt_root) if n.isdigit() and 240 <= int(n) <= 269]
            wanted = REDS_VAL4_MERGED
        if split == "val4":
            missing = sorted(set(wanted) - set(names))
            if missing:
                raise UserError(f"REDSval4 clips missing from {gt_root}: {', '.join(missing)}")
            names = list(wanted)
    else:
        raise UserError(f"unknown REDS split {split!r}; use train, reds4, val or val4")
    clips = [_clip(n, gt_root / n, lr_root) for n in names]
    return _nonempty(clips, gt_root, f"REDS split {split}")


def vimeo(root: PathLike, split: str = "train", scale: int = 4) -> list[Clip]:
    """Vimeo-90K septuplets of ``split`` (train or test) from ``sep_{split}list.txt``."""
    root = _require_dir(root, "Vimeo-90K folder")
    if split not in ("train", "test"):
        raise UserError(f"unknown Vimeo-90K split {split!r}; use train or test")
    list_file = root / f"sep_{split}list.txt"
    if not list_file.is_file():
        raise UserError(f"Vimeo-90K list file not found: {list_file}")
    seq_root = _require_dir(root / "sequences", "Vimeo-90K sequences folder")
    lr_root: Path | None = root / f"BIx{scale}"
    if (root / f"BIx{scale}" / "sequences").is_dir():
        lr_root = root / f"BIx{scale}" / "sequences"
    elif not (root / f"BIx{scale}").is_dir():
        lr_root = None
    keys = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
    clips = []
    for key in keys:
        seq = seq_root / key
        if not seq.is_dir():
            raise UserError(f"Vimeo-90K sequence {key} listed in {list_file.name} not found: {seq}")
        names = [f"im{i}.png" for i in range(1, VIMEO_FRAMES + 1)]
        lr = [lr_root / key / n for n in names] if lr_root is not None else None
        clips.append(Clip(name=key, gt=[seq / n for n in names], lr=lr))
    clips = _nonempty(clips, root, f"Vimeo-90K split {split}")
    for path in clips[0].gt + (clips[0].lr or []):
        if not path.is_file():
            raise UserError(f"Vimeo-90K frame not found: {path}")
    return clips


def vid4(root: PathLike, scale: int = 4) -> list[Clip]:
    """Vid4 (or any set in the same shape): ``GT/<clip>/`` and ``BIx{scale}/<clip>/``."""
    root = _require_dir(root, "Vid4 folder")
    gt_root = _require_dir(root / "GT", "Vid4 GT folder")
    lr_root = root / f"BIx{scale}"
    clips = [_clip(n, gt_root / n, lr_root) for n in _subdirs(gt_root)]
    return _nonempty(clips, gt_root, "Vid4")


def frames(root: PathLike, scale: int = 4) -> list[Clip]:
    """Generic frame folders; see the module docstring for the rule."""
    root = _require_dir(root, "frames folder")
    gt_root = root / "GT"
    if gt_root.is_dir():
        lr_root = root / "LR" / f"X{scale}"
        clips = [_clip(n, gt_root / n, lr_root) for n in _subdirs(gt_root)]
        for clip in clips:
            backward = root / "flows" / f"{clip.name}.npy"
            forward = root / "flows_forward" / f"{clip.name}.npy"
            clip.flows = backward if backward.is_file() else None
            clip.flows_forward = forward if forward.is_file() else None
        return _nonempty(clips, gt_root, "frames layout")
    names = [n for n in _subdirs(root) if _has_images(root / n)]
    if names:
        return [_clip(n, root / n, None) for n in names]
    if _has_images(root):
        return [_clip(root.name, root, None)]
    raise UserError(f"no clips found in {root}: expected GT/<clip>/, <clip>/ or image files")


SISR_LAYOUTS = (("HR", "LR_bicubic/X{s}"), ("GTmod12", "LRbicx{s}"))
"""(HR folder, LR folder) of a SISR set: DIV2K / EDSR-PyTorch benchmark, then BasicSR."""


def is_sisr_set(folder: PathLike) -> bool:
    """Whether ``folder`` is one SISR set (holds ``HR/`` or ``GTmod12/``)."""
    return any((Path(folder) / hr).is_dir() for hr, _ in SISR_LAYOUTS)


def _sisr_set(root: Path, scale: int) -> list[Clip]:
    """One SISR set: HR images and, when its LR folder exists, their LR images."""
    hr_name, lr_name = next((hr, lr) for hr, lr in SISR_LAYOUTS if (root / hr).is_dir())
    hr = list_images(root / hr_name)
    lr_dir = root / lr_name.format(s=scale)
    lr_by_stem: dict[str, Path] | None = None
    if lr_dir.is_dir():
        lr_by_stem = {p.stem: p for p in list_images(lr_dir)}
    clips = []
    for path in hr:
        lr = None
        if lr_by_stem is not None:
            match = lr_by_stem.get(f"{path.stem}x{scale}") or lr_by_stem.get(path.stem)
            if match is None:
                raise UserError(f"no LR image for {path.name} in {lr_dir} "
                                f"(expected {path.stem}x{scale}{path.suffix} or {path.name})")
            lr = [match]
        clips.append(Clip(name=path.stem, gt=[path], lr=lr))
    return clips


def sisr_sets(root: PathLike, scale: int = 4) -> dict[str, list[Clip]]:
    """The SISR sets of ``root``: ``root`` itself when it is a set, else each sub-folder that is.

    A set is ``HR/`` with optional ``LR_bicubic/X{scale}/`` (DIV2K, EDSR-PyTorch's benchmark)
    or ``GTmod12/`` with optional ``LRbicx{scale}/`` (BasicSR); ``benchmark/`` holding Set5,
    Set14, ... is a multi-set root.
    """
    root = _require_dir(root, "SISR folder")
    if is_sisr_set(root):
        return {root.name: _sisr_set(root, scale)}
    names = [n for n in _subdirs(root) if is_sisr_set(root / n)]
    if not names:
        raise UserError(f"no SISR set in {root}: expected HR/ (DIV2K, EDSR-PyTorch benchmark) "
                        "or GTmod12/ (BasicSR), or sub-folders (Set5, Set14, ...) holding one")
    return {n: _sisr_set(root / n, scale) for n in names}


def sisr(root: PathLike, scale: int = 4) -> list[Clip]:
    """One-frame clips of a SISR set, or of every set of a multi-set root (named ``set/image``)."""
    sets = sisr_sets(root, scale)
    if is_sisr_set(root):
        return next(iter(sets.values()))
    return [Clip(name=f"{name}/{c.name}", gt=c.gt, lr=c.lr)
            for name, clips in sets.items() for c in clips]


_VIDEO_SPLIT_LAYOUTS: dict[str, Callable[..., list[Clip]]] = {"reds": reds, "vimeo": vimeo}
_PLAIN_LAYOUTS: dict[str, Callable[..., list[Clip]]] = {"vid4": vid4, "frames": frames,
                                                         "sisr": sisr}
LAYOUT_NAMES = tuple(sorted([*_VIDEO_SPLIT_LAYOUTS, *_PLAIN_LAYOUTS]))


def open_layout(root: PathLike, layout: str, split: str | None = None,
                scale: int = 4) -> list[Clip]:
    """Clips of dataset ``root`` read with the named ``layout`` (see LAYOUT_NAMES)."""
    if layout in _VIDEO_SPLIT_LAYOUTS:
        fn = _VIDEO_SPLIT_LAYOUTS[layout]
        return fn(root, split or "train", scale)
    if layout in _PLAIN_LAYOUTS:
        if split is not None:
            raise UserError(f"layout {layout!r} has no splits (got split {split!r})")
        return _PLAIN_LAYOUTS[layout](root, scale)
    raise UserError(f"unknown dataset layout {layout!r}; valid: {', '.join(LAYOUT_NAMES)}")


def _read_same_size(paths: Sequence[Path], clip: str, kind: str) -> np.ndarray:
    frames_: list[np.ndarray] = []
    for path in paths:
        img = read_image(path)
        if frames_ and img.shape != frames_[0].shape:
            h, w = frames_[0].shape[:2]
            raise UserError(f"clip {clip}: {kind} frame {path.name} is {img.shape[0]}x"
                            f"{img.shape[1]} but earlier frames are {h}x{w}")
        frames_.append(img)
    return np.stack(frames_)


def downsample_uint8(gt: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-bicubic LR frames (T, H/s, W/s, 3) uint8 from GT (T, H, W, 3), frame by frame."""
    out = []
    for frame in gt:
        lr = bicubic_downsample(to_tensor(frame).double(), scale)
        out.append((lr * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy())
    return np.stack(out)


def load_clip_uint8(clip: Clip, scale: int,
                    indices: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lr (T,h,w,3), gt (T,h*s,w*s,3)) uint8 arrays for the given frame indices (all if None).

    GT that is larger than ``lr * scale`` by less than ``scale`` pixels is cropped at the
    bottom/right (BasicSR's convention for SR benchmarks); any other mismatch is a UserError.
    Without LR files the GT is mod-cropped and downsampled with MATLAB bicubic.
    """
    idx = list(range(len(clip.gt))) if indices is None else list(indices)
    if clip.lr is not None and len(clip.lr) != len(clip.gt):
        raise UserError(f"clip {clip.name}: {len(clip.gt)} GT frames but {len(clip.lr)} LR frames")
    gt = _read_same_size([clip.gt[i] for i in idx], clip.name, "GT")
    h_gt, w_gt = gt.shape[1:3]
    if clip.lr is None:
        if h_gt < scale or w_gt < scale:
            raise UserError(f"clip {clip.name}: GT {h_gt}x{w_gt} is smaller than scale {scale}")
        gt = np.ascontiguousarray(gt[:, : h_gt - h_gt % scale, : w_gt - w_gt % scale])
        return downsample_uint8(gt, scale), gt
    lr = _read_same_size([clip.lr[i] for i in idx], clip.name, "LR")
    h, w = lr.shape[1:3]
    dh, dw = h_gt - h * scale, w_gt - w * scale
    if not (0 <= dh < scale and 0 <= dw < scale):
        raise UserError(f"clip {clip.name}: LR {h}x{w} x{scale} = {h * scale}x{w * scale} "
                        f"does not match GT {h_gt}x{w_gt}")
    if dh or dw:
        gt = np.ascontiguousarray(gt[:, : h * scale, : w * scale])
    return lr, gt


def load_clip(clip: Clip, scale: int,
              indices: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(lr (T,3,h,w), gt (T,3,H,W)) float32 tensors in [0,1]; see ``load_clip_uint8``."""
    lr, gt = load_clip_uint8(clip, scale, indices)
    return to_tensor(lr), to_tensor(gt)


def load_clip_flows(clip: Clip, direction: str = "backward") -> torch.Tensor:
    """The clip's (T-1, 2, h, w) LR flows; ``backward`` warps frame i+1 onto frame i."""
    if direction not in ("backward", "forward"):
        raise ValueError(f"direction must be 'backward' or 'forward', got {direction!r}")
    path = clip.flows if direction == "backward" else clip.flows_forward
    if path is None:
        raise UserError(f"clip {clip.name} has no {direction} flow file")
    return read_flow_file(path, len(clip.gt) - 1)


def read_flow_file(path: Path, pairs: int | None = None) -> torch.Tensor:
    """Load a (T-1, 2, h, w) float32 ``.npy`` flow file, checking its shape."""
    if not path.is_file():
        raise UserError(f"flow file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read flow file ({exc})") from None
    if arr.ndim != 4 or arr.shape[1] != 2 or (pairs is not None and arr.shape[0] != pairs):
        raise UserError(f"{path}: expected flows of shape ({pairs}, 2, h, w), got {arr.shape}")
    return torch.from_numpy(arr.astype(np.float32, copy=False))

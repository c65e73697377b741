"""Training samplers: random aligned LR/GT patches with BasicVSR-style augmentation.

Every item is a pure function of ``(seed, epoch, index)``: its random generator is seeded from
those three numbers, so a resumed run that calls ``set_epoch`` sees exactly the same data, with
any number of DataLoader workers. Decoded frames are cached in memory as uint8 (call
``preload()`` before forking DataLoader workers to share the cache); pass ``cache=False`` for
datasets too large for memory, which then reads only the frames of each window.

Clips shorter than ``num_frames`` are mirror-padded in time the way BasicVSR extends Vimeo-90K
septuplets (frames 0..T-1, then T-1..0, and so on); flows cannot be padded, so with
``flows=True`` every clip must have at least ``num_frames`` frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from srprune.data.images import to_tensor
from srprune.data.layouts import Clip, load_clip_flows, load_clip_uint8
from srprune.errors import UserError


def mirror_indices(length: int, num_frames: int, start: int = 0) -> list[int]:
    """``num_frames`` indices from ``start`` that bounce back at the ends (0..T-1, T-1..0, ...)."""
    cycle = list(range(length)) + list(range(length - 1, -1, -1))
    return [cycle[(start + k) % len(cycle)] for k in range(num_frames)]


def augment(frames: list[torch.Tensor], hflip: bool, vflip: bool, transpose: bool,
            flows: torch.Tensor | None = None) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Flip/transpose (..., H, W) tensors the same way; flows (..., 2, H, W) get their (dx, dy)
    adjusted so that they still describe the motion of the transformed frames."""
    out = []
    for t in frames:
        if hflip:
            t = t.flip(-1)
        if vflip:
            t = t.flip(-2)
        if transpose:
            t = t.transpose(-1, -2)
        out.append(t.contiguous())
    if flows is not None:
        f = flows
        if hflip:
            f = f.flip(-1) * torch.tensor([-1.0, 1.0]).view(2, 1, 1)
        if vflip:
            f = f.flip(-2) * torch.tensor([1.0, -1.0]).view(2, 1, 1)
        if transpose:
            f = f.transpose(-1, -2).flip(-3)
        flows = f.contiguous()
    return out, flows


class _PatchSampler(Dataset):
    """Shared machinery: clip cache, per-item generator and aligned random crops."""

    def __init__(self, clips: Sequence[Clip], lr_patch: int, scale: int, *, seed: int,
                 epoch_length: int | None, cache: bool) -> None:
        if not clips:
            raise UserError("no clips to sample training patches from")
        if lr_patch < 1 or scale < 1:
            raise ValueError(f"lr_patch and scale must be >= 1, got {lr_patch}, {scale}")
        self.clips = list(clips)
        self.lr_patch = lr_patch
        self.scale = scale
        self.seed = int(seed)
        self.epoch = 0
        self.epoch_length = len(self.clips) if epoch_length is None else int(epoch_length)
        self.cache = cache
        self._frames: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.epoch_length

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose samples ``__getitem__`` returns (call it at each epoch start)."""
        self.epoch = int(epoch)

    def _draw(self, index: int) -> tuple[np.random.Generator, int, Clip]:
        """The item's generator and the clip it samples from (the first draw of every item)."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = self.rng(index)
        ci = int(rng.integers(len(self.clips)))
        return rng, ci, self.clips[ci]

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def preload(self) -> None:
        """Decode every clip into the memory cache now (no-op with ``cache=False``)."""
        if self.cache:
            for ci in range(len(self.clips)):
                self._load(ci, None)

    def _load(self, ci: int, indices: list[int] | None) -> tuple[np.ndarray, np.ndarray]:
        if not self.cache:
            return load_clip_uint8(self.clips[ci], self.scale, indices)
        if ci not in self._frames:
            self._frames[ci] = load_clip_uint8(self.clips[ci], self.scale)
        lr, gt = self._frames[ci]
        if indices is None:
            return lr, gt
        return lr[indices], gt[indices]

    def _crop(self, rng: np.random.Generator, clip: Clip, lr: np.ndarray,
              gt: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """Aligned random crop of (T,h,w,3) / (T,H,W,3) arrays -> float (T,3,p,p), (T,3,ps,ps)."""
        h, w = lr.shape[1:3]
        p, s = self.lr_patch, self.scale
        if h < p or w < p:
            raise UserError(f"clip {clip.name}: LR frames {h}x{w} are smaller than the "
                            f"{p}x{p} training patch")
        top = int(rng.integers(0, h - p + 1))
        left = int(rng.integers(0, w - p + 1))
        lq = to_tensor(lr[:, top: top + p, left: left + p])
        hq = to_tensor(gt[:, top * s: (top + p) * s, left * s: (left + p) * s])
        return lq, hq, (top, left)

    @staticmethod
    def _flips(rng: np.random.Generator, flip: bool, transpose: bool) -> tuple[bool, bool, bool]:
        draws = rng.random(3) < 0.5
        return bool(flip and draws[0]), bool(flip and draws[1]), bool(transpose and draws[2])


class VideoWindowDataset(_PatchSampler):
    """Random windows of ``num_frames`` consecutive frames with aligned random crops.

    Items are ``{"lq": (N,3,p,p), "gt": (N,3,p*s,p*s), "clip": name}`` plus ``"flow"``:
    (N-1, 2, p, p) LR flows (``flow[i]`` warps frame i+1 onto frame i) when ``flows=True``.
    Augmentation: random horizontal and vertical flips (``flip``), transposition
    (``transpose``) and temporal reversal (``reverse``), each with probability 1/2.
    """

    def __init__(self, clips: Sequence[Clip], num_frames: int, lr_patch: int, scale: int, *,
                 flip: bool = True, transpose: bool = True, reverse: bool = True, seed: int = 0,
                 epoch_length: int | None = None, cache: bool = True,
                 flows: bool = False) -> None:
        super().__init__(clips, lr_patch, scale, seed=seed, epoch_length=epoch_length,
                         cache=cache)
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.num_frames = num_frames
        self.flip, self.transpose, self.reverse = flip, transpose, reverse
        self.flows = flows
        self._flow_cache: dict[tuple[int, str], torch.Tensor] = {}
        if flows:
            for clip in self.clips:
                if clip.flows is None or (reverse and clip.flows_forward is None):
                    need = "flows and flows_forward" if reverse else "flows"
                    raise UserError(f"clip {clip.name} has no {need} files (needed for flows=True)")
                if len(clip) < num_frames:
                    raise UserError(f"clip {clip.name} has {len(clip)} frames, fewer than "
                                    f"num_frames={num_frames} (flows cannot be mirror-padded)")

    def _clip_flows(self, ci: int, direction: str) -> torch.Tensor:
        key = (ci, direction)
        if key in self._flow_cache:
            return self._flow_cache[key]
        flows = load_clip_flows(self.clips[ci], direction)
        if self.cache:
            self._flow_cache[key] = flows
        return flows

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        rng, ci, clip = self._draw(index)
        n, length = self.num_frames, len(clip)
        if length >= n:
            start = int(rng.integers(0, length - n + 1))
            indices = list(range(start, start + n))
        else:
            indices = mirror_indices(length, n)
        lr, gt = self._load(ci, indices)
        lq, hq, (top, left) = self._crop(rng, clip, lr, gt)
        hflip, vflip, transpose = self._flips(rng, self.flip, self.transpose)
        rev = bool(self.reverse and rng.random() < 0.5)
        flow = None
        if self.flows:
            p = self.lr_patch
            pairs = slice(indices[0], indices[-1])
            direction = "forward" if rev else "backward"
            flows = self._clip_flows(ci, direction)
            if tuple(flows.shape[-2:]) != tuple(lr.shape[1:3]):
                raise UserError(f"clip {clip.name}: flows are {flows.shape[-2]}x{flows.shape[-1]}"
                                f" but LR frames are {lr.shape[1]}x{lr.shape[2]}")
            flow = flows[pairs, :, top: top + p, left: left + p]
            if rev:
                flow = flow.flip(0)
        if rev:
            lq, hq = lq.flip(0), hq.flip(0)
        (lq, hq), flow = augment([lq, hq], hflip, vflip, transpose, flow)
        item: dict[str, torch.Tensor | str] = {"lq": lq, "gt": hq, "clip": clip.name}
        if flow is not None:
            item["flow"] = flow
        return item


class ImagePatchDataset(_PatchSampler):
    """Single-image SR patches: ``{"lq": (3,p,p), "gt": (3,p*s,p*s), "clip": name}``.

    A random clip and a random frame of it (clips from the ``sisr`` layout have one frame),
    aligned random crop, random flips and transposition.
    """

    def __init__(self, clips: Sequence[Clip], lr_patch: int, scale: int, *, flip: bool = True,
                 transpose: bool = True, seed: int = 0, epoch_length: int | None = None,
                 cache: bool = True) -> None:
        super().__init__(clips, lr_patch, scale, seed=seed, epoch_length=epoch_length,
                         cache=cache)
        self.flip, self.transpose = flip, transpose

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        rng, ci, clip = self._draw(index)
        frame = int(rng.integers(len(clip)))
        lr, gt = self._load(ci, [frame])
        lq, hq, _ = self._crop(rng, clip, lr, gt)
        hflip, vflip, transpose = self._flips(rng, self.flip, self.transpose)
        (lq, hq), _ = augment([lq[0], hq[0]], hflip, vflip, transpose)
        return {"lq": lq, "gt": hq, "clip": clip.name}

"""Training samplers over LR-only clips (distillation): random crops, no ground truth.

Items are ``{"lq": ..., "clip": name}``; the training loop puts the teacher's output beside
``lq`` as the target. Like :mod:`srprune.data.sampling`, every item is a pure function of
``(seed, epoch, index)``, so a resumed run sees the same data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from srprune.data.images import to_tensor
from srprune.data.lr_frames import LRClip
from srprune.data.sampling import augment
from srprune.errors import UserError


class LRCropDataset(Dataset):
    """Random LR crops of ``lr_patch`` pixels: windows of ``num_frames`` consecutive frames
    (``(N,3,p,p)``, video models) or single frames (``(3,p,p)``, ``num_frames=None``).

    Augmentation: horizontal and vertical flips, transposition and (windows) temporal
    reversal, each with probability 1/2 when switched on.
    """

    def __init__(self, clips: Sequence[LRClip], lr_patch: int, num_frames: int | None, *,
                 seed: int = 0, flip: bool = True, transpose: bool = True,
                 reverse: bool = True) -> None:
        if not clips:
            raise UserError("no LR clips to sample training crops from")
        self.clips = list(clips)
        self.lr_patch = int(lr_patch)
        self.num_frames = num_frames
        self.seed = int(seed)
        self.epoch = 0
        self.flip, self.transpose, self.reverse = flip, transpose, reverse
        for clip in self.clips:
            small = [f for f in clip.frames if min(f.shape[:2]) < self.lr_patch]
            if small:
                h, w = small[0].shape[:2]
                raise UserError(f"clip {clip.name}: LR frames {h}x{w} are smaller than the "
                                f"{lr_patch}x{lr_patch} training patch (data.lr_patch)")
            if num_frames is not None and len(clip) < num_frames:
                raise UserError(f"clip {clip.name} has {len(clip)} frames, fewer than the "
                                f"{num_frames}-frame training window (data.num_frames)")
        # one item per (clip, first frame): every window is drawn alike
        span = 1 if num_frames is None else num_frames
        self.starts = [(ci, t) for ci, c in enumerate(self.clips)
                       for t in range(len(c) - span + 1)]

    def __len__(self) -> int:
        return len(self.starts)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose samples ``__getitem__`` returns."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        ci, start = self.starts[index]  # the sampler's permutation draws the windows
        clip = self.clips[ci]
        n = 1 if self.num_frames is None else self.num_frames
        frames = np.stack(clip.frames[start: start + n])
        h, w = frames.shape[1:3]
        p = self.lr_patch
        top, left = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
        lq = to_tensor(frames[:, top: top + p, left: left + p])
        draws = rng.random(4) < 0.5
        if self.num_frames is not None and self.reverse and draws[3]:
            lq = lq.flip(0)
        (lq,), _ = augment([lq], bool(self.flip and draws[0]), bool(self.flip and draws[1]),
                           bool(self.transpose and draws[2]))
        return {"lq": lq if self.num_frames is not None else lq[0], "clip": clip.name}

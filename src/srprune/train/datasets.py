"""From the ``data`` section of a config to a training dataset and validation clips.

``root: default`` is the embedded synthetic set (:mod:`srprune.data.synthetic`), built once into
the cache folder (``$SRPRUNE_CACHE``, else ``$XDG_CACHE_HOME/srprune``, else
``~/.cache/srprune``): camera-motion clips (``frames`` layout) for video models, photo crops
(``sisr`` layout) for image models; its ``train`` and ``val`` parts hold disjoint photos.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from srprune.data import synthetic
from srprune.data.layouts import open_layout
from srprune.data.sampling import ImagePatchDataset, VideoWindowDataset
from srprune.errors import UserError
from srprune.train.config import DataConfig, ValConfig

DEFAULT_ROOT = "default"
DEFAULT_DATA_SEED = 0  # the embedded set is the same whatever the training seed


def cache_dir() -> Path:
    """Where derived data (the embedded synthetic sets) is cached."""
    if os.environ.get("SRPRUNE_CACHE"):
        return Path(os.environ["SRPRUNE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "srprune"


def default_root(is_video: bool, scale: int) -> tuple[Path, str]:
    """Build (or reuse) the embedded set; returns its root and layout name."""
    if is_video:
        root = cache_dir() / f"synthetic-video-x{scale}"
        return synthetic.build_default_video(root, DEFAULT_DATA_SEED, scale=scale), "frames"
    root = cache_dir() / "synthetic-images"
    return synthetic.build_default_images(root, scale, DEFAULT_DATA_SEED), "sisr"


def open_clips(layout: str, root: str, split: str | None, scale: int, is_video: bool,
               part: str, what: str) -> tuple[list[Any], str]:
    """Clips of a configured dataset; ``part`` (``train``/``val``) picks the embedded set's half.

    Returns:
        (clips, layout actually read).
    """
    if root == DEFAULT_ROOT:
        base, default_layout = default_root(is_video, scale)
        if layout != default_layout:
            kind = "video" if is_video else "image"
            raise UserError(f"{what}.root: default is the embedded {kind} set in the "
                            f"{default_layout!r} layout; set {what}.layout: {default_layout}")
        if split is not None:
            raise UserError(f"{what}.split: the embedded set has no splits (got {split!r})")
        return open_layout(base / part, layout, None, scale), layout
    return open_layout(root, layout, split, scale), layout


def build_train_dataset(data: DataConfig, scale: int, is_video: bool, seed: int) -> Any:
    """The training sampler of ``data``: video windows or image patches.

    Video windows longer than a clip are mirror-padded in time (Vimeo-90K: 7 frames -> 14, as
    BasicVSR trains); augmentation is BasicVSR's (flips, transposition, temporal reversal).
    """
    clips, _ = open_clips(data.layout, data.root, data.split, scale, is_video, "train", "data")
    if is_video:
        dataset: Any = VideoWindowDataset(clips, data.num_frames, data.lr_patch, scale,
                                          seed=seed, cache=data.cache)
    else:
        dataset = ImagePatchDataset(clips, data.lr_patch, scale, seed=seed, cache=data.cache)
    if data.cache and data.num_workers > 0:
        dataset.preload()  # decode once in the parent; forked workers share the cache
    return dataset


def val_clips(val: ValConfig, scale: int, is_video: bool) -> tuple[list[Any], str]:
    """Held-out clips of ``val`` (at most ``max_clips``) and their layout name."""
    clips, layout = open_clips(val.layout, val.root, val.split, scale, is_video, "val",
                               "data.val")
    if val.max_clips is not None:
        clips = clips[: val.max_clips]
    if layout == "reds" and val.split in (None, "train"):
        raise UserError("data.val: validating on the REDS training split; use split reds4, "
                        "val or val4")
    return clips, layout

"""Training patch samplers: shapes, alignment, augmentation and determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from srprune.data.images import write_image
from srprune.data.layouts import Clip, frames, load_clip
from srprune.data.sampling import ImagePatchDataset, VideoWindowDataset, augment, mirror_indices
from srprune.errors import UserError

SCALE = 2
BAND = 40  # frame t has values in [BAND * t, BAND * t + 30]


def _write_clip(root: Path, name: str, n: int, h: int, w: int, seed: int) -> None:
    """Block-constant GT (nearest x2 of the LR) so that lq == gt[..., ::2, ::2] exactly."""
    rng = np.random.default_rng(seed)
    for t in range(n):
        lr = (BAND * t + rng.integers(0, 31, (h, w, 3))).astype(np.uint8)
        gt = lr.repeat(SCALE, axis=0).repeat(SCALE, axis=1)
        write_image(root / "GT" / name / f"{t:08d}.png", gt)
        write_image(root / "LR" / f"X{SCALE}" / name / f"{t:08d}.png", lr)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Clip]:
    root = tmp_path_factory.mktemp("frames")
    _write_clip(root, "long", 6, 10, 12, seed=0)
    _write_clip(root, "short", 3, 9, 9, seed=1)
    return frames(root, scale=SCALE)


def _frame_ids(x: torch.Tensor) -> list[int]:
    """Which source frame each of (N, 3, h, w) comes from (all values share one band)."""
    ids = (x * 255).round().long() // BAND
    assert all(int(f.min()) == int(f.max()) for f in ids)
    return [int(f.min()) for f in ids]


def _is_direct_crop(lq: torch.Tensor, lr: torch.Tensor) -> bool:
    p = lq.shape[-1]
    h, w = lr.shape[-2:]
    return any(torch.equal(lq, lr[..., y: y + p, x: x + p])
               for y in range(h - p + 1) for x in range(w - p + 1))


def test_mirror_indices() -> None:
    assert mirror_indices(3, 5) == [0, 1, 2, 2, 1]
    assert mirror_indices(7, 14) == [0, 1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1, 0]
    assert mirror_indices(1, 3) == [0, 0, 0]


def test_video_window_shapes_alignment_and_order(clips: list[Clip]) -> None:
    ds = VideoWindowDataset(clips[:1], num_frames=4, lr_patch=5, scale=SCALE, seed=3,
                            epoch_length=24)
    assert len(ds) == 24
    reversed_seen = forward_seen = False
    for i in range(len(ds)):
        item = ds[i]
        lq, gt = item["lq"], item["gt"]
        assert lq.shape == (4, 3, 5, 5) and gt.shape == (4, 3, 10, 10)
        assert lq.dtype == torch.float32 and item["clip"] == "long"
        torch.testing.assert_close(lq, gt[..., ::SCALE, ::SCALE], rtol=0, atol=0)
        ids = _frame_ids(lq)
        assert ids == _frame_ids(gt)
        step = np.diff(ids)
        assert set(step) in ({1}, {-1})
        reversed_seen |= step[0] == -1
        forward_seen |= step[0] == 1
    assert reversed_seen and forward_seen


def test_augmentations_toggle(clips: list[Clip]) -> None:
    lr, _ = load_clip(clips[0], SCALE)
    plain = VideoWindowDataset(clips[:1], 3, 4, SCALE, flip=False, transpose=False, reverse=False,
                               seed=0, epoch_length=12)
    for i in range(len(plain)):
        item = plain[i]
        start = _frame_ids(item["lq"])[0]
        assert _is_direct_crop(item["lq"], lr[start: start + 3])
    augmented = VideoWindowDataset(clips[:1], 3, 4, SCALE, reverse=False, seed=0,
                                   epoch_length=12)
    direct = 0
    for i in range(len(augmented)):
        item = augmented[i]
        start = _frame_ids(item["lq"])[0]
        direct += _is_direct_crop(item["lq"], lr[start: start + 3])
    assert direct < len(augmented)


def test_short_clip_is_mirror_padded(clips: list[Clip]) -> None:
    ds = VideoWindowDataset(clips[1:], num_frames=5, lr_patch=4, scale=SCALE, seed=0,
                            epoch_length=8)
    patterns = {tuple(_frame_ids(ds[i]["lq"])) for i in range(len(ds))}
    assert patterns <= {(0, 1, 2, 2, 1), (1, 2, 2, 1, 0)}


def test_determinism_and_epochs(clips: list[Clip]) -> None:
    a = VideoWindowDataset(clips, 3, 4, SCALE, seed=7, epoch_length=6)
    b = VideoWindowDataset(clips, 3, 4, SCALE, seed=7, epoch_length=6, cache=False)
    for i in range(6):
        torch.testing.assert_close(a[i]["lq"], b[i]["lq"], rtol=0, atol=0)
        torch.testing.assert_close(a[i]["gt"], b[i]["gt"], rtol=0, atol=0)
    first = [a[i]["lq"] for i in range(6)]
    a.set_epoch(1)
    second = [a[i]["lq"] for i in range(6)]
    assert any(not torch.equal(x, y) for x, y in zip(first, second, strict=True))
    resumed = VideoWindowDataset(clips, 3, 4, SCALE, seed=7, epoch_length=6)
    resumed.set_epoch(1)
    assert all(torch.equal(resumed[i]["lq"], second[i]) for i in (5, 0, 3))
    other = VideoWindowDataset(clips, 3, 4, SCALE, seed=8, epoch_length=6)
    assert any(not torch.equal(other[i]["lq"], first[i]) for i in range(6))
    with pytest.raises(IndexError):
        a[6]


def test_dataloader_batches(clips: list[Clip]) -> None:
    ds = VideoWindowDataset(clips, 3, 4, SCALE, seed=0, epoch_length=4)
    ds.preload()
    batch = next(iter(DataLoader(ds, batch_size=2, shuffle=False)))
    assert batch["lq"].shape == (2, 3, 3, 4, 4) and batch["gt"].shape == (2, 3, 3, 8, 8)
    assert len(batch["clip"]) == 2


def test_patch_larger_than_frame(clips: list[Clip]) -> None:
    ds = VideoWindowDataset(clips[1:], 3, 10, SCALE, seed=0)
    with pytest.raises(UserError, match="smaller than"):
        ds[0]
    with pytest.raises(UserError, match="no clips"):
        VideoWindowDataset([], 3, 4, SCALE)
    with pytest.raises(UserError, match="flows"):
        VideoWindowDataset(clips, 3, 4, SCALE, flows=True)


def test_image_patch_dataset(clips: list[Clip]) -> None:
    ds = ImagePatchDataset(clips, lr_patch=4, scale=SCALE, seed=1, epoch_length=10)
    again = ImagePatchDataset(clips, lr_patch=4, scale=SCALE, seed=1, epoch_length=10,
                              cache=False)
    for i in range(len(ds)):
        item = ds[i]
        assert item["lq"].shape == (3, 4, 4) and item["gt"].shape == (3, 8, 8)
        torch.testing.assert_close(item["lq"], item["gt"][:, ::SCALE, ::SCALE], rtol=0, atol=0)
        torch.testing.assert_close(item["gt"], again[i]["gt"], rtol=0, atol=0)


def test_augment_flow_signs() -> None:
    # A flow field that is constant (dx, dy) = (1, 2): flips negate, transpose swaps.
    flow = torch.stack([torch.ones(3, 4), 2 * torch.ones(3, 4)])[None]
    img = torch.arange(12.0).view(1, 3, 4)
    (out,), f = augment([img], True, False, False, flow)
    assert torch.equal(out, img.flip(-1)) and f[0, :, 0, 0].tolist() == [-1.0, 2.0]
    (out,), f = augment([img], False, True, False, flow)
    assert f[0, :, 0, 0].tolist() == [1.0, -2.0]
    (out,), f = augment([img], False, False, True, flow)
    assert out.shape == (1, 4, 3) and f.shape == (1, 2, 4, 3)
    assert f[0, :, 0, 0].tolist() == [2.0, 1.0]

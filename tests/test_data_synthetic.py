"""The embedded synthetic datasets: determinism, caching, layout and exact flows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from srprune.data import synthetic
from srprune.data.layouts import frames, load_clip, sisr
from srprune.data.sampling import ImagePatchDataset, VideoWindowDataset
from srprune.data.synthetic import build_default_images, build_default_video, load_flows
from srprune.errors import UserError

SMALL = {"gt_size": 32, "scale": 4, "num_frames": 3, "train_clips_per_photo": 1}
FLOW = {"gt_size": 96, "scale": 4, "num_frames": 4, "train_clips_per_photo": 1}


def flow_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """BasicSR flow_warp: sample x at p + flow(p), bilinear, zeros padding, align_corners."""
    _, _, h, w = x.shape
    gy, gx = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype),
                            indexing="ij")
    vx = 2.0 * (gx + flow[:, 0]) / max(w - 1, 1) - 1.0
    vy = 2.0 * (gy + flow[:, 1]) / max(h - 1, 1) - 1.0
    return F.grid_sample(x, torch.stack([vx, vy], dim=-1), mode="bilinear",
                         padding_mode="zeros", align_corners=True)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_default_video(tmp_path_factory.mktemp("syn") / "video", seed=0, **SMALL)


@pytest.fixture(scope="module")
def flowset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_default_video(tmp_path_factory.mktemp("synflow") / "video", seed=1, **FLOW)


def test_layout_and_manifest(small: Path) -> None:
    manifest = json.loads((small / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["gt_size"] == 32 and manifest["lr_size"] == 8
    train, val = frames(small / "train", 4), frames(small / "val", 4)
    assert [c.name for c in train] == sorted(manifest["clips"]["train"])
    assert len(train) == len(synthetic.TRAIN_PHOTOS) and len(val) == len(synthetic.VAL_PHOTOS)
    assert not set(manifest["photos"]["train"]) & set(manifest["photos"]["val"])
    clip = train[0]
    assert clip.lr is not None and clip.flows is not None and clip.flows_forward is not None
    lr, gt = load_clip(clip, 4)
    assert lr.shape == (3, 3, 8, 8) and gt.shape == (3, 3, 32, 32)
    assert load_flows(small / "train", clip.name).shape == (2, 2, 8, 8)
    assert load_flows(small / "train", clip.name, "forward").shape == (2, 2, 8, 8)
    assert [p.name for p in clip.gt] == ["00000000.png", "00000001.png", "00000002.png"]


def test_same_seed_same_bytes(small: Path, tmp_path: Path) -> None:
    again = build_default_video(tmp_path / "again", seed=0, **SMALL)
    assert _files(again) == _files(small)
    other = build_default_video(tmp_path / "other", seed=1, **SMALL)
    a, b = _files(other), _files(small)
    assert a.keys() == b.keys()
    assert a["train/GT/astronaut_0/00000000.png"] != b["train/GT/astronaut_0/00000000.png"]


def test_cache_reuse_and_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = build_default_video(tmp_path / "v", seed=0, **SMALL)
    real_render = synthetic.render

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("should not render")

    monkeypatch.setattr(synthetic, "render", boom)
    assert build_default_video(root, seed=0, **SMALL) == root  # cached: nothing rendered
    with pytest.raises(RuntimeError):
        build_default_video(root, seed=0, **{**SMALL, "num_frames": 4})
    # The failed rebuild left the old dataset untouched and no temporary folders behind.
    assert json.loads((root / "manifest.json").read_text())["num_frames"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]
    monkeypatch.setattr(synthetic, "render", real_render)
    build_default_video(root, seed=0, **{**SMALL, "num_frames": 4})
    assert json.loads((root / "manifest.json").read_text())["num_frames"] == 4
    assert len(frames(root / "val", 4)[0]) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]


def test_refuses_foreign_folder(tmp_path: Path, small: Path) -> None:
    with pytest.raises(UserError, match="different dataset"):
        build_default_images(small, hr_size=48)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(UserError, match="not a srprune synthetic dataset"):
        build_default_video(tmp_path / "mine", **SMALL)
    with pytest.raises(UserError, match="multiple"):
        build_default_video(tmp_path / "bad", gt_size=30, scale=4)


def _warp_errors(lr: torch.Tensor, flow: torch.Tensor, border: int = 3) -> tuple[float, float]:
    inner = (..., slice(border, -border), slice(border, -border))
    warped = flow_warp(lr[1:], flow)
    return ((warped - lr[:-1])[inner].abs().mean().item(),
            (lr[1:] - lr[:-1])[inner].abs().mean().item())


def test_flows_warp_next_frame_onto_current(flowset: Path) -> None:
    errs, base, shifted = [], [], {k: [] for k in ("x+", "x-", "y+", "y-")}
    for split in ("train", "val"):
        for clip in frames(flowset / split, 4):
            lr, _ = load_clip(clip, 4)
            back = load_flows(flowset / split, clip.name)
            fwd = load_flows(flowset / split, clip.name, "forward")
            e, e0 = _warp_errors(lr, back)
            errs.append(e)
            base.append(e0)
            # Forward flows warp frame i onto frame i+1.
            ef, _ = _warp_errors(lr.flip(0), fwd.flip(0))
            assert ef < 1.5 * e + 0.01
            for key, (ch, d) in {"x+": (0, 0.3), "x-": (0, -0.3), "y+": (1, 0.3),
                                 "y-": (1, -0.3)}.items():
                off = back.clone()
                off[:, ch] += d
                shifted[key].append(_warp_errors(lr, off)[0])
    mean = sum(errs) / len(errs)
    assert mean < 0.45 * sum(base) / len(base)
    for values in shifted.values():  # the stored flow beats one that is 0.3 px off
        assert mean < 0.9 * sum(values) / len(values)


def test_sampled_flows_follow_augmentation(flowset: Path) -> None:
    ds = VideoWindowDataset(frames(flowset / "train", 4), num_frames=3, lr_patch=20, scale=4,
                            seed=0, epoch_length=16, flows=True)
    err = base = 0.0
    for i in range(len(ds)):
        item = ds[i]
        assert item["flow"].shape == (2, 2, 20, 20)
        e, e0 = _warp_errors(item["lq"], item["flow"])
        err, base = err + e, base + e0
    assert err < 0.5 * base


def test_default_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = build_default_images(tmp_path / "img", scale=4, seed=0, hr_size=48,
                                train_crops_per_photo=1)
    train, val = sisr(root / "train", 4), sisr(root / "val", 3)
    assert len(train) == len(synthetic.TRAIN_PHOTOS) and len(val) == len(synthetic.VAL_PHOTOS)
    lr, gt = load_clip(train[0], 4)
    assert lr.shape == (1, 3, 12, 12) and gt.shape == (1, 3, 48, 48)
    assert load_clip(val[0], 3)[0].shape == (1, 3, 16, 16)
    assert (root / "train" / "LR_bicubic" / "X2" / f"{train[0].name}x2.png").is_file()
    monkeypatch.setattr(synthetic, "render", None)  # cached: must not render again
    assert build_default_images(root, scale=4, seed=0, hr_size=48, train_crops_per_photo=1) == root
    item = ImagePatchDataset(train, lr_patch=8, scale=4, seed=0)[0]
    assert item["lq"].shape == (3, 8, 8) and item["gt"].shape == (3, 32, 32)

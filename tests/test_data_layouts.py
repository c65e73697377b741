"""Dataset layout readers and clip loading on tiny generated trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srprune.data.degrade import bicubic_downsample
from srprune.data.images import read_image, to_tensor, write_image
from srprune.data.layouts import (
    LAYOUT_NAMES,
    Clip,
    frames,
    load_clip,
    open_layout,
    reds,
    sisr,
    vid4,
    vimeo,
)
from srprune.errors import UserError

RNG = np.random.default_rng(0)


def _img(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _clip_dir(folder: Path, n: int, h: int, w: int, names: list[str] | None = None) -> None:
    names = names or [f"{i:08d}.png" for i in range(n)]
    for name in names:
        write_image(folder / name, _img(h, w))


@pytest.fixture
def reds_root(tmp_path: Path) -> Path:
    for clip in ["000", "001", "011", "015", "020", "240", "241", "246", "257", "260"]:
        _clip_dir(tmp_path / "train_sharp" / clip, 2, 16, 24)
        _clip_dir(tmp_path / "train_sharp_bicubic" / "X4" / clip, 2, 4, 6)
    return tmp_path


def test_reds_splits(reds_root: Path) -> None:
    train = reds(reds_root, "train")
    assert [c.name for c in train] == ["001", "240", "241", "246", "257", "260"]
    assert [c.name for c in reds(reds_root, "reds4")] == ["000", "011", "015", "020"]
    assert [c.name for c in reds(reds_root, "val")] == ["240", "241", "246", "257", "260"]
    assert [c.name for c in reds(reds_root, "val4")] == ["240", "241", "246", "257"]
    clip = train[0]
    assert len(clip) == 2 and clip.lr is not None and clip.lr[0].parent.name == "001"
    lr, gt = load_clip(clip, 4)
    assert lr.shape == (2, 3, 4, 6) and gt.shape == (2, 3, 16, 24)
    with pytest.raises(UserError, match="split"):
        reds(reds_root, "bogus")


def test_reds_official_val_folder_and_missing_reds4(tmp_path: Path) -> None:
    for clip in ["000", "001", "006", "017", "020"]:
        _clip_dir(tmp_path / "val_sharp" / clip, 1, 8, 8)
    assert [c.name for c in reds(tmp_path, "val4")] == ["000", "001", "006", "017"]
    assert len(reds(tmp_path, "val")) == 5
    assert reds(tmp_path, "val")[0].lr is None
    _clip_dir(tmp_path / "train_sharp" / "000", 1, 8, 8)
    with pytest.raises(UserError, match="REDS4 clips missing"):
        reds(tmp_path, "reds4")


def test_vimeo(tmp_path: Path) -> None:
    for key in ["00001/0001", "00001/0002", "00002/0001"]:
        _clip_dir(tmp_path / "sequences" / key, 7, 8, 12, [f"im{i}.png" for i in range(1, 8)])
        _clip_dir(tmp_path / "BIx4" / key, 7, 2, 3, [f"im{i}.png" for i in range(1, 8)])
    (tmp_path / "sep_trainlist.txt").write_text("00001/0001\n00002/0001\n\n")
    (tmp_path / "sep_testlist.txt").write_text("00001/0002\n")
    train = vimeo(tmp_path, "train")
    assert [c.name for c in train] == ["00001/0001", "00002/0001"]
    assert [p.name for p in train[0].gt] == [f"im{i}.png" for i in range(1, 8)]
    lr, gt = load_clip(vimeo(tmp_path, "test")[0], 4)
    assert lr.shape == (7, 3, 2, 3) and gt.shape == (7, 3, 8, 12)
    (tmp_path / "sep_testlist.txt").write_text("00009/0009\n")
    with pytest.raises(UserError, match="00009/0009"):
        vimeo(tmp_path, "test")
    (tmp_path / "sep_trainlist.txt").unlink()
    with pytest.raises(UserError, match="sep_trainlist"):
        vimeo(tmp_path, "train")


def test_vid4_and_generated_lr(tmp_path: Path) -> None:
    for clip in ["calendar", "city"]:
        _clip_dir(tmp_path / "GT" / clip, 3, 18, 13)  # not multiples of 4: mod-cropped
    clips = vid4(tmp_path)
    assert [c.name for c in clips] == ["calendar", "city"] and clips[0].lr is None
    lr, gt = load_clip(clips[0], 4)
    assert gt.shape == (3, 3, 16, 12) and lr.shape == (3, 3, 4, 3)
    torch.testing.assert_close(lr, bicubic_downsample(gt.double(), 4).float(), rtol=0, atol=1e-6)
    (tmp_path / "BIx4" / "calendar").mkdir(parents=True)
    _clip_dir(tmp_path / "BIx4" / "calendar", 3, 4, 3)
    with pytest.raises(UserError, match="city"):
        vid4(tmp_path)  # the LR folder exists, so every clip needs LR frames


def test_frames_layout_forms(tmp_path: Path) -> None:
    a = tmp_path / "a"
    _clip_dir(a / "GT" / "clip_2", 2, 8, 8)
    _clip_dir(a / "GT" / "clip_10", 2, 8, 8)
    _clip_dir(a / "LR" / "X2" / "clip_2", 2, 4, 4)
    _clip_dir(a / "LR" / "X2" / "clip_10", 2, 4, 4)
    (a / "flows").mkdir()
    np.save(a / "flows" / "clip_2.npy", np.zeros((1, 2, 4, 4), np.float32))
    clips = frames(a, scale=2)
    assert [c.name for c in clips] == ["clip_2", "clip_10"]
    assert clips[0].lr is not None and clips[0].flows is not None and clips[1].flows is None
    assert frames(a, scale=4)[0].lr is None  # no LR/X4: generated on load
    b = tmp_path / "b"
    _clip_dir(b / "walk", 2, 8, 8)
    (b / "empty").mkdir()
    assert [c.name for c in frames(b)] == ["walk"]
    c = tmp_path / "c"
    _clip_dir(c, 3, 8, 8)
    assert [(cl.name, len(cl)) for cl in frames(c)] == [("c", 3)]
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match="no clips"):
        frames(tmp_path / "d")


def test_sisr_layout(tmp_path: Path) -> None:
    for name in ["0001", "0002"]:
        write_image(tmp_path / "HR" / f"{name}.png", _img(16, 12))
    write_image(tmp_path / "LR_bicubic" / "X4" / "0001x4.png", _img(4, 3))
    write_image(tmp_path / "LR_bicubic" / "X4" / "0002.png", _img(4, 3))
    clips = sisr(tmp_path, 4)
    assert [(c.name, len(c), c.lr[0].name) for c in clips] == [("0001", 1, "0001x4.png"),
                                                              ("0002", 1, "0002.png")]
    lr, gt = load_clip(clips[0], 4)
    assert lr.shape == (1, 3, 4, 3) and gt.shape == (1, 3, 16, 12)
    assert sisr(tmp_path, 2)[0].lr is None
    (tmp_path / "LR_bicubic" / "X4" / "0002.png").unlink()
    with pytest.raises(UserError, match="0002"):
        sisr(tmp_path, 4)


def test_open_layout_dispatch_and_errors(tmp_path: Path, reds_root: Path) -> None:
    assert [c.name for c in open_layout(reds_root, "reds", "reds4", 4)][0] == "000"
    with pytest.raises(UserError) as info:
        open_layout(reds_root, "div2k", None, 4)
    for name in LAYOUT_NAMES:
        assert name in str(info.value)
    with pytest.raises(UserError, match="not found"):
        open_layout(tmp_path / "missing", "vid4", None, 4)
    with pytest.raises(UserError, match="no splits"):
        open_layout(reds_root, "frames", "train", 4)


def test_load_clip_errors(tmp_path: Path) -> None:
    _clip_dir(tmp_path / "mixed", 1, 8, 8, ["0.png"])
    _clip_dir(tmp_path / "mixed", 1, 8, 12, ["1.png"])
    with pytest.raises(UserError, match="8x12"):
        load_clip(frames(tmp_path / "mixed")[0], 4)

    gt = [tmp_path / "g0.png", tmp_path / "g1.png"]
    for p in gt:
        write_image(p, _img(16, 16))
    lr_ok = [tmp_path / "l0.png", tmp_path / "l1.png"]
    for p in lr_ok:
        write_image(p, _img(4, 4))
    write_image(tmp_path / "l_big.png", _img(5, 4))
    with pytest.raises(UserError, match="does not match"):
        load_clip(Clip("c", gt[:1], [tmp_path / "l_big.png"]), 4)
    with pytest.raises(UserError, match="LR frames"):
        load_clip(Clip("c", gt, lr_ok[:1]), 4)
    lr, hr = load_clip(Clip("c", gt, lr_ok), 4)
    assert lr.shape == (2, 3, 4, 4) and hr.shape == (2, 3, 16, 16)

    # GT larger than LR*scale by less than scale: cropped (BasicSR benchmark convention).
    write_image(tmp_path / "g18.png", _img(18, 19))
    lr, hr = load_clip(Clip("c", [tmp_path / "g18.png"], lr_ok[:1]), 4)
    assert hr.shape == (1, 3, 16, 16)
    write_image(tmp_path / "g20.png", _img(20, 16))
    with pytest.raises(UserError, match="does not match"):
        load_clip(Clip("c", [tmp_path / "g20.png"], lr_ok[:1]), 4)

    Image.fromarray(_img(16, 16)).convert("L").save(tmp_path / "gray.png")
    with pytest.raises(UserError, match="gray.png"):
        load_clip(Clip("c", [tmp_path / "gray.png"], None), 4)


def test_load_clip_subset_and_values(tmp_path: Path) -> None:
    _clip_dir(tmp_path / "GT" / "x", 4, 8, 8)
    clip = frames(tmp_path)[0]
    lr, gt = load_clip(clip, 2, indices=[3, 1])
    assert lr.shape == (2, 3, 4, 4)
    torch.testing.assert_close(gt[0], to_tensor(read_image(clip.gt[3])))

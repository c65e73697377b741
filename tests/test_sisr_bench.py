"""SISR benchmark folders: BasicSR, EDSR-PyTorch and HR-only sets, and multi-set roots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from srprune.cli import main
from srprune.data.images import write_image
from srprune.data.layouts import downsample_uint8, is_sisr_set, load_clip, sisr, sisr_sets
from srprune.errors import UserError


def _hr(seed: int, h: int = 24, w: int = 24) -> np.ndarray:
    """A smooth random image, so bicubic scores are neither trivial nor infinite."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3)).astype(np.float64)
    img = np.kron(small, np.ones((4, 4, 1)))[:h, :w]
    return img.round().astype(np.uint8)


def _lr(hr: np.ndarray) -> np.ndarray:
    return downsample_uint8(hr[None], 4)[0]


def _basicsr(root: Path) -> Path:
    for i, name in enumerate(["baby", "bird"]):
        hr = _hr(i)
        write_image(root / "GTmod12" / f"{name}.png", hr)
        write_image(root / "LRbicx4" / f"{name}.png", _lr(hr))
    return root


def _edsr(root: Path) -> Path:
    for i, name in enumerate(["comic", "lenna", "zebra"]):
        hr = _hr(10 + i)
        write_image(root / "HR" / f"{name}.png", hr)
        write_image(root / "LR_bicubic" / "X4" / f"{name}x4.png", _lr(hr))
    return root


def _hr_only(root: Path) -> Path:
    write_image(root / "HR" / "3096.png", _hr(20, 26, 27))
    return root


@pytest.fixture()
def bench(tmp_path: Path) -> Path:
    root = tmp_path / "benchmark"
    _basicsr(root / "Set5")
    _edsr(root / "Set14")
    _hr_only(root / "B100")
    (root / "notes").mkdir()  # not a set: skipped
    return root


def _test(capsys, data: Path, *extra: str) -> dict:
    assert main(["test", "--model", "bicubic", "--data", str(data), "--layout", "sisr",
                 "--device", "cpu", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_each_layout_is_detected(bench: Path) -> None:
    set5, set14, b100 = (sisr(bench / n, 4) for n in ("Set5", "Set14", "B100"))
    assert [(c.name, c.lr[0].relative_to(bench).as_posix()) for c in set5] == [
        ("baby", "Set5/LRbicx4/baby.png"), ("bird", "Set5/LRbicx4/bird.png")]
    assert [c.lr[0].name for c in set14] == ["comicx4.png", "lennax4.png", "zebrax4.png"]
    assert [(c.name, c.lr) for c in b100] == [("3096", None)]
    lr, gt = load_clip(b100[0], 4)  # mod-cropped to 24x24, then MATLAB bicubic
    assert tuple(lr.shape) == (1, 3, 6, 6) and tuple(gt.shape) == (1, 3, 24, 24)
    assert sisr(bench / "Set5", 2)[0].lr is None  # no LRbicx2: made from GT
    assert is_sisr_set(bench / "Set5") and not is_sisr_set(bench)


def test_each_layout_is_scored_on_y_with_crop_scale(bench: Path, capsys) -> None:
    for name in ("Set5", "Set14", "B100"):
        scores = _test(capsys, bench / name)["scores"]
        assert scores["convention"]["test_y"] and scores["convention"]["crop_border"] == 4
        assert 10 < scores["psnr"] < 60


def test_given_lr_and_generated_lr_score_the_same(bench: Path, tmp_path: Path, capsys) -> None:
    hr_only = tmp_path / "Set5hr"
    for p in sorted((bench / "Set5" / "GTmod12").iterdir()):
        (hr_only / "HR").mkdir(parents=True, exist_ok=True)
        (hr_only / "HR" / p.name).write_bytes(p.read_bytes())
    given = _test(capsys, bench / "Set5")["scores"]
    made = _test(capsys, hr_only)["scores"]
    assert given["psnr"] == pytest.approx(made["psnr"]) and given["clips"].keys() == {"baby",
                                                                                      "bird"}


def test_multi_set_root_gives_one_row_per_set(bench: Path, tmp_path: Path, capsys) -> None:
    out = _test(capsys, bench)
    assert [(r["set"], r["images"]) for r in out["rows"]] == [("B100", 1), ("Set5", 2),
                                                              ("Set14", 3)]
    assert out["convention"]["crop_border"] == 4 and out["convention"]["test_y"]
    single = _test(capsys, bench / "Set14")["scores"]
    assert out["rows"][2]["psnr"] == pytest.approx(single["psnr"])
    assert out["sets"]["Set14"]["clips"].keys() == single["clips"].keys()
    frames = tmp_path / "sr"
    assert main(["test", "--model", "bicubic", "--data", str(bench), "--layout", "sisr",
                 "--device", "cpu", "--save-frames", str(frames), "--max-clips", "1"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert "3 sets" in text[0] and [line.split()[0] for line in text[1:]] == ["B100", "Set5",
                                                                              "Set14"]
    assert sorted(p.relative_to(frames).as_posix() for p in frames.rglob("*.png")) == [
        "B100/3096/00000000.png", "Set14/comic/00000000.png", "Set5/baby/00000000.png"]


def test_flat_clips_of_a_multi_set_root(bench: Path) -> None:
    names = [c.name for c in sisr(bench, 4)]
    assert names == ["B100/3096", "Set5/baby", "Set5/bird", "Set14/comic", "Set14/lenna",
                     "Set14/zebra"]
    assert list(sisr_sets(bench, 4)) == ["B100", "Set5", "Set14"]


def test_mismatched_lr_size_is_one_line(bench: Path, capsys) -> None:
    write_image(bench / "Set5" / "LRbicx4" / "bird.png", np.zeros((5, 6, 3), np.uint8))
    assert main(["test", "--model", "bicubic", "--data", str(bench), "--layout", "sisr",
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bird" in err and "does not match GT 24x24" in err


def test_folder_without_sets_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    with pytest.raises(UserError, match="GTmod12"):
        sisr_sets(tmp_path / "x", 4)

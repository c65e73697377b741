"""srprune test on generated datasets: scores, JSON, saved frames and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from srprune.cli import main
from srprune.data.images import write_image
from srprune.eval.metrics import psnr
from srprune.io.model_file import save_model
from srprune.models.registry import create_model


def _frames_dataset(root: Path, clips: int = 2, frames: int = 3, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    for c in range(clips):
        for t in range(frames):
            img = np.roll(base, shift=(t + c, 2 * t), axis=(0, 1))
            write_image(root / "GT" / f"clip{c}" / f"{t:08d}.png", img)
    return root


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return _frames_dataset(tmp_path / "ds")


def test_bicubic_scores_every_clip_then_the_mean(data: Path, capsys) -> None:
    assert main(["test", "--model", "bicubic", "--data", str(data), "--layout", "frames",
                 "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)["scores"]
    assert set(out["clips"]) == {"clip0", "clip1"}
    mean = np.mean([c["psnr"] for c in out["clips"].values()])
    assert out["psnr"] == pytest.approx(mean)
    assert 10 < out["psnr"] < 60


def test_model_file_with_saved_frames_matches_its_scores(data: Path, tmp_path: Path,
                                                         capsys) -> None:
    model = save_model(tmp_path / "m.safetensors", create_model("basicvsr-8-1"))
    frames = tmp_path / "sr"
    assert main(["test", "--model", str(model), "--data", str(data), "--layout", "frames",
                 "--save-frames", str(frames), "--json", "--device", "cpu"]) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]
    from srprune.data.images import read_image

    sr = read_image(frames / "clip0" / "00000001.png")
    gt = read_image(data / "GT" / "clip0" / "00000001.png")
    assert psnr(sr, gt) == pytest.approx(scores["clips"]["clip0"]["frames"][1][1])
    assert len(list((frames / "clip1").iterdir())) == 3


def test_flip_ensemble_changes_a_recurrent_models_scores(data: Path, tmp_path: Path,
                                                         capsys) -> None:
    torch.manual_seed(1)
    model = save_model(tmp_path / "m.safetensors", create_model("basicvsr-8-1"))
    res = []
    for extra in ([], ["--flip-ensemble"]):
        assert main(["test", "--model", str(model), "--data", str(data), "--layout", "frames",
                     "--json", "--device", "cpu", *extra]) == 0
        res.append(json.loads(capsys.readouterr().out)["scores"]["psnr"])
    assert res[0] != res[1]


@pytest.mark.parametrize("case", ["missing", "mixed-sizes", "lr-mismatch", "grayscale"])
def test_bad_datasets_give_one_line(case: str, tmp_path: Path, capsys) -> None:
    root = tmp_path / "bad"
    if case != "missing":
        _frames_dataset(root, clips=1)
    if case == "mixed-sizes":
        write_image(root / "GT" / "clip0" / "00000009.png", np.zeros((36, 32, 3), np.uint8))
    elif case == "lr-mismatch":
        for t in range(3):
            write_image(root / "LR" / "X4" / "clip0" / f"{t:08d}.png",
                        np.zeros((9, 8, 3), np.uint8))
    elif case == "grayscale":
        from PIL import Image

        Image.fromarray(np.zeros((32, 32), np.uint8)).save(root / "GT" / "clip0" / "00000000.png")
    code = main(["test", "--model", "bicubic", "--data", str(root), "--layout", "frames",
                 "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "error" in err[0]


def test_data_default_scores_the_embedded_held_out_images(capsys) -> None:
    from srprune.cli import main as cli_main

    assert cli_main(["test", "--model", "bicubic", "--data", "default", "--layout", "sisr",
                     "--max-clips", "1"]) == 0
    assert "average" in capsys.readouterr().out
    # --layout frames picks the embedded clips (issue 21); a named set keeps its own layout
    assert cli_main(["test", "--model", "bicubic", "--data", "default", "--layout", "frames",
                     "--max-clips", "1"]) == 0
    assert "synthetic-video" in capsys.readouterr().out
    assert cli_main(["test", "--model", "bicubic", "--data", "default-images", "--layout",
                     "frames"]) == 2
    err = capsys.readouterr().err
    assert "--layout sisr" in err and len(err.strip().splitlines()) == 1

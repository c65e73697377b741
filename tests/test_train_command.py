"""``srprune train``: errors as one line, and short runs on the embedded data (both configs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.io.model_file import load_model

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("srprune-cache")


def test_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--config", str(tmp_path / "none.yaml")]) == 2
    err = capsys.readouterr().err
    assert "config file not found" in err and len(err.strip().splitlines()) == 1
    assert err.count(str(tmp_path / "none.yaml")) == 1  # the path once, not twice


@pytest.mark.parametrize("command", [["train", "--config"], ["experiment"]])
def test_config_that_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 command: list[str]) -> None:
    assert main([*command, str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder; give the YAML file itself" in err[0], err


def test_unknown_key_and_bad_value(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(CONFIGS / "tiny_edsr.yaml")
    assert main(["train", "--config", cfg, "--set", "train.nope=1"]) == 2
    assert "--set train.nope=1: unknown config key train.nope" in capsys.readouterr().err
    assert main(["train", "--config", cfg, "--set", "train.iters=0"]) == 2
    assert "train.iters: must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # the flag is bounded by argparse
        main(["train", "--config", cfg, "--iters", "0"])
    assert stop.value.code == 2 and "argument --iters" in capsys.readouterr().err


def test_print_config_with_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--config", str(CONFIGS / "basicvsr_reds.yaml"), "--print-config",
                 "--iters", "10", "--out", "x y", "--device", "cpu",
                 "--set", "optim.lr=1e-4"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["train"]["iters"] == 10 and cfg["out"] == "x y" and cfg["train"]["device"] == "cpu"
    assert cfg["optim"]["lr"] == 1e-4


def test_demo_basicvsr_on_embedded_data(tmp_path: Path, cache: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRPRUNE_CACHE", str(cache))
    out = tmp_path / "demo"
    args = ["train", "--config", str(CONFIGS / "demo_basicvsr.yaml"), "--out", str(out),
            "--device", "cpu", "--quiet", "--set", "data.num_frames=3",
            "--set", "data.batch_size=1", "--set", "data.lr_patch=16",
            "--set", "data.val.max_clips=1", "--set", "data.val.max_frames=2",
            "--set", "optim.fix_flow_iters=1", "--set", "train.tensorboard=false",
            "--set", "train.log_every=1"]
    assert main([*args, "--iters", "2"]) == 0
    assert (out / "checkpoints" / "last.pt").is_file()
    assert main([*args, "--iters", "3", "--resume"]) == 0  # extend the finished run by one
    records = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records if "loss" in r] == [1, 2, 3]
    val = [r for r in records if "val/psnr" in r]
    assert val and 5 < val[-1]["val/psnr"] < 60
    model = load_model(out / "model.safetensors")
    assert model.config.num_feat == 16 and model.extra["trained_iters"] == 3
    assert json.loads((out / "config.json").read_text())["train"]["iters"] == 3


def test_tiny_edsr_on_embedded_data(tmp_path: Path, cache: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRPRUNE_CACHE", str(cache))
    out = tmp_path / "edsr"
    assert main(["train", "--config", str(CONFIGS / "tiny_edsr.yaml"), "--out", str(out),
                 "--iters", "2", "--device", "cpu", "--quiet",
                 "--set", "train.tensorboard=false"]) == 0
    model = load_model(out / "model.safetensors")
    assert model.config.scale == 4 and model.extra["ema"] is True
    assert main(["train", "--config", str(CONFIGS / "tiny_edsr.yaml"), "--out", str(out),
                 "--iters", "2", "--quiet"]) == 2  # refuses to overwrite without --resume


def test_start_from_model_file(tmp_path: Path, cache: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    from srprune.io.model_file import save_model
    from srprune.models.registry import create_model

    monkeypatch.setenv("SRPRUNE_CACHE", str(cache))
    start = create_model("edsr-1-8", 4)
    save_model(tmp_path / "start.safetensors", start)
    cfg = tmp_path / "from_file.yaml"
    cfg.write_text(f"model: {{file: {tmp_path / 'start.safetensors'}}}\n"
                   "data: {layout: sisr, root: default, lr_patch: 8, batch_size: 2}\n"
                   "train: {iters: 1, device: cpu, tensorboard: false}\n"
                   f"out: {tmp_path / 'out'}\n")
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    trained = load_model(tmp_path / "out" / "model.safetensors")
    assert trained.config == start.config
    assert not torch.equal(trained.state_dict()["conv_first.weight"],
                           start.state_dict()["conv_first.weight"])

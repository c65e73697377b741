"""A failed or refused train / prune / experiment leaves no new files in its run folder, only
state a rerun resumes from, and says so in one stderr line (issue 21)."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest

from robust_helpers import assert_one_line, run_cli
from srprune.io.model_file import save_model
from srprune.models.registry import create_model

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = ["--set", "model.name=edsr-1-4", "--set", "data.batch_size=1", "--set", "data.val=null",
        "--device", "cpu", "--quiet"]
PRUNE = ("prune: {ratio: 0.5, t1: 1, t2: 1, report_lr_size: [16, 16]}\n"
         "data: {layout: sisr, root: default, lr_patch: 16, batch_size: 1, val: null}\n"
         "train: {iters: 2, log_every: 1, ckpt_every: 1, device: cpu, tensorboard: false}\n")


def _full_disk(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device", "last.pt")


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("content", ["plain pickle", "torch pickle", "garbage"])
def test_train_resume_from_a_pickle_is_one_line_and_leaves_nothing(content: str, tmp_path: Path,
                                                                    capsys) -> None:
    out = tmp_path / "run"
    ckpt = out / "checkpoints" / "last.pt"
    ckpt.parent.mkdir(parents=True)
    if content == "plain pickle":  # torch also warns about its pickle protocol on stderr
        ckpt.write_bytes(pickle.dumps({"f": os.getcwd}, protocol=4))
    elif content == "garbage":
        ckpt.write_bytes(b"not a checkpoint")
    else:
        import torch

        torch.save({"format": "srprune-train-state", "f": os.getcwd}, ckpt)
    code, _, err = run_cli(capsys, ["train", "--config", CONFIGS / "tiny_edsr.yaml", "--out",
                                    out, "--resume", "--iters", "2", *TINY])
    line = assert_one_line(code, err, "train",
                           "not a readable" if content == "garbage" else "refused")
    assert "weights_only" not in line and "\x1b" not in line
    assert "getcwd" in line or content != "torch pickle"  # torch names the global it met
    assert _tree(out) == ["checkpoints", "checkpoints/last.pt"]


def test_train_on_a_full_disk_leaves_no_run_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("srprune.train.loop.save_checkpoint", _full_disk)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, ["train", "--config", CONFIGS / "tiny_edsr.yaml", "--out",
                                    out, "--iters", "2", *TINY])
    assert_one_line(code, err, "train", "no space left")
    assert not out.exists()


def test_train_keeps_what_it_can_resume_from(tmp_path: Path, capsys, monkeypatch) -> None:
    from srprune.train import loop

    real = loop.save_checkpoint
    calls = []

    def second_fails(*a, **k):
        calls.append(1)
        return _full_disk() if len(calls) == 2 else real(*a, **k)

    monkeypatch.setattr(loop, "save_checkpoint", second_fails)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, ["train", "--config", CONFIGS / "tiny_edsr.yaml", "--out",
                                    out, "--iters", "2", "--set", "train.ckpt_every=1", *TINY])
    assert_one_line(code, err, "train", "no space left")
    assert (out / "checkpoints" / "last.pt").is_file() and (out / "config.json").is_file()
    monkeypatch.setattr(loop, "save_checkpoint", real)
    code, _, _ = run_cli(capsys, ["train", "--config", CONFIGS / "tiny_edsr.yaml", "--out",
                                  out, "--iters", "2", "--set", "train.ckpt_every=1", "--resume",
                                  *TINY])
    assert code == 0 and (out / "model.safetensors").is_file()


@pytest.fixture()
def dense(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "p.yaml"
    config.write_text(PRUNE)
    return save_model(tmp_path / "dense.safetensors", create_model("edsr-1-4", 2)), config


def _prune(capsys, dense: Path, config: Path, out: Path, *extra: str):
    return run_cli(capsys, ["prune", "--method", "l1", "--model", dense, "--config", config,
                            "--out", out, "--device", "cpu", "--quiet", *extra])


def test_refused_prune_leaves_no_folder(dense, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, _, err = _prune(capsys, *dense, out, "--stages", "finetune")
    assert_one_line(code, err, "prune", "run the earlier stages first")
    assert not out.exists()


def test_failed_prune_keeps_only_finished_stages(dense, tmp_path: Path, capsys,
                                                 monkeypatch) -> None:
    monkeypatch.setattr("srprune.train.loop.save_checkpoint", _full_disk)
    out = tmp_path / "out"
    code, _, err = _prune(capsys, *dense, out, "--stages", "select,remove,finetune,report")
    assert_one_line(code, err, "prune", "no space left")
    assert _tree(out) == ["pruned.safetensors", "run.json", "selection.json"]
    monkeypatch.undo()
    code, _, _ = _prune(capsys, *dense, out, "--stages", "select,remove,finetune")
    assert code == 0 and (out / "model.safetensors").is_file()


def test_failed_experiment_leaves_no_folder(dense, tmp_path: Path, capsys,
                                            monkeypatch) -> None:
    monkeypatch.setattr("srprune.runs.prune_stages.choose_units", _full_disk)
    model, config = dense
    exp = tmp_path / "exp.yaml"
    out = tmp_path / "exp"
    exp.write_text(f"prune_config: {config}\ndense: {model}\nmethods: [l1]\nratios: [0.5]\n"
                   f"ablation_ratio: null\nout: {out}\ndevice: cpu\ncontrol: false\n"
                   "size: ratio\n")
    code, _, err = run_cli(capsys, ["experiment", exp, "--quiet"])
    assert_one_line(code, err, "experiment", "no space left")
    assert not out.exists()

"""Checkpoints: weights_only-readable state, and resume == uninterrupted run, exactly."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from srprune.errors import UserError
from srprune.io.model_file import load_model
from srprune.models.registry import create_model
from srprune.train.checkpoint import capture_rng, load_checkpoint, restore_rng
from srprune.train.config import config_from_dict
from srprune.train.loop import Trainer


class _Pairs(Dataset):
    """Random LR patches and a noisy x2 GT (drawn from the generators the trainer seeds)."""

    def __len__(self) -> int:
        return 7

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        lq = torch.rand(3, 8, 8)
        gt = F.interpolate(lq[None], scale_factor=2, mode="bilinear")[0]
        return {"lq": lq, "gt": (gt + 0.05 * torch.randn_like(gt)).clamp(0, 1)}


def _cfg(out: Path):
    return config_from_dict({
        "model": {"name": "edsr-1-8", "scale": 2},
        "data": {"batch_size": 3},
        "optim": {"lr": 1e-3, "scheduler": {"periods": [4, 4], "restart_weights": [1, 0.5]}},
        "train": {"iters": 6, "log_every": 1, "ckpt_every": 3, "ema": 0.9, "grad_clip": 0.5,
                  "device": "cpu", "tensorboard": False, "val_every": 2},
        "out": str(out)})


def _losses(out: Path) -> list[tuple[int, float]]:
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return [(r["iter"], r["loss"]) for r in records if "loss" in r]


def _model(seed: int):
    torch.manual_seed(seed)
    return create_model("edsr-1-8", 2)


def _validate(model) -> dict[str, float]:
    with torch.no_grad():
        return {"psnr": float(model(torch.full((1, 3, 4, 4), 0.5)).mean())}


class _Stop(Exception):
    pass


def _stop_after(n: int):
    def callback(iters_done: int, logs: dict[str, float]) -> None:
        assert logs["iter"] == iters_done
        if iters_done == n:
            raise _Stop

    return callback


def test_resume_reproduces_uninterrupted_run(tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    Trainer(_model(0), _Pairs(), _cfg(straight), quiet=True, validate=_validate).fit()

    split = tmp_path / "split"
    with pytest.raises(_Stop):
        Trainer(_model(0), _Pairs(), _cfg(split), quiet=True, validate=_validate,
                callbacks=[_stop_after(4)]).fit()  # killed after iteration 4, checkpoint at 3
    state = load_checkpoint(split / "checkpoints" / "last.pt")
    assert state["iters_done"] == 3
    with pytest.raises(UserError, match="--resume"):
        Trainer(_model(0), _Pairs(), _cfg(split), quiet=True).fit()
    # a different initialisation and global RNG state: everything must come from the checkpoint
    torch.manual_seed(1234)
    np.random.seed(5)
    result = Trainer(_model(7), _Pairs(), _cfg(split), quiet=True, validate=_validate).fit(
        resume=True)
    assert result.iters_done == 6

    a, b = _losses(straight), _losses(split)
    assert [i for i, _ in a] == list(range(1, 7)) == [i for i, _ in b]
    assert a == b  # bit-identical losses
    sa = load_model(straight / "model.safetensors").state_dict()
    sb = load_model(split / "model.safetensors").state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert load_model(split / "model.safetensors").extra["ema"] is True


def test_checkpoint_is_weights_only_and_complete(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = _cfg(out)
    Trainer(_model(0), _Pairs(), cfg, quiet=True).fit()
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert state["iters_done"] == 6
    assert {"model", "optimizer", "scheduler", "ema", "rng", "config"} <= set(state)
    assert state["config"]["train"]["iters"] == 6
    assert state["scheduler"]["last_epoch"] == 6
    with pytest.raises(UserError, match="no checkpoint"):
        Trainer(_model(0), _Pairs(), cfg, out=tmp_path / "empty", quiet=True).fit(resume=True)
    # resuming a finished run only rewrites the model file
    result = Trainer(_model(0), _Pairs(), cfg, quiet=True).fit(resume=True)
    assert result.iters_done == 6 and (out / "model.safetensors").is_file()


def test_keep_step_numbered_checkpoints(tmp_path: Path) -> None:
    cfg = config_from_dict({**_cfg(tmp_path).to_dict(), "train": {
        **_cfg(tmp_path).to_dict()["train"], "iters": 4, "ckpt_every": 2, "keep_ckpts": True}})
    Trainer(_model(0), _Pairs(), cfg, quiet=True).fit()
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["iter_2.pt", "iter_4.pt", "last.pt"]


def test_rng_round_trip() -> None:
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    state = capture_rng()
    expected = (torch.rand(2), np.random.rand(2), random.random())
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    restore_rng(state)
    assert torch.equal(torch.rand(2), expected[0])
    assert np.array_equal(np.random.rand(2), expected[1])
    assert random.random() == expected[2]


def test_bad_checkpoint_file(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a readable training checkpoint"):
        load_checkpoint(path)
    torch.save({"format": "something-else"}, path)
    with pytest.raises(UserError, match="not an srprune training checkpoint"):
        load_checkpoint(path)


def test_config_changes_reported(tmp_path: Path) -> None:
    from srprune.train.loop import config_changes

    cfg = _cfg(tmp_path)
    saved = cfg.to_dict()
    assert config_changes(saved, cfg) == []
    other = config_from_dict({**saved, "out": "elsewhere",
                              "data": {**saved["data"], "batch_size": 5}})
    assert config_changes(saved, other) == ["data.batch_size"]
    no_periods = config_from_dict({**saved, "optim": {**saved["optim"], "scheduler": {}}})
    longer = config_from_dict({**no_periods.to_dict(), "train": {**saved["train"], "iters": 9}})
    assert config_changes(no_periods.to_dict(), longer) == [
        "optim.scheduler.periods (follows train.iters)"]

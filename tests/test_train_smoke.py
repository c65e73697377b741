"""End-to-end: a tiny BasicVSR trains a few iterations with every pluggable part in use."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from srprune.errors import UserError
from srprune.io.model_file import load_model
from srprune.models.registry import create_model
from srprune.protocols import ModelOutput
from srprune.train.config import config_from_dict
from srprune.train.loop import Trainer
from srprune.train.schedule import cosine_restart_lr
from srprune.train.terms import TemporalTerm


class _Clips(Dataset):
    """Random (N,3,p,p) LR windows with (N,3,4p,4p) GT."""

    def __init__(self, frames: int = 2, patch: int = 8) -> None:
        self.frames, self.patch = frames, patch

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        p = self.patch
        return {"lq": torch.rand(self.frames, 3, p, p),
                "gt": torch.rand(self.frames, 3, 4 * p, 4 * p)}


def _cfg(out: Path, **train):
    return config_from_dict({
        "model": {"name": "basicvsr-4-1"},
        "data": {"batch_size": 2},
        "optim": {"fix_flow_iters": 2},
        "train": {"iters": 3, "log_every": 1, "ckpt_every": 2, "device": "cpu",
                  "tensorboard": True, "ema": 0.5, **train},
        "out": str(out)})


def test_tiny_basicvsr_smoke(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("basicvsr-4-1")
    teacher = copy.deepcopy(model)
    spynet_before = {k: v.clone() for k, v in model.spynet.state_dict().items()}
    seen: list[tuple[int, bool, bool]] = []
    probe = model.spynet.basic_module[0].basic_module[0].weight

    def sparsity(m, batch, output: ModelOutput, step: int) -> dict[str, torch.Tensor]:
        assert m is model and output.hidden is not None and batch["lq"].dim() == 5
        return {"l2": 1e-4 * m.fusion.weight.pow(2).sum()}

    def watch(iters_done: int, logs: dict[str, float]) -> None:
        key = "basic_module.0.basic_module.0.weight"
        seen.append((iters_done, probe.requires_grad, torch.equal(probe, spynet_before[key])))

    result = Trainer(model, _Clips(), _cfg(tmp_path), quiet=True,
                     terms=[TemporalTerm(teacher, 1e-2), sparsity], callbacks=[watch],
                     validate=lambda m: {"psnr": 20.0, "ssim": 0.5}).fit()

    assert result.iters_done == 3 and result.last_val == {"psnr": 20.0, "ssim": 0.5}
    # fixed flow for 2 iterations: untouched, then trained
    assert seen == [(1, False, True), (2, False, True), (3, True, False)]
    assert (tmp_path / "checkpoints" / "last.pt").is_file()
    assert list((tmp_path / "tb").iterdir())
    records = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    train_logs = [r for r in records if "loss" in r]
    assert [r["iter"] for r in train_logs] == [1, 2, 3]
    for r in train_logs:
        assert r["loss"] == pytest.approx(r["loss/charbonnier"] + r["loss/temporal"]
                                          + r["loss/l2"], rel=1e-5)
        assert r["lr/flow"] == pytest.approx(cosine_restart_lr(2e-4 * 0.125, r["iter"], [3],
                                                                [1.0], 1e-7))
    assert train_logs[0]["loss/temporal"] == 0.0  # student == teacher before the first update
    assert train_logs[1]["loss/temporal"] > 0.0
    assert any("val/psnr" in r for r in records)

    saved = load_model(tmp_path / "model.safetensors")
    assert saved.config == model.config and saved.extra["trained_iters"] == 3
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["iters_done"] == 3 and state["ema"] is not None
    # the saved model holds the EMA weights, not the live ones
    live = state["model"]["fusion.weight"]
    assert not torch.equal(saved.state_dict()["fusion.weight"], live)
    assert torch.equal(saved.state_dict()["fusion.weight"], state["ema"]["module.fusion.weight"])


def test_frozen_modules_and_errors(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("basicvsr-4-1")
    before = {k: v.clone() for k, v in model.spynet.state_dict().items()}
    Trainer(model, _Clips(), _cfg(tmp_path / "a", iters=1), frozen=["spynet"],
            quiet=True).fit()
    assert all(torch.equal(before[k], v) for k, v in model.spynet.state_dict().items())
    with pytest.raises(UserError, match="no such submodule"):
        Trainer(create_model("basicvsr-4-1"), _Clips(), _cfg(tmp_path / "b"),
                frozen=["flownet"], quiet=True).fit()
    with pytest.raises(UserError, match=r"\(B,N,3,h,w\)"):
        Trainer(create_model("basicvsr-4-1"), _ImageLike(), _cfg(tmp_path / "c"),
                quiet=True).fit()


class _ImageLike(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"lq": torch.rand(3, 8, 8), "gt": torch.rand(3, 32, 32)}


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_train_and_resume(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, device="cuda", iters=4)
    torch.manual_seed(0)
    first = Trainer(create_model("basicvsr-4-1"), _Clips(), cfg, quiet=True).fit()
    assert first.model_path is not None
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["rng"]["cuda"]  # CUDA generator states are saved
    longer = _cfg(tmp_path, device="cuda", iters=5)
    result = Trainer(create_model("basicvsr-4-1"), _Clips(), longer, quiet=True).fit(resume=True)
    assert result.iters_done == 5
    assert load_model(tmp_path / "model.safetensors").extra["trained_iters"] == 5

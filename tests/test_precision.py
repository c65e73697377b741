"""Mixed precision: bf16 autocast on the CPU (tolerances stated), fp16 refused without CUDA,
the same paths on a GPU when there is one (``-m cuda``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from srprune.errors import UserError
from srprune.eval.evaluate import super_resolve
from srprune.models.registry import create_model
from srprune.precision import check_precision
from srprune.runs.common import training_inputs
from srprune.train.config import config_from_dict
from srprune.train.loop import Trainer

# bf16 keeps 8 bits of mantissa (relative step 2^-8 = 0.4 %): a tiny BasicVSR's [0, 1] output
# moves by at most BF16_OUT (5e-4 measured) and the first Charbonnier loss by at most BF16_LOSS
# (relative).
BF16_OUT = 5e-3
BF16_LOSS = 0.02


class Clips(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(index)
        return {"lq": torch.rand(2, 3, 8, 8, generator=g),
                "gt": torch.rand(2, 3, 32, 32, generator=g)}


def _cfg(tmp: Path, precision: str, device: str = "cpu"):
    return config_from_dict({
        "model": {"name": "basicvsr-4-1"}, "data": {"batch_size": 2},
        "optim": {"lr": 1e-3},
        "train": {"iters": 2, "log_every": 1, "ckpt_every": 0, "device": device,
                  "tensorboard": False, "precision": precision},
        "out": str(tmp / precision)})


def _first_losses(tmp: Path, precision: str, device: str = "cpu") -> list[float]:
    torch.manual_seed(0)
    model = create_model("basicvsr-4-1")
    result = Trainer(model, Clips(), _cfg(tmp, precision, device), quiet=True,
                     save_final=False).fit()
    assert result.iters_done == 2
    import json

    lines = (tmp / precision / "train_log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def test_bf16_inference_close_to_fp32_and_returns_fp32() -> None:
    model = create_model("basicvsr-4-1").eval()
    lr = torch.rand(3, 3, 12, 12)
    ref = super_resolve(model, lr, "cpu")
    out = super_resolve(model, lr, "cpu", precision="bf16")
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert 0 < (out - ref).abs().max() <= BF16_OUT  # autocast really ran, and stayed close


def test_bf16_training_matches_fp32_loss(tmp_path: Path) -> None:
    fp32 = _first_losses(tmp_path, "fp32")
    bf16 = _first_losses(tmp_path, "bf16")
    assert all(torch.isfinite(torch.tensor(bf16)))
    assert bf16[0] == pytest.approx(fp32[0], rel=BF16_LOSS)


def test_fp16_needs_cuda(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="fp16 autocast needs a CUDA device"):
        check_precision("fp16", "cpu")
    with pytest.raises(UserError, match="CUDA"):
        Trainer(create_model("basicvsr-4-1"), Clips(), _cfg(tmp_path, "fp16"), quiet=True)


def test_precision_key_is_typed_and_in_fingerprints(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="train.precision"):
        config_from_dict({"model": {"name": "basicvsr-4-1"}, "train": {"precision": "fp8"}})
    assert "precision" not in training_inputs(_cfg(tmp_path, "fp32"))["train"]
    assert training_inputs(_cfg(tmp_path, "bf16"))["train"]["precision"] == "bf16"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_autocast_training_and_inference(precision: str, tmp_path: Path) -> None:
    fp32 = _first_losses(tmp_path, "fp32", "cuda")
    low = _first_losses(tmp_path, precision, "cuda")
    assert low[0] == pytest.approx(fp32[0], rel=BF16_LOSS)
    model = create_model("basicvsr-4-1").eval().cuda()
    lr = torch.rand(3, 3, 12, 12)
    ref = super_resolve(model, lr, "cuda")
    out = super_resolve(model, lr, "cuda", precision=precision)
    assert out.dtype == torch.float32 and (out - ref).abs().max() <= BF16_OUT


def test_precision_flag_overrides_config(tmp_path: Path, capsys) -> None:
    import json

    from srprune.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: basicvsr-4-1}\ntrain: {precision: fp32}\n")
    assert main(["train", "--config", str(cfg), "--precision", "bf16", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["train"]["precision"] == "bf16"

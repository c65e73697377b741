"""``srprune prune`` under torchrun: two gloo processes with half the global batch each give
the same losses, scales (SSL's gammas; ASSL's weight-norm scales, aligned stream sets) and
compact model as one process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from srprune.io.model_file import save_model
from srprune.models.registry import create_model
from test_train_distributed import _env, _free_port

CONFIG = """
prune: {ratio: 0.5, delta: 0.05, t1: 1, tau: 0.1, t2: 1, report_lr_size: [16, 16]}
data: {layout: frames, root: default, num_frames: 3, lr_patch: 12, batch_size: 2}
train: {iters: 2, log_every: 1, ckpt_every: 0, device: cpu, tensorboard: false}
"""


def _losses(path: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, path.read_text().splitlines()) if "loss" in r]


@pytest.mark.parametrize("method", ["ssl", "assl"])
def test_ddp_prune_equals_one_process(method: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    dense = save_model(tmp_path / "dense.safetensors", create_model("basicvsr-uni-8-1"))
    config = tmp_path / "prune.yaml"
    config.write_text(CONFIG)
    args = ["-m", "srprune.cli", "prune", "--method", method, "--model", str(dense), "--config",
            str(config), "--device", "cpu", "--no-latency", "--quiet", "--out"]
    one = subprocess.run([sys.executable, *args, str(tmp_path / "one")], env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", str(_free_port()), *args, str(tmp_path / "two")],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]

    a, b = tmp_path / "one", tmp_path / "two"
    for stage in ("regularize", "finetune"):
        x, y = _losses(a / stage / "train_log.jsonl"), _losses(b / stage / "train_log.jsonl")
        assert len(x) == len(y) >= 2
        assert y == pytest.approx(x, abs=1e-5)
    gammas_a = json.loads((a / "regularize" / "gammas.json").read_text())
    gammas_b = json.loads((b / "regularize" / "gammas.json").read_text())
    assert gammas_a[-1] == pytest.approx(gammas_b[-1], abs=1e-5)
    assert json.loads((a / "selection.json").read_text())["groups"] == \
        json.loads((b / "selection.json").read_text())["groups"]
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], atol=1e-5, rtol=1e-4)
    ra = json.loads((a / "report.json").read_text())
    rb = json.loads((b / "report.json").read_text())
    assert ra["rows"] == rb["rows"] and ra["latency"] == {"measured": False}
    run = json.loads((b / "run.json").read_text())["stages"]
    assert all(run[s]["state"] == "done" for s in
               ("select", "regularize", "remove", "finetune", "report"))

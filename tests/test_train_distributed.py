"""DDP: two gloo processes with half the batch each train exactly like one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from srprune.train.distributed import DistEnv, detect, mean_over_ranks

SCRIPT = textwrap.dedent('''
    import json
    import sys

    import torch
    from torch.utils.data import Dataset

    from srprune.models.registry import create_model
    from srprune.train.config import config_from_dict
    from srprune.train.distributed import detect
    from srprune.train.loop import Trainer

    torch.set_num_threads(1)


    class Clips(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, index):
            return {"lq": torch.rand(2, 3, 8, 8), "gt": torch.rand(2, 3, 32, 32)}


    cfg = config_from_dict({
        "model": {"name": "basicvsr-4-1"},
        "data": {"batch_size": 4},
        "optim": {"lr": 1e-3, "fix_flow_iters": 1},
        "train": {"iters": 3, "log_every": 1, "ckpt_every": 3, "device": "cpu",
                  "tensorboard": False, "ema": 0.9},
        "out": sys.argv[1]})
    sizes = []


    def record(model, batch, output, step):
        sizes.append(int(batch["lq"].shape[0]))
        return {}


    torch.manual_seed(0)
    Trainer(create_model("basicvsr-4-1"), Clips(), cfg, terms=[record], quiet=True).fit()
    rank = detect().rank
    with open(f"{sys.argv[1]}/sizes_{rank}.json", "w") as f:
        json.dump(sizes, f)
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(out: Path) -> list[tuple[int, float]]:
    lines = (out / "train_log.jsonl").read_text().splitlines()
    return [(r["iter"], r["loss"]) for r in map(json.loads, lines) if "loss" in r]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_two_processes_equal_one(tmp_path: Path) -> None:
    script = tmp_path / "train_tiny.py"
    script.write_text(SCRIPT)
    single, multi = tmp_path / "single", tmp_path / "multi"
    one = subprocess.run([sys.executable, str(script), str(single)], env=_env(),
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", str(_free_port()), str(script), str(multi)],
                         env=_env(), capture_output=True, text=True, timeout=120)
    assert two.returncode == 0, two.stderr[-3000:]

    a, b = _losses(single), _losses(multi)
    assert [i for i, _ in a] == [1, 2, 3] == [i for i, _ in b]
    for (_, x), (_, y) in zip(a, b, strict=True):
        assert y == pytest.approx(x, abs=1e-5)
    assert json.loads((single / "sizes_0.json").read_text()) == [4, 4, 4]
    for rank in (0, 1):  # each rank trained on its half of every global batch
        assert json.loads((multi / f"sizes_{rank}.json").read_text()) == [2, 2, 2]
    assert (multi / "model.safetensors").is_file()
    assert (multi / "checkpoints" / "last.pt").is_file()


def test_env_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert detect() == DistEnv(0, 1, 0) and detect().is_main and not detect().enabled
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    env = detect()
    assert env == DistEnv(3, 4, 1) and env.enabled and not env.is_main
    assert mean_over_ranks({"a": 1.0}, DistEnv()) == {"a": 1.0}

"""The prune report says what it timed, or that it timed nothing (--no-latency)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.io.model_file import save_model
from srprune.models.registry import create_model

CONFIG = """
prune: {ratio: 0.5, report_lr_size: [16, 16], latency_frames: 2, latency_repeats: 1}
data: {layout: frames, root: default, num_frames: 3, lr_patch: 16, batch_size: 1}
train: {iters: 1, device: cpu, tensorboard: false}
"""


def _prune(tmp: Path, *flags: str) -> dict:
    torch.manual_seed(0)
    dense = save_model(tmp / "dense.safetensors", create_model("basicvsr-uni-8-1"))
    (tmp / "p.yaml").write_text(CONFIG)
    out = tmp / "out"
    assert main(["prune", "--method", "l1", "--model", str(dense), "--config",
                 str(tmp / "p.yaml"), "--out", str(out), "--device", "cpu", "--quiet",
                 "--stages", "select,remove,report", *flags]) == 0
    return json.loads((out / "report.json").read_text()) | {
        "md": (out / "report.md").read_text()}


def test_no_latency(tmp_path: Path) -> None:
    r = _prune(tmp_path, "--no-latency", "--threads", "1")
    assert r["latency"] == {"measured": False} and r["speedup"] is None
    assert all("latency_ms_per_frame" not in row for row in r["rows"].values())
    assert "Latency not measured" in r["md"] and "ms/frame" not in r["md"]
    assert r["mac_reduction"] > 1


def test_report_says_what_it_timed(tmp_path: Path) -> None:
    r = _prune(tmp_path, "--set", "prune.latency_lr_size=[8,12]", "--threads", "1")
    t = r["latency"]
    assert t["measured"] and t["lr_size"] == [8, 12] and t["frames"] == 2
    assert t["repeats"] == 1 and t["threads"] == 1 and t["device"] == "cpu"
    assert r["lr_size"] == [16, 16]  # MACs stay at report_lr_size
    assert "at LR 8x12 on cpu, 1 thread," in r["md"] and r["speedup"] > 0


def test_threads_flag_is_checked(capsys) -> None:
    for bad in ("0", "1000000000"):  # 1 to 4 x the cores, checked by argparse (exit 2)
        with pytest.raises(SystemExit) as stop:
            main(["profile", "--model", "basicvsr-4-1", "--lr-size", "8x8", "--no-latency",
                  "--threads", bad])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "argument --threads" in err and "out of bounds" in err

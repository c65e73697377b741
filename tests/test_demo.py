"""The demo: prune a BasicVSR on the embedded clips, report, upscale; the shipped models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srprune.cli import main
from srprune.demo import shipped_model
from srprune.io.model_file import load_model, read_header
from srprune.models.demo_model import SHIPPED


@pytest.mark.parametrize("causal", [False, True])
def test_shipped_dense_models_load_and_say_how_they_were_made(causal: bool) -> None:
    path = shipped_model(causal)
    assert path.name == SHIPPED[causal] and path.is_file()
    model = load_model(path)
    cfg = model.config
    assert (cfg.num_feat, cfg.num_block, cfg.flow_feat) == (32, 8, 8)
    assert cfg.bidirectional is not causal and model.causal is causal
    extra = read_header(path)["extra"]
    assert extra["demo"] is True and extra["trained_iters"] == 800


def test_tiny_demo_trains_prunes_reports_and_upscales(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--train", "--feat", "4", "--blocks", "1", "--iters", "2", "--reg-iters",
            "2", "--finetune-iters", "2", "--out", str(out), "--quiet", "--device", "cpu"]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "| compact |" in said and "| bicubic |" in said and "fewer MACs" in said
    report = json.loads((out / "report.json").read_text())
    rows = report["rows"]
    assert rows["compact"]["macs_per_frame"] < rows["dense"]["macs_per_frame"]
    assert rows["compact"]["params"] < rows["dense"]["params"]
    assert Path(report["video"]).stat().st_size > 0
    assert (out / "side_by_side.png").is_file() and (out / "report.md").is_file()
    assert load_model(report["compact_model"]).config.num_feat == 4
    assert report["drift"].startswith("drift over 100 frames") and "temporal drift over" in (
        out / "report.md").read_text()
    stamp = Path(report["compact_model"]).stat().st_mtime
    assert main(args) == 0  # a rerun reuses the finished stages
    assert Path(report["compact_model"]).stat().st_mtime == stamp

"""srprune experiment: the plan, resumption and the tables on a tiny grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.experiment import ExperimentConfig, plan
from srprune.io.model_file import save_model
from srprune.models.registry import create_model
from test_prune_pipeline import CONFIG


def test_plan_covers_the_tables_and_shares_the_ssl_run() -> None:
    cfg = ExperimentConfig(prune_config="x.yaml", dense="d.safetensors",
                           methods=("ssl", "l1"), ratios=(0.3, 0.5), ablation_ratio=0.5,
                           criteria_ratios=(0.5,), seeds=(0, 1))
    specs = plan(cfg)
    assert len([s for s in specs if s.table == "table3"]) == 2 * 2 * 2
    assert len([s for s in specs if s.table == "table2"]) == 4 * 2
    assert len([s for s in specs if s.table == "table4"]) == 5 * 2
    ssl = {s.folder for s in specs if s.table == "table3" and s.method == "ssl"}
    full = {s.folder for s in specs if s.row.endswith("(SSL)")}
    assert full <= ssl


def test_tiny_experiment_writes_tables_and_resumes(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    dense = save_model(tmp_path / "dense.safetensors", create_model("basicvsr-uni-8-1"))
    prune_cfg = tmp_path / "prune.yaml"
    prune_cfg.write_text(CONFIG)
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"prune_config: {prune_cfg}\ndense: {dense}\nmethods: [ssl, l1]\n"
                   f"ratios: [0.5]\nablation_ratio: null\nout: {tmp_path / 'out'}\n"
                   "device: cpu\n")
    assert main(["experiment", str(exp), "--quiet"]) == 0
    table = (tmp_path / "out" / "table3.md").read_text()
    assert "| ssl |" in table and "| l1 |" in table and "bicubic" in table
    assert (tmp_path / "out" / "psnr_vs_macs.png").is_file()
    stamp = (tmp_path / "out" / "runs" / "ssl_p0.5_s0" / "model.safetensors").stat().st_mtime
    assert main(["experiment", str(exp), "--quiet"]) == 0  # finished runs are skipped
    assert (tmp_path / "out" / "runs" / "ssl_p0.5_s0" / "model.safetensors").stat().st_mtime \
        == stamp


def test_experiment_config_errors_are_one_line(tmp_path: Path, capsys) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text("prune_config: p.yaml\ndense: d.safetensors\nratio: 0.5\n")
    assert main(["experiment", str(exp)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ratio" in err[0]
    with pytest.raises(SystemExit):
        main(["experiment"])

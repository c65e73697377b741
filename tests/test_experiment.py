"""srprune experiment: the plan, resumption and the tables on a tiny grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.io.model_file import save_model
from srprune.models.registry import create_model
from srprune.runs.experiment import ExperimentConfig, load_experiment, plan, write_tables
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


def test_plan_extra_cells_control_and_table_seeds(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text("prune_config: p.yaml\ndense: d.safetensors\nmethods: [ssl, assl]\n"
                   "ratios: [0.5]\nseeds: [0, 1, 2]\ncontrol: true\nablation_ratio: 0.5\n"
                   "ablation_seeds: [0]\ncriteria_ratios: [0.5]\ncriteria_seeds: [0]\n"
                   "extra:\n  - {method: assl, ratios: [0.3, 0.7], seeds: [0]}\n")
    specs = plan(load_experiment(exp))
    table3 = [(s.method, s.ratio, s.seed) for s in specs if s.table == "table3"]
    assert len(table3) == 2 * 3 + 2
    assert ("assl", 0.3, 0) in table3 and ("assl", 0.7, 1) not in table3
    control = [s for s in specs if s.table == "control"]
    assert [s.seed for s in control] == [0, 1, 2]
    assert all(s.ratio == 0.0 and s.method == "ssl" for s in control)
    assert len([s for s in specs if s.table == "table2"]) == 4
    table4 = {s.row: s.folder for s in specs if s.table == "table4"}
    assert len(table4) == 5 and table4["Min + Global"] == "ssl_p0.5_s0"  # Table 3's SSL run
    exp.write_text("prune_config: p.yaml\ndense: d.safetensors\nextra: [{method: ssl}]\n")
    with pytest.raises(Exception, match="extra"):
        load_experiment(exp)


def _fake_run(table: str, row: str, ratio: float, seed: int, psnr: float) -> dict:
    size = {"params": 1e6, "macs_per_frame": 2e9, "macs_per_frame_excl_flow": 1e9}
    return {"spec": {"table": table, "row": row, "method": row, "ratio": ratio, "seed": seed,
                     "overrides": {}}, "iters": 400,
            "report": {"lr_size": [8, 8], "rows": {
                "bicubic": {"psnr": 20.0, "ssim": 0.5}, "dense": {**size, "psnr": 25.0,
                                                                  "ssim": 0.7},
                "compact": {**size, "psnr": psnr, "ssim": 0.6}}}}


def test_tables_show_mean_and_std_over_seeds_and_the_control(tmp_path: Path) -> None:
    runs = [_fake_run("table3", "ssl", 0.5, s, 24.0 + s) for s in range(3)]
    runs += [_fake_run("table3", "ssl", 0.3, 0, 24.5)]
    runs += [_fake_run("control", "dense, trained on", 0.0, s, 25.1 + s / 10) for s in (0, 1)]
    write_tables({"runs": runs}, tmp_path)
    table = (tmp_path / "table3.md").read_text()
    assert "25.00 ± 1.00 / 0.6000 ± 0.0000 (n=3)" in table  # mean ± sample std
    assert "| ssl | 24.50 / 0.6000" in table
    assert "dense + 400 more iterations" in table and "25.15 ± 0.07" in table
    assert (tmp_path / "psnr_vs_macs.png").is_file()


def test_tiny_experiment_writes_tables_and_resumes(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    dense = save_model(tmp_path / "dense.safetensors", create_model("basicvsr-uni-8-1"))
    prune_cfg = tmp_path / "prune.yaml"
    prune_cfg.write_text(CONFIG)
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"prune_config: {prune_cfg}\ndense: {dense}\nmethods: [ssl, l1]\n"
                   f"ratios: [0.5]\nablation_ratio: null\nout: {tmp_path / 'out'}\n"
                   "device: cpu\ncontrol: true\n")
    # two shards side by side do the runs (no tables); the plain run then only collects
    for shard in ("1/2", "2/2"):
        assert main(["experiment", str(exp), "--quiet", "--shard", shard]) == 0
    assert not (tmp_path / "out" / "table3.md").exists()
    ssl_model = tmp_path / "out" / "runs" / "ssl_p0.5_s0" / "model.safetensors"
    sharded = ssl_model.stat().st_mtime
    capsys.readouterr()
    assert main(["experiment", str(exp), "--quiet"]) == 0
    assert ssl_model.stat().st_mtime == sharded  # the shard's run was taken, not redone
    said = capsys.readouterr().out
    assert "table3.md" in said and "table2.md" not in said  # only what it wrote
    table = (tmp_path / "out" / "table3.md").read_text()
    assert "| ssl |" in table and "| l1 |" in table and "bicubic" in table
    assert "more iterations, unpruned" in table  # the control row
    runs = json.loads((tmp_path / "out" / "experiment.json").read_text())["runs"]
    control = next(r for r in runs if r["spec"]["table"] == "control")
    ssl = next(r for r in runs if r["spec"]["row"] == "ssl")
    rows = control["report"]["rows"]
    assert rows["compact"]["params"] == rows["dense"]["params"]  # trained on, not pruned
    assert control["iters"] == ssl["iters"] > 0  # as long as an SSL run trains
    l1 = next(r for r in runs if r["spec"]["row"] == "l1")
    macs = [r["report"]["rows"]["compact"]["macs_per_frame_excl_flow"] for r in (ssl, l1)]
    assert abs(macs[0] - macs[1]) <= 0.01 * macs[0]  # compared at equal MACs (the default)
    assert "equal size" in table
    assert (tmp_path / "out" / "psnr_vs_macs.png").is_file()
    stamp = (tmp_path / "out" / "runs" / "ssl_p0.5_s0" / "model.safetensors").stat().st_mtime
    assert main(["experiment", str(exp), "--quiet"]) == 0  # finished runs are skipped
    assert ssl_model.stat().st_mtime == stamp
    l1_select = tmp_path / "out" / "runs" / "l1_p0.5_s0" / "selection.json"
    l1_stamp = l1_select.stat().st_mtime
    # an edited pruning config reruns exactly what it affects: SSL's regularisation (tau), not
    # the selections, and every stage after it
    prune_cfg.write_text(CONFIG.replace("tau: 0.1", "tau: 0.2"))
    assert main(["experiment", str(exp), "--quiet"]) == 0
    assert ssl_model.stat().st_mtime != stamp
    assert l1_select.stat().st_mtime == l1_stamp
    again = json.loads((tmp_path / "out" / "experiment.json").read_text())["runs"]
    before = {r["folder"]: r["fingerprint"] for r in runs}
    after = {r["folder"]: r["fingerprint"] for r in again}
    assert all(after[f] != before[f] for f in after if "/ssl_" in f)
    assert (tmp_path / "out" / "runs" / "ssl_p0.5_s0" / "run.json").is_file()


@pytest.mark.parametrize("text,message", [
    ("ratio: 0.5\n", "unknown config key ratio"),
    ("ratios: [0.5, 1.5]\n", "ratios[1]: must be in [0, 1)"),
    ("methods: [ssl, magic]\n", "methods[1]: unknown method 'magic'"),
    ("seeds: [1e30]\n", "seeds[0]: must be <= 4294967295"),
    ("control: 'yes'\n", "control: expected true/false"),
    ("extra: [{method: l1, ratios: [0.5]}]\n", "missing config key extra[0].seeds"),
    ("ratios: [0.5\n", "not valid YAML"),
])
def test_experiment_config_errors_are_one_line(tmp_path: Path, capsys, text: str,
                                               message: str) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text("prune_config: p.yaml\ndense: d.safetensors\n" + text)
    assert main(["experiment", str(exp)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_experiment_needs_its_config() -> None:
    with pytest.raises(SystemExit):
        main(["experiment"])


@pytest.mark.parametrize("shard", ["0/2", "3/2", "a/b", "2"])
def test_experiment_bad_shard_is_one_line(tmp_path: Path, capsys, shard: str) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text("prune_config: p.yaml\ndense: d.safetensors\n")
    assert main(["experiment", str(exp), "--shard", shard]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--shard wants I/N" in err[0], err

"""srprune prune end to end on a tiny model: every stage, resumption, the compact result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.io.model_file import load_model, save_model
from srprune.models.registry import create_model

CONFIG = """
prune:
  ratio: 0.5
  delta: 0.05
  t1: 1
  tau: 0.1
  t2: 2
  report_lr_size: [16, 16]
  latency_frames: 2
  latency_repeats: 1
  drift_frames: 0
data:
  layout: frames
  root: default
  num_frames: 3
  lr_patch: 16
  batch_size: 1
  val: {layout: frames, root: default, max_clips: 1, max_frames: 3}
train:
  iters: 2
  log_every: 1
  ckpt_every: 1
  device: cpu
  tensorboard: false
"""


@pytest.fixture(scope="module")
def dense(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_model(tmp_path_factory.mktemp("dense") / "dense.safetensors",
                      create_model("basicvsr-uni-8-1"))


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "prune.yaml"
    path.write_text(CONFIG)
    return path


@pytest.mark.parametrize("method", ["ssl", "l1", "scratch", "assl", "assl-shared"])
def test_prune_runs_every_stage(method: str, dense: Path, config: Path, tmp_path: Path) -> None:
    out = tmp_path / method
    if method == "ssl":  # the long-clip drift (off in CONFIG: it costs seconds per run)
        config.write_text(CONFIG.replace("drift_frames: 0", "drift_frames: 24\n"
                                         "  drift_lr_size: [16, 12]"))
    assert main(["prune", "--method", method, "--model", str(dense), "--config", str(config),
                 "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    for name in ("selection.json", "regularized.safetensors", "pruned.safetensors",
                 "model.safetensors", "report.json", "report.md", "ratios.png"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["rows"]["compact"]["params"] < report["rows"]["dense"]["params"]
    assert report["mac_reduction"] > 1.0
    assert {"bicubic", "dense", "compact"} <= set(report["rows"])
    compact = load_model(out / "model.safetensors")
    with torch.no_grad():
        assert compact(torch.rand(1, 2, 3, 9, 11)).shape == (1, 2, 3, 36, 44)
    if method.startswith("assl"):  # the hidden state itself shrank
        assert compact.forward_trunk.width < 8
    # temporal error propagation: per frame, output and hidden-state drift from dense
    temporal = json.loads((out / "temporal.json").read_text())
    row = temporal["rows"]["compact"]
    assert len(row["output_mae"]) == temporal["frames"] >= 2
    assert len(row["hidden_mae"]["forward"]) == temporal["frames"]  # kept channels if narrowed
    assert (out / "temporal.png").is_file() and "temporal" in report
    if method == "ssl":  # compact vs dense over the first val clip played ping-pong
        drift = report["drift"]
        assert drift["frames"] == len(drift["psnr"]) == 24 and drift["window"] == 10
        assert drift["lr_size"] == [16, 12] and isinstance(drift["growth"], bool)
        assert drift["summary"] in (out / "report.md").read_text()
        assert json.loads((out / "run.json").read_text())["stages"]["report"]["inputs"][
            "drift"] == [24, [16, 12]]
    else:
        assert "drift" not in report
    if method == "ssl":
        gammas = json.loads((out / "regularize" / "gammas.json").read_text())
        assert gammas[-1]["gamma_selected"] < gammas[-1]["gamma_kept"]
        _upscale_with(out / "model.safetensors", tmp_path)


def _upscale_with(model: Path, tmp_path: Path) -> None:
    """The compact file drives `srprune upscale` like any model."""
    import numpy as np

    from srprune.data.images import list_images, read_image, write_image

    frames = tmp_path / "lr"
    rng = np.random.default_rng(0)
    for t in range(4):
        write_image(frames / f"{t:03d}.png", rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    out = tmp_path / "sr"
    assert main(["upscale", "--model", str(model), "--input", str(frames), "--output", str(out),
                 "--device", "cpu", "--quiet"]) == 0
    sr = list_images(out)
    assert len(sr) == 4 and read_image(sr[0]).shape == (40, 48, 3)


def test_stages_run_alone_and_select_remove_is_one_shot(dense: Path, config: Path,
                                                        tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["prune", "--method", "ssl", "--model", str(dense), "--config", str(config),
            "--out", str(out), "--device", "cpu", "--quiet"]
    assert main([*args, "--stages", "select"]) == 0
    assert not (out / "pruned.safetensors").exists()
    assert main([*args, "--stages", "finetune"]) == 2  # needs remove first
    assert "pruned.safetensors" in capsys.readouterr().err
    assert main([*args, "--stages", "select,remove"]) == 0  # select done; remove from dense
    compact = load_model(out / "pruned.safetensors")
    assert sum(p.numel() for p in compact.parameters()) < \
        sum(p.numel() for p in load_model(dense).parameters())
    before = (out / "selection.json").read_text()
    assert main([*args, "--stages", "select,remove"]) == 0  # both done: skipped
    assert (out / "selection.json").read_text() == before
    # asking for regularize now changes what remove reads: refused, then redone with --force
    assert main([*args, "--stages", "regularize,remove"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stage remove" in err[0] and "--force" in err[0]
    assert main([*args, "--stages", "regularize,remove", "--force"]) == 0


def _run(dense: Path, config: Path, out: Path, *extra: str, method: str = "l1") -> int:
    return main(["prune", "--method", method, "--model", str(dense), "--config", str(config),
                 "--out", str(out), "--device", "cpu", "--quiet", *extra])


@pytest.mark.parametrize("change,expect", [
    (["--ratio", "0.3"], "ratio 0.5 -> 0.3"),
    (["--method", "ssl"], "method.name l1 -> ssl"),
    (["--set", "train.iters=3"], "training.train.iters 2 -> 3"),
    (["--model", "OTHER"], "dense "),
])
def test_rerun_with_changed_settings_never_reports_the_old_result(
        dense: Path, config: Path, tmp_path: Path, capsys, change: list[str],
        expect: str) -> None:
    out = tmp_path / "run"
    assert _run(dense, config, out) == 0
    report = (out / "report.json").read_text()
    if change[0] == "--model":
        torch.manual_seed(1)
        other = save_model(tmp_path / "other.safetensors", create_model("basicvsr-uni-8-1"))
        change = ["--model", str(other)]
    method = change[1] if change[0] == "--method" else "l1"
    extra = [] if change[0] == "--method" else change
    capsys.readouterr()
    assert _run(dense if change[0] != "--model" else Path(change[1]), config, out,
                *[e for e in extra if change[0] != "--model"], method=method) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expect in err[0] and "--force" in err[0], err
    assert (out / "report.json").read_text() == report  # untouched, and never re-reported
    assert _run(dense if change[0] != "--model" else Path(change[1]), config, out,
                *[e for e in extra if change[0] != "--model"], "--force", method=method) == 0
    assert (out / "report.json").read_text() != report
    new = json.loads((out / "report.json").read_text())
    if change[0] == "--ratio":
        assert new["ratio"] == 0.3
    run = json.loads((out / "run.json").read_text())
    assert all(v["state"] == "done" for v in run["stages"].values())


def test_same_settings_skip_and_every_file_loads(dense: Path, config: Path, tmp_path: Path,
                                                 capsys) -> None:
    out = tmp_path / "run"
    assert _run(dense, config, out, method="ssl") == 0
    stamps = {p: p.stat().st_mtime for p in out.glob("*.safetensors")}
    capsys.readouterr()
    assert main(["prune", "--method", "ssl", "--model", str(dense), "--config", str(config),
                 "--out", str(out), "--device", "cpu"]) == 0
    said = capsys.readouterr().out
    assert said.count("done already") == 5
    assert stamps == {p: p.stat().st_mtime for p in out.glob("*.safetensors")}
    selection = json.loads((out / "selection.json").read_text())
    assert selection["scorer"] == {"name": "l1_scores", "norm": "mean"}
    assert len(selection["fingerprint"]) == 64
    for path in out.rglob("*.safetensors"):  # no stage leaves a file load_model refuses
        load_model(path)


def test_bad_prune_config_is_one_line(dense: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.replace("ratio: 0.5", "ratio: 0.5\n  colour: red"))
    code = main(["prune", "--method", "ssl", "--model", str(dense), "--config", str(bad),
                 "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "prune.colour" in err[0]


@pytest.mark.parametrize("method", ["ssl", "assl"])
def test_prunes_an_image_model(method: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    dense = save_model(tmp_path / "edsr.safetensors", create_model("edsr-2-8", 2))
    cfg = tmp_path / "edsr.yaml"
    cfg.write_text(CONFIG.replace("layout: frames", "layout: sisr")
                   .replace("  num_frames: 3\n", "")
                   .replace("max_clips: 1, max_frames: 3", "max_clips: 2"))
    out = tmp_path / "out"
    assert main(["prune", "--method", method, "--model", str(dense), "--config", str(cfg),
                 "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["rows"]["compact"]["params"] < report["rows"]["dense"]["params"]
    assert report["mac_reduction"] == pytest.approx(report["mac_reduction_excl_flow"])
    compact = load_model(out / "model.safetensors")
    with torch.no_grad():
        assert compact(torch.rand(1, 3, 9, 11)).shape == (1, 3, 18, 22)

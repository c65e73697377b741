"""Absurd flags, size targets, devices and FIFOs, and the wording a newcomer meets (issue 21)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from robust_helpers import assert_one_line, leftovers, run_cli
from srprune.data.images import natural_key, write_image
from srprune.errors import UserError
from srprune.io.model_file import save_model
from srprune.models.registry import create_model

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def edsr_file(tmp_path_factory) -> Path:
    return save_model(tmp_path_factory.mktemp("m") / "edsr.safetensors",
                      create_model("edsr-2-8", 2))


@pytest.mark.parametrize("args, expect", [
    (["profile", "--model", "edsr-1-8", "--lr-size", "16x16", "--threads", "1000000000"],
     "--threads"),
    (["profile", "--model", "edsr-1-8", "--lr-size", "16x16", "--threads", "0"], "--threads"),
    (["export", "--model", "edsr-1-8", "--output", "x.onnx", "--opset", "99"], "--opset 99"),
    (["export", "--model", "edsr-1-8", "--output", "x.onnx", "--opset", "29"], "--opset 29"),
    (["export", "--model", "edsr-1-8", "--output", "x.onnx", "--frames", "1000000"],
     "--frames"),
    (["export", "--model", "edsr-1-8", "--output", "x.onnx", "--scale", "1000"], "--scale"),
])
def test_absurd_numeric_flags(args: list[str], expect: str, tmp_path: Path, capsys,
                              monkeypatch) -> None:
    import onnx

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(onnx.defs, "onnx_opset_version", lambda: 28)
    code, _, err = run_cli(capsys, args)
    assert_one_line(code, err, args[0], expect)
    assert not (tmp_path / "x.onnx").exists()


def test_export_keeps_an_unrelated_file_and_its_stderr_clean(edsr_file: Path, tmp_path: Path,
                                                             capsys) -> None:
    pytest.importorskip("onnx")
    out = tmp_path / "model.onnx"
    out.write_text("not mine")
    code, _, err = run_cli(capsys, ["export", "--model", edsr_file, "--output", out,
                                    "--lr-size", "16x16", "--no-check"])
    assert_one_line(code, err, "export", "--force")
    assert out.read_text() == "not mine"
    code, stdout, err = run_cli(capsys, ["export", "--model", edsr_file, "--output", out,
                                         "--lr-size", "16x16", "--no-check", "--force"])
    assert code == 0 and err == [] and "opset 18" in stdout
    assert out.stat().st_size > 1000 and not leftovers(tmp_path)


# Size targets on a tiny EDSR: the select stage refuses what the method cannot reach.
@pytest.mark.parametrize("flags, expect", [
    (["--target", "params=1e30"], "above the dense model"),
    (["--target", "macs=1000T"], "above the dense model"),
    (["--target", "params=1"], "below the smallest model"),
    (["--target", ""], "--target is empty"),
    (["--target", "params=0.01M", "--ratio", "0.2"], "give one"),
    (["--target", "flops=3G"], "--target"),
    (["--ratio", "1.5"], "--ratio"),
    (["--set", "prune.foo=1"], "--set prune.foo=1: unknown config key prune.foo"),
    (["--set", "prune.ratio=3"], "--set prune.ratio=3"),
])
def test_size_targets_and_ratio_flags(flags: list[str], expect: str, edsr_file: Path,
                                      tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, ["prune", "--method", "l1", "--model", edsr_file, "--config",
                                    CONFIGS / "prune" / "edsr_demo.yaml", "--out", out,
                                    "--stages", "select", "--quiet", *flags])
    line = assert_one_line(code, err, "prune", expect)
    if "reach" in expect or "dense" in expect or "smallest" in expect:
        assert "reachable: " in line
    assert not (out / "selection.json").exists() and not leftovers(tmp_path)


def test_a_reachable_target_is_met(edsr_file: Path, tmp_path: Path, capsys) -> None:
    import json

    out = tmp_path / "run"
    code, _, _ = run_cli(capsys, ["prune", "--method", "l1", "--model", edsr_file, "--config",
                                  CONFIGS / "prune" / "edsr_demo.yaml", "--out", out,
                                  "--stages", "select", "--quiet", "--target", "params=2k"])
    assert code == 0
    target = json.loads((out / "selection.json").read_text())["target"]
    assert target["relative_error"] < 0.05


def test_check_reachable_names_the_range() -> None:
    from srprune.pruning.targets import check_reachable

    check_reachable("params", 1.005e6, 2e5, 1e6)  # within 1 % of dense: met as closely as can be
    with pytest.raises(UserError, match=r"reachable: params=200k to params=1M"):
        check_reachable("params", 2e6, 2e5, 1e6)
    with pytest.raises(UserError, match="below the smallest"):
        check_reachable("macs", 1e3, 2e5, 1e6)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "pipe.mp4"
    os.mkfifo(path)
    return path


def _frames(folder: Path, n: int = 2) -> Path:
    for t in range(n):
        write_image(folder / f"{t}.png", np.zeros((16, 16, 3), np.uint8))
    return folder


@pytest.mark.parametrize("where", ["input", "model", "onnx-model", "config", "checkpoint"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_devices_and_fifos_are_named(where: str, special: str, fifo: Path, edsr_file: Path,
                                     tmp_path: Path, capsys) -> None:
    path = fifo if special == "fifo" else Path(special)
    if not path.exists():
        pytest.skip(f"{special} does not exist here")
    if where == "onnx-model":
        link = tmp_path / "m.onnx"
        link.symlink_to(path)
        path = link
    frames = _frames(tmp_path / "in")
    out = tmp_path / "out"
    args = {"input": ["upscale", "--model", edsr_file, "--input", path, "--output", out],
            "model": ["upscale", "--model", path, "--input", frames, "--output", out],
            "onnx-model": ["upscale", "--model", path, "--input", frames, "--output", out],
            "config": ["train", "--config", path],
            "checkpoint": ["convert", "--from", "basicsr", path, tmp_path / "o.safetensors"],
            }[where]
    code, _, err = run_cli(capsys, args)
    kind = "a FIFO (named pipe)" if special == "fifo" else "a character device"
    line = assert_one_line(code, err, args[0], f"is {kind}, not")
    assert "not found" not in line
    assert not out.exists() and not leftovers(tmp_path)


def test_a_frame_folder_is_listed_once_in_natural_order(tmp_path: Path, monkeypatch) -> None:
    import srprune.data.images as images
    from srprune.infer.io import open_source

    folder = tmp_path / "f"
    for name in ("10.png", "9.png", "100.png", "B1.png", "a2.png"):
        write_image(folder / name, np.zeros((8, 8, 3), np.uint8))
    calls = []
    real = images.list_image_names
    monkeypatch.setattr("srprune.infer.io.list_image_names",
                        lambda f: calls.append(f) or real(f))
    source = open_source(folder)
    assert source.names == ["9.png", "10.png", "100.png", "a2.png", "B1.png"]
    assert sum(1 for _ in source) == 5 and len(calls) == 1
    assert natural_key("x2") < natural_key("x10") < natural_key("X11")


def test_plan_says_streamed_for_a_causal_model() -> None:
    from srprune.infer.plan import plan_memory

    def plan(name: str) -> str:
        return plan_memory(create_model(name), (16, 16), chunk=None, overlap=2, tile=None,
                           tile_pad=4, budget=1 << 30, video_out=False).describe()

    assert plan("basicvsr-uni-8-1").startswith("streamed frame by frame")
    assert plan("basicvsr-8-1").startswith("chunk 30")
    assert plan("edsr-1-4").startswith("frame by frame")


@pytest.mark.parametrize("data, layout, video", [
    ("default-video", None, True), ("default", "frames", True), ("default-images", None, False),
    ("default", None, False),
])
def test_embedded_sets_by_name(data: str, layout: str | None, video: bool,
                               monkeypatch) -> None:
    import srprune.train.datasets as datasets
    from srprune.commands.test import _embedded

    monkeypatch.setattr(datasets, "default_root",
                        lambda v, s: (Path("video" if v else "images"),
                                      "frames" if v else "sisr"))
    folder, got = _embedded(data, layout, create_model("bicubic").is_video, 4)
    assert (folder, got) == ((Path("video" if video else "images") / "val"),
                             "frames" if video else "sisr")


def test_wording_a_newcomer_meets() -> None:
    from srprune.cli import COMMANDS
    from srprune.runs.prune_report import ratio_text
    from srprune.train.config import blame

    assert "prune" in COMMANDS["demo"] and "train a small" not in COMMANDS["demo"]
    assert ratio_text(0.26988636363636365) == "0.2699"
    err = UserError("unknown config key prune.foo; valid keys of prune: ratio")
    assert str(blame("c.yaml", ["train.iters=5", "prune.foo=1"], err)).startswith(
        "--set prune.foo=1: ")
    assert str(blame("c.yaml", ["prune.foobar=1"], err)).startswith("c.yaml: ")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert ".venv/bin/srprune" in readme and "default-video" in readme

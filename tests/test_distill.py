"""Pruning by distillation (``srprune prune --distill --data DIR``): only LR frames on disk.

Tiny dense models are distilled end to end with every method (image folder for an image model;
clip folders and an .mp4 for a video model); the loss goes down; the compact model loads,
upscales and exports; the fingerprint follows the data; ``--config`` is optional; a bad DIR
is one line, exit 2 and no run folder.
"""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from srprune.cli import main
from srprune.data.images import list_images, read_image, write_image
from srprune.data.lr_frames import LRClip, kept_indices, load_lr_clips, split_held_out
from srprune.data.lr_sampling import LRCropDataset
from srprune.data.video import VideoWriter
from srprune.errors import UserError
from srprune.io.model_file import load_model, save_model
from srprune.models.registry import TINY, build_model
from srprune.pruning.methods import METHODS
from srprune.runs.distill import data_fingerprint
from srprune.train.distill import DistillSettings

SMALL = ["--set", "data.lr_patch=12", "--set", "data.batch_size=2", "--set",
         "prune.report_lr_size=[16,16]", "--set", "train.log_every=1", "--no-latency",
         "--device", "cpu", "--quiet"]


def _frame(rng: np.random.Generator, h: int = 24, w: int = 28) -> np.ndarray:
    """A smooth random picture (what an SR model can learn something from)."""
    small = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
    big = np.kron(small, np.ones((4, 4, 1), np.float32))[:h, :w]
    return np.clip(big + rng.normal(0, 8, big.shape), 0, 255).astype(np.uint8)


def _images(folder: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_image(folder / f"{i:03d}.png", _frame(rng))
    return folder


def _mp4(path: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, Fraction(25), 28, 24) as writer:
        for _ in range(n):
            writer.write(_frame(rng))
    return path


def _dense(tmp_path: Path, arch: str) -> Path:
    torch.manual_seed(0)
    cfg = TINY[arch]
    if hasattr(cfg, "flow_feat"):  # a narrower flow network: the test's time goes there
        cfg = dataclasses.replace(cfg, flow_feat=8)
    return save_model(tmp_path / f"{arch}.safetensors", build_model(cfg))


def _prune(dense: Path, data: Path, out: Path, method: str = "ssl", *extra: str) -> int:
    return main(["prune", "--method", method, "--model", str(dense), "--distill", "--data",
                 str(data), "--out", str(out), "--reg-iters", "3", "--finetune-iters", "3",
                 *SMALL, *extra])


def _check_compact(out: Path, tmp_path: Path, export: bool = True) -> None:
    """The compact model reloads, is smaller, upscales a folder and (``export``) exports to
    ONNX."""
    report = json.loads((out / "report.json").read_text())
    assert report["distill"]["loss"] == "charbonnier" and report["distill"]["held_out"]
    assert "fidelity_psnr" in report["rows"]["compact"]
    assert "psnr" not in report["rows"]["compact"]  # no HR anywhere
    assert "PSNR to dense" in (out / "report.md").read_text()
    compact = load_model(out / "model.safetensors")
    dense = load_model(out / ".." / Path(report["dense"]).name)
    assert sum(p.numel() for p in compact.parameters()) < sum(
        p.numel() for p in dense.parameters())
    sr = tmp_path / "sr"
    frames = _images(tmp_path / "upscale_in", 2, seed=5)
    assert main(["upscale", "--model", str(out / "model.safetensors"), "--input", str(frames),
                 "--output", str(sr), "--device", "cpu", "--quiet"]) == 0
    s = compact.config.scale
    assert read_image(list_images(sr)[0]).shape == (24 * s, 28 * s, 3)
    if export:
        assert main(["export", "--model", str(out / "model.safetensors"), "--output",
                     str(tmp_path / "m.onnx"), "--lr-size", "16x16"]) == 0


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_distils_an_image_model_from_lr_frames(method: str, tmp_path: Path
                                                            ) -> None:
    dense = _dense(tmp_path, "edsr")
    data = _images(tmp_path / "lr", 6)
    out = tmp_path / "out"
    assert _prune(dense, data, out, method) == 0
    _check_compact(out, tmp_path)
    run = json.loads((out / "run.json").read_text())
    loss = run["stages"]["finetune"]["inputs"]["loss"]
    assert loss["data"]["files"] == 6 and loss["loss"] == "charbonnier"


def test_video_model_distils_from_clip_folders_and_an_mp4(tmp_path: Path) -> None:
    dense = _dense(tmp_path, "basicvsr")
    data = tmp_path / "clips"
    _images(data / "a", 4, seed=1)
    _images(data / "b", 4, seed=2)
    _mp4(data / "c.mp4", 4, seed=3)
    out = tmp_path / "out"
    assert _prune(dense, data, out, "ssl", "--set", "data.num_frames=3",
                  "--set", "distill.val_frames=3") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["distill"]["held_out"] == ["c.mp4"]
    assert "fidelity_psnr" in report["rows"]["pruned (before finetune)"]
    # tracing a bidirectional window takes a minute here; video export: tests/test_export_onnx.py
    _check_compact(out, tmp_path, export=False)


@pytest.mark.parametrize("arch", [a for a in TINY if a != "basicvsr"])  # basicvsr: above
def test_every_architecture_distils(arch: str, tmp_path: Path) -> None:
    dense = _dense(tmp_path, arch)
    video = load_model(dense).is_video
    data = tmp_path / "lr"
    for name in ("a", "b") if video else ("",):
        _images(data / name, 4, seed=len(name))
    out = tmp_path / "out"
    features = ["--set", "distill.feature_weight=0.1"] if video else []
    assert _prune(dense, data, out, "ssl", "--set", "data.num_frames=3",
                  "--set", "distill.val_frames=2", *features) == 0
    report = json.loads((out / "report.json").read_text())
    assert "fidelity_psnr" in report["rows"]["compact"]
    assert report["param_reduction"] > 1
    if video:  # the hidden states of the kept channels, in both training stages
        for stage in ("regularize", "finetune"):
            last = (out / stage / "train_log.jsonl").read_text().splitlines()[-1]
            assert "loss/distill_features" in json.loads(last)


def test_the_distillation_loss_goes_down(tmp_path: Path) -> None:
    dense = _dense(tmp_path, "edsr")
    data = _images(tmp_path / "lr", 6)
    out = tmp_path / "out"
    assert main(["prune", "--method", "l1", "--model", str(dense), "--distill", "--data",
                 str(data), "--out", str(out), "--ratio", "0.5", "--stages",
                 "select,remove,finetune", "--finetune-iters", "40", *SMALL,
                 "--set", "optim.lr=2e-3"]) == 0
    log = [json.loads(line) for line in
           (out / "finetune" / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_l1_loss_and_a_config_with_a_distill_section(tmp_path: Path) -> None:
    dense = _dense(tmp_path, "edsr")
    data = _images(tmp_path / "lr", 4)
    config = tmp_path / "p.yaml"
    config.write_text(f"distill: {{data: {data}, loss: l1}}\nprune: {{ratio: 0.5}}\n"
                      "data: {lr_patch: 12, batch_size: 2}\ntrain: {iters: 2}\n")
    out = tmp_path / "out"
    assert main(["prune", "--method", "ssl", "--model", str(dense), "--config", str(config),
                 "--out", str(out), "--reg-iters", "2", *SMALL]) == 0
    assert json.loads((out / "report.json").read_text())["distill"]["loss"] == "l1"
    stages = json.loads((out / "run.json").read_text())["stages"]
    assert stages["regularize"]["inputs"]["prune"]["reg_iters"] == 2
    assert stages["finetune"]["inputs"]["training"]["train"]["iters"] == 2


def test_srprune_test_scores_fidelity_to_a_reference(tmp_path: Path, capsys) -> None:
    dense = _dense(tmp_path, "edsr")
    data = _images(tmp_path / "lr", 3)
    other = tmp_path / "other.safetensors"
    torch.manual_seed(1)
    save_model(other, build_model(TINY["edsr"]))
    scores = {}
    for name, model in (("self", dense), ("other", other)):
        capsys.readouterr()
        assert main(["test", "--model", str(model), "--reference", str(dense), "--data",
                     str(data), "--device", "cpu", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert len(result["rows"]) == 3
        scores[name] = result["fidelity_psnr"]
    assert scores["self"] == 100.0 and scores["other"] < 40


def test_fingerprint_follows_the_data(tmp_path: Path, capsys) -> None:
    dense = _dense(tmp_path, "edsr")
    data = _images(tmp_path / "lr", 4)
    settings = DistillSettings(data=str(data))
    before = data_fingerprint(settings)
    out = tmp_path / "out"
    args = ["--stages", "select,regularize"]
    assert _prune(dense, data, out, "ssl", *args) == 0
    assert _prune(dense, data, out, "ssl", *args) == 0  # same data: done already
    write_image(data / "001.png", _frame(np.random.default_rng(9)))
    assert data_fingerprint(settings) != before
    capsys.readouterr()
    assert _prune(dense, data, out, "ssl", *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "regularize" in err and "loss.data" in err


def _bad_dirs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    text = tmp_path / "text"
    text.mkdir()
    (text / "notes.txt").write_text("no frames here")
    gray = tmp_path / "gray"
    gray.mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((20, 20), np.uint8)).save(gray / "0.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(gray / "1.png")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "0.png").write_bytes(b"not a png")
    return {"empty": (empty, "edsr"), "text": (text, "edsr"), "gray": (gray, "edsr"),
            "broken": (broken, "edsr"), "missing": (tmp_path / "nope", "edsr"),
            "one image": (_images(tmp_path / "one", 1), "edsr"),
            "short clip": (_images(tmp_path / "short", 3), "basicvsr"),
            "small frames": (_images(tmp_path / "small", 4), "edsr")}


@pytest.mark.parametrize("case", ["empty", "text", "gray", "broken", "missing", "one image",
                                  "short clip", "small frames"])
def test_a_bad_data_folder_is_one_line_and_leaves_no_run_folder(case: str, tmp_path: Path,
                                                                capsys) -> None:
    data, arch = _bad_dirs(tmp_path)[case]
    dense = _dense(tmp_path, arch)
    out = tmp_path / "out"
    extra = ["--set", "data.lr_patch=64"] if case == "small frames" else []
    capsys.readouterr()
    assert _prune(dense, data, out, "ssl", "--set", "data.num_frames=5", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not out.exists()


def test_flag_combinations_are_one_line(tmp_path: Path, capsys) -> None:
    dense = _dense(tmp_path, "edsr")
    data = _images(tmp_path / "lr", 4)
    base = ["prune", "--method", "ssl", "--model", str(dense), "--out", str(tmp_path / "o")]
    features = base + ["--distill", "--data", str(data), "--set", "distill.feature_weight=1"]
    for argv in (base + ["--data", str(data)], base, base + ["--distill"], features):
        capsys.readouterr()
        assert main(argv) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_held_out_part_is_deterministic() -> None:
    clips = [LRClip(f"c{i}", [np.zeros((8, 8, 3), np.uint8)] * 6) for i in range(12)]
    train, held = split_held_out(clips, 3)
    assert [c.name for c in held] == ["c1", "c11"] and len(train) == 10
    one = [LRClip("only", [np.full((8, 8, 3), i, np.uint8) for i in range(20)])]
    train, held = split_held_out(one, 5)
    assert len(train[0]) == 15 and len(held[0]) == 5 and held[0].frames[0][0, 0, 0] == 15
    with pytest.raises(UserError):
        split_held_out([LRClip("x", one[0].frames[:5])], 5)


def test_long_sources_give_evenly_spaced_segments(tmp_path: Path) -> None:
    assert kept_indices(10, 20, 4) == list(range(10))
    kept = kept_indices(1000, 100, 20)
    assert len(kept) == 100 and kept[0] == 0 and kept[-1] == 999
    clips = load_lr_clips(_mp4(tmp_path / "v.mp4", 30), True, 12, 6)
    assert [len(c) for c in clips] == [6, 6] and clips[0].name == "v.mp4[0:6]"


def test_crops_are_a_function_of_seed_epoch_and_index() -> None:
    rng = np.random.default_rng(0)
    clips = [LRClip("a", [_frame(rng) for _ in range(5)])]
    a, b = LRCropDataset(clips, 12, 3, seed=1), LRCropDataset(clips, 12, 3, seed=1)
    a.set_epoch(4)
    b.set_epoch(4)
    assert torch.equal(a[1]["lq"], b[1]["lq"]) and a[1]["lq"].shape == (3, 3, 12, 12)
    assert set(a[0]) == {"lq", "clip"}  # no ground truth anywhere

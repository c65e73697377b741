"""Filesystem faults: one line naming the path, exit 2, no partial or temporary file (issue 14).

A full disk is simulated by making the writing library raise what it raises on ENOSPC (and, where
root may mount one, by a real 1 MB tmpfs); read-only places by a file where a folder should be,
since root ignores permission bits.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robust_helpers import assert_one_line, leftovers, run_cli
from srprune.data.images import write_image
from srprune.io.atomic import atomic_path, remove_stale
from srprune.io.model_file import save_model
from srprune.models.registry import create_model

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture()
def model_file(tmp_path: Path) -> Path:
    return save_model(tmp_path / "models" / "m.safetensors", create_model("edsr-1-4", 2))


@pytest.fixture()
def frames(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "frames"
    for t in range(3):
        write_image(folder / f"{t:04d}.png", rng.integers(0, 256, (8, 10, 3), dtype=np.uint8))
    return folder


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for c in range(2):
        for t in range(2):
            write_image(tmp_path / "ds" / "GT" / f"clip{c}" / f"{t:04d}.png",
                        rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    return tmp_path / "ds"


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- outputs in impossible places ------------------------------------------------------------
@pytest.mark.parametrize("command", ["upscale", "convert", "test", "demo", "train"])
def test_output_under_a_file(command: str, tmp_path: Path, model_file: Path, frames: Path,
                             dataset: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    args = {"upscale": ["upscale", "--model", model_file, "--input", frames, "--output",
                        blocker / "out.mp4"],
            "convert": ["convert", model_file, blocker / "x.safetensors", "--half"],
            "test": ["test", "--model", "bicubic", "--data", dataset, "--layout", "frames",
                     "--save-frames", blocker / "sr"],
            "demo": ["demo", "--out", blocker, "--iters", "1"],
            "train": ["train", "--config", CONFIGS / "tiny_edsr.yaml", "--out", blocker / "run",
                      "--iters", "1", "--device", "cpu"]}[command]
    code, _, err = run_cli(capsys, args)
    line = assert_one_line(code, err, command)
    assert str(blocker) in line and blocker.read_text() == "not a folder"
    assert not leftovers(tmp_path)


def test_convert_refuses_an_existing_unrelated_file(tmp_path: Path, model_file: Path,
                                                   capsys) -> None:
    out = tmp_path / "notes.safetensors"
    out.write_text("keep me")
    code, _, err = run_cli(capsys, ["convert", model_file, out, "--half"])
    assert_one_line(code, err, "convert", "exists")
    assert out.read_text() == "keep me"
    code, _, err = run_cli(capsys, ["convert", model_file, out, "--half", "--force"])
    assert code == 0 and out.stat().st_size > 100


@pytest.mark.parametrize("what", ["config folder", "frames unreadable"])
def test_unreadable_inputs_name_the_path(what: str, tmp_path: Path, model_file: Path,
                                         frames: Path, capsys, monkeypatch) -> None:
    if what == "config folder":
        code, _, err = run_cli(capsys, ["train", "--config", tmp_path])
        assert_one_line(code, err, "train", str(tmp_path))
        return
    real = os.scandir

    def scandir(path="."):  # frame folders are listed with os.scandir
        if Path(path) == frames:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, _, err = run_cli(capsys, ["upscale", "--model", model_file, "--input", frames,
                                    "--output", tmp_path / "out"])
    line = assert_one_line(code, err, "upscale", "permission denied")
    assert str(frames) in line and not (tmp_path / "out").exists()


# -- full disk ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["upscale-frames", "upscale-video", "convert", "test-save"])
def test_full_disk_is_one_line_and_leaves_nothing(case: str, tmp_path: Path, model_file: Path,
                                                  frames: Path, dataset: Path, capsys,
                                                  monkeypatch) -> None:
    if case == "upscale-frames":
        monkeypatch.setattr(Image.Image, "save", _enospc)
        args = ["upscale", "--model", model_file, "--input", frames, "--output",
                tmp_path / "out"]
    elif case == "upscale-video":
        from srprune.data.video import VideoWriter

        monkeypatch.setattr(VideoWriter, "write", _enospc)
        args = ["upscale", "--model", model_file, "--input", frames, "--output",
                tmp_path / "out.mp4"]
    elif case == "convert":
        from safetensors import SafetensorError

        def full(*_a, **_k):
            raise SafetensorError("Error while serializing: I/O error: No space left on device "
                                  "(os error 28)")

        monkeypatch.setattr("srprune.io.model_file.save_file", full)
        args = ["convert", model_file, tmp_path / "out.safetensors", "--half"]
    else:
        monkeypatch.setattr(Image.Image, "save", _enospc)
        args = ["test", "--model", "bicubic", "--data", dataset, "--layout", "frames",
                "--save-frames", tmp_path / "out"]
    code, _, err = run_cli(capsys, args)
    line = assert_one_line(code, err, args[0], "no space left")
    assert str(tmp_path) in line
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("out", ".out"))]
    assert not leftovers(tmp_path)


def test_checkpoint_on_a_full_disk_names_the_file(tmp_path: Path, monkeypatch) -> None:
    """torch.save's own ENOSPC text is "unexpected pos ..."; with no room left it is ENOSPC."""
    import shutil

    import torch

    from srprune.train.checkpoint import save_checkpoint

    def torch_full(_obj, _f, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    monkeypatch.setattr(torch, "save", torch_full)
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(1 << 20, 1 << 20,
                                                                                    0))
    with pytest.raises(OSError) as info:
        save_checkpoint(tmp_path, {"iters_done": 1})
    assert info.value.errno == errno.ENOSPC and info.value.filename.endswith("last.pt")
    assert not leftovers(tmp_path)


def test_real_full_tmpfs(tmp_path: Path, model_file: Path, capsys) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                                            str(disk)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    rng = np.random.default_rng(0)
    for t in range(3):  # noisy frames: about 50 KB per SR PNG, more than the disk holds
        write_image(tmp_path / "big" / f"{t}.png", rng.integers(0, 256, (64, 64, 3), np.uint8))
    try:
        code, _, err = run_cli(capsys, ["upscale", "--model", model_file, "--input",
                                        tmp_path / "big", "--output", disk / "out"])
        assert_one_line(code, err, "upscale", f"{disk / 'out'}: no space left")
        save = create_model("edsr-2-32", 2)
        with pytest.raises(OSError) as info:
            save_model(disk / "big.safetensors", save)
        assert info.value.errno == errno.ENOSPC
        assert not list(disk.iterdir())
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# -- stale temporaries, permissions, refused resume ------------------------------------------
def test_stale_temporaries_of_dead_runs_are_removed(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getpid()
    stale = tmp_path / f".out.{dead}-abc123_x.part.mp4"
    stale_dir = tmp_path / f".sr.{dead}-xyz98765.part"
    mine = tmp_path / f".out.{alive}-def456gh.part.mp4"
    other = tmp_path / ".outside.part.mp4"
    for p in (stale, mine, other):
        p.write_bytes(b"x")
    stale_dir.mkdir()
    (stale_dir / "00000000.png").write_bytes(b"x")
    with atomic_path(tmp_path / "out.mp4") as tmp:
        tmp.write_bytes(b"video")
    assert not stale.exists() and not stale_dir.exists() and mine.exists() and other.exists()
    assert remove_stale(tmp_path) == []  # scanned once per folder and process


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_outputs_honour_the_umask(mask: int, tmp_path: Path, frames: Path,
                                  model_file: Path, capsys) -> None:
    old = os.umask(mask)
    try:
        code, _, _ = run_cli(capsys, ["upscale", "--model", model_file, "--input", frames,
                                      "--output", tmp_path / "sr"])
        code2, _, _ = run_cli(capsys, ["convert", model_file, tmp_path / "h.safetensors",
                                       "--half"])
    finally:
        os.umask(old)
    assert code == 0 and code2 == 0
    assert (tmp_path / "sr").stat().st_mode & 0o777 == 0o777 & ~mask
    assert (tmp_path / "h.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask


def test_refused_resume_keeps_config_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("OLD\n")
    code, _, err = run_cli(capsys, ["train", "--config", CONFIGS / "tiny_edsr.yaml", "--out",
                                    out, "--resume", "--device", "cpu"])
    assert_one_line(code, err, "train", "no checkpoint to resume from")
    assert (out / "config.json").read_text() == "OLD\n"


def test_odd_video_size_is_padded_to_420_and_said(tmp_path: Path, capsys) -> None:
    from srprune.data.video import probe

    rng = np.random.default_rng(0)
    for t in range(2):
        write_image(tmp_path / "odd" / f"{t}.png", rng.integers(0, 256, (5, 7, 3), np.uint8))
    code, out, err = run_cli(capsys, ["upscale", "--model", "bicubic", "--scale", "3", "--input",
                                      tmp_path / "odd", "--output", tmp_path / "sr.mp4"])
    assert code == 0 and not err
    assert "padded to 16x22 (HxW) for H.264 4:2:0" in out
    info = probe(tmp_path / "sr.mp4")
    assert (info.height, info.width) == (16, 22)


def test_test_refuses_clips_larger_than_memory(tmp_path: Path, dataset: Path, capsys,
                                               monkeypatch) -> None:
    import srprune.resources as resources

    model = save_model(tmp_path / "vsr.safetensors", create_model("basicvsr-8-1"))
    monkeypatch.setattr(resources, "available_memory", lambda: 200 << 20)
    code, _, err = run_cli(capsys, ["test", "--model", model, "--data", dataset, "--layout",
                                    "frames", "--save-frames", tmp_path / "sr"])
    assert_one_line(code, err, "test", "lower --chunk")
    assert not (tmp_path / "sr").exists() and not leftovers(tmp_path)

"""Bad flags on every subcommand: one line on stderr, exit 2, nothing written (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from robust_helpers import assert_one_line, leftovers, run_cli

# (command line, text the error line must contain)
BAD_FLAGS = [
    (["profile", "--model", "edsr", "--lr-size", "abc"], "not HxW"),
    (["profile", "--model", "edsr", "--lr-size", "0x5"], "1 to 16384"),
    (["profile", "--model", "edsr", "--lr-size", "180*320"], "not HxW"),
    (["profile", "--model", "edsr", "--lr-size", "100000x100000"], "1 to 16384"),
    (["profile", "--model", "edsr", "--lr-size", "8x8", "--scale", "0"], "--scale"),
    (["profile", "--model", "edsr", "--lr-size", "8x8", "--repeats", "-5"], "--repeats"),
    (["profile", "--model", "basicvsr", "--lr-size", "8x8", "--frames", "100000"], "--frames"),
    (["profile", "--model", "edsr", "--lr-size", "8x8", "--warmup", "x"], "not a whole"),
    (["upscale", "--model", "bicubic", "--input", "IN", "--output", "OUT", "--chunk", "-1"],
     "--chunk"),
    (["upscale", "--model", "bicubic", "--input", "IN", "--output", "OUT", "--tile", "1"],
     "at least 32"),
    (["upscale", "--model", "bicubic", "--input", "IN", "--output", "OUT", "--scale", "0"],
     "--scale"),
    (["upscale", "--model", "bicubic", "--input", "IN", "--output", "OUT", "--max-memory",
      "lots"], "memory size"),
    (["test", "--model", "bicubic", "--data", "IN", "--layout", "frames", "--max-clips", "0"],
     "--max-clips"),
    (["test", "--model", "bicubic", "--data", "IN", "--layout", "frames", "--chunk", "0"],
     "--chunk"),
    (["test", "--model", "bicubic", "--data", "IN"], "--layout is needed"),
    (["convert", "--res-scale", "nan", "IN", "OUT.safetensors"], "finite"),
    (["convert", "--res-scale", "-1", "IN", "OUT.safetensors"], "out of bounds"),
    (["convert", "--rgb-range", "inf", "IN", "OUT.safetensors"], "finite"),
    (["demo", "--feat", "0", "--out", "OUT"], "--feat"),
    (["demo", "--blocks", "-1", "--out", "OUT"], "--blocks"),
    (["demo", "--iters", "0", "--out", "OUT"], "--iters"),
    (["train"], "--config"),
    (["prune", "--method", "nope", "--config", "c.yaml", "--out", "OUT"], "--method"),
    (["experiment"], "config"),
    (["profile", "--model", "edsr-1000000000-8", "--lr-size", "8x8"], "out of bounds"),
    (["profile", "--model", "basicvsr-2000-3", "--lr-size", "8x8", "--no-latency"],
     "num_feat 2000"),
    (["profile", "--model", "esrb-0-64", "--lr-size", "8x8", "--no-latency"], "num_block 0"),
    (["profile", "--model", "basicvsr", "--lr-size", "10000x10000"], "memory"),
    (["profile", "--model", "no-such-model", "--lr-size", "8x8"], "unknown model"),
]


@pytest.mark.parametrize(("args", "expect"), BAD_FLAGS, ids=[" ".join(a[:1] + a[-2:])
                                                              for a, _ in BAD_FLAGS])
def test_bad_flag_is_one_line(args: list[str], expect: str, tmp_path: Path, capsys,
                              monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, args)
    assert_one_line(code, err, args[0], expect)
    assert not (tmp_path / "OUT").exists() and not leftovers(tmp_path)


def test_test_data_default_needs_no_layout(capsys) -> None:
    code, out, err = run_cli(capsys, ["test", "--model", "bicubic", "--data", "default",
                                      "--scale", "4", "--max-clips", "1", "--device", "cpu"])
    assert code == 0 and not err, err
    assert "sisr" in out


def test_interrupt_during_start_up_is_one_line(capsys, monkeypatch) -> None:
    import srprune.cli as cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    code, _, err = run_cli(capsys, ["profile"])
    assert code == 130 and err == ["srprune profile: stopped: interrupted (SIGINT); temporary "
                                   "outputs removed"]


def test_multi_line_user_error_is_one_line(capsys, monkeypatch) -> None:
    from srprune.commands import profile
    from srprune.errors import UserError

    def boom(_args) -> int:
        raise UserError("bad value\n  in: line 2\n    ^")

    monkeypatch.setattr(profile, "run", boom)
    code, _, err = run_cli(capsys, ["profile", "--model", "edsr", "--lr-size", "8x8"])
    assert_one_line(code, err, "profile", "bad value in: line 2 ^")


def test_training_step_larger_than_memory_is_refused_before_any_work(tmp_path: Path,
                                                                      capsys) -> None:
    configs = Path(__file__).resolve().parents[1] / "configs"
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, ["train", "--config", configs / "tiny_edsr.yaml", "--out", out,
                                    "--device", "cpu", "--set", "data.batch_size=1000000000"])
    assert_one_line(code, err, "train", "data.batch_size: must be <= 4096")  # the config bound
    assert not out.exists()
    # within the config's bounds but beyond this machine: the memory estimate refuses it
    code, _, err = run_cli(capsys, ["train", "--config", configs / "tiny_edsr.yaml", "--out", out,
                                    "--device", "cpu", "--set", "data.batch_size=4096",
                                    "--set", "data.lr_patch=2048"])
    assert_one_line(code, err, "train", "lower data.batch_size")
    assert not out.exists()

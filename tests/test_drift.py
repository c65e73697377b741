"""Temporal drift (srprune.eval.drift): per-frame PSNR, first/last windows, growth flag,
the ping-pong long clip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from srprune.errors import UserError
from srprune.eval.conventions import convention_for
from srprune.eval.drift import (
    PSNR_CAP,
    drift_from_psnrs,
    ping_pong,
    temporal_drift,
    uint8_frames,
)
from srprune.eval.metrics import psnr


def _stream(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (24, 20, 3), dtype=np.uint8) for _ in range(n)]


def _noisy(frames: list[np.ndarray], sigmas: list[float], seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, s, f.shape), 0, 255).round().astype(np.uint8)
            for f, s in zip(frames, sigmas, strict=True)]


def test_constant_error_is_no_growth() -> None:
    ref = _stream(40)
    report = temporal_drift(iter(ref), iter(_noisy(ref, [4.0] * 40)))
    assert report.frames == 40 and report.window == 10
    assert abs(report.drop) < 0.1 and not report.growth
    assert report.psnr[0] == pytest.approx(psnr(_noisy(ref, [4.0] * 40)[0], ref[0]))
    assert "no growth" in report.summary() and "\n" not in report.summary()


def test_accumulating_error_is_growth() -> None:
    ref = _stream(40)
    sigmas = [2.0 * 1.05 ** i for i in range(40)]
    report = temporal_drift(ref, _noisy(ref, sigmas))
    assert report.drop > 1.0 and report.growth
    assert report.first == pytest.approx(np.mean(report.psnr[:10]))
    assert report.last == pytest.approx(np.mean(report.psnr[-10:]))
    data = json.loads(report.dumps())
    assert data["growth"] is True and len(data["psnr"]) == 40 and data["frames"] == 40
    assert "GROWTH" in report.summary()


def test_threshold_is_strict() -> None:
    first = [30.1] * 10
    assert not drift_from_psnrs(first + [30.0] * 10).growth       # exactly 0.1 dB: not growth
    assert drift_from_psnrs(first + [29.99] * 10).growth          # 0.11 dB: growth
    assert not drift_from_psnrs(first + [31.0] * 10).growth       # gets better: not growth
    assert not drift_from_psnrs([30.0] * 20, threshold=0.0).growth


def test_identical_frames_are_capped_and_short_streams_shrink_the_window() -> None:
    ref = _stream(6)
    report = temporal_drift(ref, [f.copy() for f in ref])
    assert report.psnr == (PSNR_CAP,) * 6 and report.window == 3 and not report.growth


def test_convention_y_and_crop() -> None:
    ref = _stream(4)
    cand = _noisy(ref, [3.0] * 4)
    conv = convention_for("sisr", 2)
    report = temporal_drift(ref, cand, convention=conv)
    assert report.psnr[1] == pytest.approx(psnr(cand[1], ref[1], crop_border=2, test_y=True))
    assert report.convention == conv.describe()


def test_float_frames_convert() -> None:
    x = torch.rand(3, 8, 9, generator=torch.Generator().manual_seed(0))
    (frame,) = list(uint8_frames([x.numpy()]))
    assert frame.dtype == np.uint8 and frame.shape == (8, 9, 3)


@pytest.mark.parametrize("bad", [
    lambda ref: (ref, ref[:-1]),                                   # lengths differ
    lambda ref: (ref, [f.astype(np.float32) for f in ref]),        # not uint8
    lambda ref: (ref[:1], ref[:1]),                                # one frame
])
def test_refusals_are_user_errors(bad) -> None:
    ref = _stream(5)
    with pytest.raises(UserError):
        temporal_drift(*bad(ref))


def test_ping_pong_has_no_jump_cut() -> None:
    clip = list(range(12))
    long = ping_pong(clip, 100)
    assert len(long) == 100
    assert long[:14] == [*range(12), 10, 9]
    assert all(abs(a - b) == 1 for a, b in zip(long, long[1:], strict=False))
    assert ping_pong(["a"], 3) == ["a"] * 3
    with pytest.raises(UserError):
        ping_pong([], 5)

"""Bounded memory: the chunk / tile plan, frames held by upscale, and peak RSS vs clip length."""

from __future__ import annotations

import os
import subprocess
import sys
import weakref
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from srprune.data.images import write_image
from srprune.errors import UserError
from srprune.infer.io import FrameSink, FrameSource
from srprune.infer.plan import estimate, plan_memory
from srprune.infer.upscale import UpscaleOptions, upscale
from srprune.io.model_file import save_model
from srprune.models.registry import create_model
from srprune.resources import estimate_inference_bytes, estimate_training_bytes

SRC = Path(__file__).resolve().parents[1] / "src"
GB = 1 << 30


@pytest.fixture(scope="module")
def vsr():
    return create_model("basicvsr-16-3").eval()


def test_plan_keeps_the_default_chunk_when_it_fits(vsr) -> None:
    plan = plan_memory(vsr, (64, 64), chunk=None, overlap=5, tile=None, tile_pad=16,
                       budget=8 * GB, video_out=True)
    assert (plan.chunk, plan.tile) == (30, 0) and plan.estimate <= 8 * GB


def test_plan_shrinks_the_chunk_then_tiles(vsr) -> None:
    full, _ = estimate(vsr, (528, 720), 30, 5, 0, 16, True)
    plan = plan_memory(vsr, (528, 720), chunk=None, overlap=5, tile=None, tile_pad=16,
                       budget=full * 3 // 4, video_out=True)
    assert 10 <= plan.chunk < 30 and plan.tile == 0 and plan.estimate <= full * 3 // 4
    small = plan_memory(vsr, (528, 720), chunk=None, overlap=5, tile=None, tile_pad=16,
                        budget=3 * GB, video_out=False)
    assert small.tile > 0 and small.estimate <= 3 * GB


def test_given_values_over_budget_say_what_to_lower(vsr) -> None:
    with pytest.raises(UserError, match="lower --chunk"):
        plan_memory(vsr, (528, 720), chunk=200, overlap=5, tile=None, tile_pad=16,
                    budget=4 * GB, video_out=True)
    with pytest.raises(UserError, match="raise --max-memory"):
        plan_memory(vsr, (4000, 4000), chunk=None, overlap=5, tile=None, tile_pad=16,
                    budget=64 << 20, video_out=True)


def test_estimates_grow_with_the_run_not_with_the_clip(vsr) -> None:
    a = estimate_inference_bytes(vsr.config, (100, 100), 10)
    assert estimate_inference_bytes(vsr.config, (100, 100), 20) > a
    assert estimate_inference_bytes(vsr.config, (200, 100), 10) > a
    assert estimate_training_bytes(vsr.config, (64, 64), 15, 8) > \
        estimate_inference_bytes(vsr.config, (64, 64), 15, 8)


class _Generated(FrameSource):
    """``n`` frames made on demand; counts how many are alive at once."""

    def __init__(self, n: int) -> None:
        super().__init__(Path("gen"), Fraction(25), n, False, (12, 16))
        self.alive: set[int] = set()
        self.peak = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(0)
        for i in range(self.num_frames):
            frame = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            self.alive.add(i)
            weakref.finalize(frame, self.alive.discard, i)
            self.peak = max(self.peak, len(self.alive))
            yield frame


class _Discard(FrameSink):
    def __init__(self) -> None:
        self.count = 0

    def __enter__(self):
        return self

    def write(self, frame: np.ndarray) -> None:
        self.count += 1

    def __exit__(self, *exc) -> None:
        pass


@pytest.mark.parametrize("name", ["basicvsr-8-1", "basicvsr-uni-8-1", "edsr-1-4"])
def test_frames_held_do_not_grow_with_length(name: str) -> None:
    model = create_model(name, 2 if name.startswith("edsr") else 4).eval()
    opt = UpscaleOptions(chunk=4, overlap=1, channels_last=False)
    peaks = []
    for n in (12, 60):
        source = _Generated(n)
        assert upscale(model, source, _Discard(), opt, progress=False) == n
        peaks.append(source.peak)
    assert peaks[0] == peaks[1] <= opt.chunk + 2 * opt.overlap + 1


_PEAK = ("import resource, sys, torch; torch.set_num_threads(1); from srprune.cli import main; "
         "code = main(sys.argv[1:]); "
         "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)")


def test_peak_memory_of_a_long_clip_equals_a_short_one(tmp_path: Path) -> None:
    """Peak RSS of a whole ``srprune upscale`` process (read, upscale, encode): 64 vs 160 frames.

    An image model keeps the run short on a CPU; the bidirectional chunking is covered by
    ``test_frames_held_do_not_grow_with_length`` and by bench/upscale_memory.py.
    """
    model = save_model(tmp_path / "m.safetensors", create_model("edsr-1-8", 2))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    peaks = {}
    frames = tmp_path / "in"
    for n in (64, 160):  # past 48 frames the H.264 encoder's lookahead is full: no growth
        for t in range(n):
            write_image(frames / f"{t:04d}.png", np.roll(base, t, axis=1))
        proc = subprocess.run([sys.executable, "-c", _PEAK, "upscale", "--model", str(model),
                               "--input", str(frames), "--output", str(tmp_path / f"out{n}.mp4"),
                               "--device", "cpu", "--quiet"],
                              capture_output=True, text=True, env=env, check=False)
        assert proc.returncode == 0, proc.stderr
        peaks[n] = int(proc.stdout.split("PEAK_KB")[1].split()[0]) * 1024
    # holding the 96 extra SR frames would add 96 x 128 x 160 x 3 x 4 bytes = 23.6 MB
    assert peaks[160] - peaks[64] < 8 << 20, peaks

"""SIGTERM, SIGHUP and SIGINT during ``srprune upscale``: one line, 128 + N, nothing left over.

Each case starts a real process, waits until its temporary output exists (so the signal lands
mid-run), sends the signal and checks the exit status, the single stderr line, and that neither
the output nor a temporary is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from robust_helpers import leftovers
from srprune.data.images import write_image
from srprune.io.model_file import save_model
from srprune.models.registry import create_model

SRC = Path(__file__).resolve().parents[1] / "src"
FRAMES = 600


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("signals")
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for t in range(FRAMES):
        write_image(root / "frames" / f"{t:05d}.png", np.roll(base, t, axis=1))
    return save_model(root / "m.safetensors", create_model("edsr-1-4", 2)), root / "frames"


def _default_sigint() -> None:
    """A background shell job starts with SIGINT ignored, and Python then installs no handler;
    the test sends SIGINT as a terminal would, so the child starts with the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("sig", "output"), [(signal.SIGTERM, "sr"), (signal.SIGHUP, "sr.mp4"),
                                             (signal.SIGINT, "sr")])
def test_signal_mid_run_cleans_up(sig: signal.Signals, output: str, inputs, tmp_path: Path
                                  ) -> None:
    model, frames = inputs
    target = tmp_path / output
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "srprune", "upscale", "--model", str(model),
                             "--input", str(frames), "--output", str(target), "--device", "cpu",
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "upscale finished before the signal could be sent"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = err.splitlines()
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert len(lines) == 1 and lines[0].startswith("srprune upscale: stopped: "), err
    assert sig.name in lines[0]
    assert not target.exists() and not leftovers(tmp_path)

"""Every registered architecture x every method through ``srprune prune`` end to end.

Parametrised over the registry's tiny configs (``models.registry.TINY``) and the method table
(``pruning.methods.METHODS``), not over hand-kept lists: a new architecture or method is covered
by adding it there. Each run: every stage, a compact model smaller than the dense one that
reloads from its file, equals its masked model (tests/test_pruning_equivalence.py) and drives
``srprune upscale``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from srprune.cli import main
from srprune.data.images import list_images, read_image, write_image
from srprune.io.model_file import load_model, save_model
from srprune.models.registry import TINY, build_model
from srprune.pruning.methods import METHODS

VIDEO_DATA = """
data:
  layout: frames
  root: default
  num_frames: 3
  lr_patch: 16
  batch_size: 1
  val: {layout: frames, root: default, max_clips: 1, max_frames: 3}
"""
IMAGE_DATA = """
data:
  layout: sisr
  root: default
  lr_patch: 16
  batch_size: 1
  val: {layout: sisr, root: default, max_clips: 1}
"""
COMMON = """
prune: {ratio: 0.5, delta: 0.05, t1: 1, tau: 0.1, t2: 2, report_lr_size: [16, 16],
        latency_frames: 2, latency_repeats: 1, drift_frames: 0}
fmp: {gamma_c: 0.2, gamma_w: 0.1, search_iters: 30, check_every: 5, latency_repeats: 1,
      report_lr_size: [16, 16]}
train: {iters: 2, log_every: 1, ckpt_every: 1, device: cpu, tensorboard: false}
"""


def _cases() -> list:
    cases = []
    for arch, cfg in TINY.items():
        video = build_model(cfg).is_video
        for method in [*METHODS, *([] if video else ["fmp"])]:
            cases.append(pytest.param(arch, method, id=f"{arch}-{method}"))
    return cases


@pytest.mark.parametrize("arch,method", _cases())
def test_every_architecture_x_method(arch: str, method: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = TINY[arch]
    dense_model = build_model(cfg)
    video = dense_model.is_video
    dense = save_model(tmp_path / "dense.safetensors", dense_model)
    config = tmp_path / "prune.yaml"
    config.write_text((VIDEO_DATA if video else IMAGE_DATA) + COMMON)
    out = tmp_path / "out"
    assert main(["prune", "--method", method, "--model", str(dense), "--config", str(config),
                 "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    compact = load_model(out / "model.safetensors")
    n_dense = sum(p.numel() for p in dense_model.parameters())
    n_compact = sum(int(torch.count_nonzero(p)) for p in compact.parameters())
    assert n_compact < n_dense
    assert "psnr" in report["rows"]["compact"]
    for path in out.rglob("*.safetensors"):  # every file a stage leaves loads
        load_model(path)
    # the compact file drives `srprune upscale`
    frames = tmp_path / "lr"
    rng = np.random.default_rng(0)
    for t in range(3):
        write_image(frames / f"{t:03d}.png", rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    sr = tmp_path / "sr"
    assert main(["upscale", "--model", str(out / "model.safetensors"), "--input", str(frames),
                 "--output", str(sr), "--device", "cpu", "--quiet"]) == 0
    s = cfg.scale
    images = list_images(sr)
    assert len(images) == 3 and read_image(images[0]).shape == (10 * s, 12 * s, 3)

"""A whole training run from a :class:`TrainConfig`: model, data, validation, :class:`Trainer`.

Used by ``srprune train``; pruning stages build their own :class:`Trainer` with extra terms.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from srprune.devices import resolve_device
from srprune.errors import UserError
from srprune.io.atomic import write_text_atomic
from srprune.io.leftovers import cleaned_on_failure
from srprune.io.model_file import load_model
from srprune.models.registry import create_model
from srprune.resources import check_fits, estimate_training_bytes
from srprune.train import distributed
from srprune.train.checkpoint import LAST, checkpoint_dir
from srprune.train.config import TrainConfig
from srprune.train.datasets import build_train_dataset
from srprune.train.loop import Trainer, TrainResult
from srprune.train.validate import make_validator


def build_model(cfg: TrainConfig) -> nn.Module:
    """A fresh model by name (initialised under ``train.seed``) or the model in ``model.file``."""
    if cfg.model.file is not None:
        return load_model(cfg.model.file).train()
    torch.manual_seed(cfg.train.seed)
    return create_model(cfg.model.name or "", cfg.model.scale).train()


def check_training_memory(cfg: TrainConfig, model: nn.Module, device: str) -> None:
    """One line, before any data is built, when a training step cannot fit in memory."""
    data = cfg.data
    patch = int(getattr(data, "lr_patch", 64))
    batch = int(getattr(data, "batch_size", 1))
    frames = int(getattr(data, "num_frames", 1)) if getattr(model, "is_video", False) else 1
    need = estimate_training_bytes(model.config, (patch, patch), frames, batch)
    budget = None  # the memory available
    if device.startswith("cuda"):
        budget, _ = torch.cuda.mem_get_info(torch.device(device))
    check_fits(need, f"a training step (batch {batch} x {frames} frame(s) of {patch}x{patch})",
               "data.batch_size, data.lr_patch or data.num_frames", budget)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def run_training(cfg: TrainConfig, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Train as ``cfg`` says (under torchrun: one rank of a DDP job).

    Writes the validated config to ``out/config.json``, and ``out/checkpoints/last.pt``,
    ``out/train_log.jsonl``, ``out/tb/`` and ``out/model.safetensors``. A run that fails or is
    refused before it wrote a checkpoint (``--resume`` without a checkpoint or with one that
    is not srprune's, a checkpoint present without ``--resume``, a full disk) leaves the folder
    as it found it: what it created is removed and an earlier ``out/config.json`` is put back.
    Once it wrote a checkpoint, everything stays, for ``--resume``.
    """
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"out {out} is a file, not a folder")
    ckpt = checkpoint_dir(out) / LAST
    has_ckpt = ckpt.is_file()
    if resume and not has_ckpt:
        raise UserError(f"no checkpoint to resume from: {ckpt} (start without --resume)")
    if not resume and has_ckpt:
        raise UserError(f"{out} already holds a training checkpoint; pass --resume to "
                        "continue it or choose another output folder")
    config_file = out / "config.json"
    previous = config_file.read_text() if config_file.is_file() else None
    before = _stamp(ckpt)
    env = distributed.detect()

    def progressed(_entry: Path) -> bool:
        return _stamp(ckpt) not in (None, before)

    try:
        with cleaned_on_failure(out, progressed, enabled=env.is_main):
            return _train(cfg, out, env, resume, quiet)
    except BaseException:
        if env.is_main and previous is not None and not progressed(out):
            write_text_atomic(config_file, previous)  # the failed run changed nothing
        raise


def _train(cfg: TrainConfig, out: Path, env: distributed.DistEnv, resume: bool, quiet: bool
           ) -> TrainResult:
    """Build the model, data and validation of ``cfg``, write ``out/config.json``, train."""
    device = distributed.device_for(env, resolve_device(cfg.train.device))
    distributed.init(env, device)
    try:
        model = build_model(cfg)
        check_training_memory(cfg, model, device)
        is_video = bool(model.is_video)
        scale = int(model.config.scale)
        dataset = build_train_dataset(cfg.data, scale, is_video, cfg.train.seed)
        validate = None
        if cfg.data.val is not None and env.is_main:
            validate = make_validator(cfg.data.val, scale, is_video, device)
        if env.is_main:
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
        trainer = Trainer(model, dataset, cfg, validate=validate, device=device, quiet=quiet,
                          env=env, extra={"source": cfg.model.file or cfg.model.name})
        return trainer.fit(resume=resume)
    finally:
        distributed.shutdown(env)

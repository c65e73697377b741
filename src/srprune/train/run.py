"""A whole training run from a :class:`TrainConfig`: model, data, validation, :class:`Trainer`.

Used by ``srprune train``; pruning stages build their own :class:`Trainer` with extra terms.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from srprune.train import distributed
from srprune.train.config import TrainConfig
from srprune.train.loop import Trainer, TrainResult


def build_model(cfg: TrainConfig) -> nn.Module:
    """A fresh model by name (initialised under ``train.seed``) or the model in ``model.file``."""
    from srprune.models.registry import create_model

    if cfg.model.file is not None:
        from srprune.io.model_file import load_model

        return load_model(cfg.model.file).train()
    torch.manual_seed(cfg.train.seed)
    return create_model(cfg.model.name or "", cfg.model.scale).train()


def run_training(cfg: TrainConfig, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Train as ``cfg`` says (under torchrun: one rank of a DDP job).

    Writes the validated config to ``out/config.json``, and ``out/checkpoints/last.pt``,
    ``out/train_log.jsonl``, ``out/tb/`` and ``out/model.safetensors``.
    """
    from srprune.devices import resolve_device
    from srprune.io.atomic import write_text_atomic
    from srprune.train.datasets import build_train_dataset
    from srprune.train.validate import make_validator

    env = distributed.detect()
    device = distributed.device_for(env, resolve_device(cfg.train.device))
    distributed.init(env, device)
    try:
        model = build_model(cfg)
        is_video = bool(model.is_video)
        scale = int(model.config.scale)
        dataset = build_train_dataset(cfg.data, scale, is_video, cfg.train.seed)
        validate = None
        if cfg.data.val is not None and env.is_main:
            validate = make_validator(cfg.data.val, scale, is_video, device)
        if env.is_main:
            out = Path(cfg.out)
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
        trainer = Trainer(model, dataset, cfg, validate=validate, device=device, quiet=quiet,
                          env=env, extra={"source": cfg.model.file or cfg.model.name})
        return trainer.fit(resume=resume)
    finally:
        distributed.shutdown(env)

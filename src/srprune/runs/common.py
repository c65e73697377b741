"""Pieces both pipelines (SSL family and FMP) use: data, validation, stage run configs, and
the settings a stage's fingerprint depends on."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from srprune.models.contract import require
from srprune.train.config import TrainConfig
from srprune.train.datasets import build_train_dataset
from srprune.train.validate import make_validator
from srprune.typed import to_plain

# Train-config keys that change no trained weight (cadence, device, output, loaders).
RESULT_NEUTRAL = ("out", "model", "train.device", "train.val_every", "train.ckpt_every",
                  "train.log_every", "train.tensorboard", "train.keep_ckpts",
                  "data.num_workers", "data.cache", "data.val")


def training_inputs(cfg: TrainConfig) -> dict[str, Any]:
    """The part of a training config that decides the trained weights (for fingerprints)."""
    plain = to_plain(cfg)

    def strip(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out = {}
        for k, v in d.items():
            key = f"{prefix}{k}"
            if key in RESULT_NEUTRAL:
                continue
            out[k] = strip(v, key + ".") if isinstance(v, dict) else v
        return out

    inputs = strip(plain)
    if inputs.get("train", {}).get("precision") == "fp32":  # the default: fingerprints of runs
        del inputs["train"]["precision"]                    # made before the key stay valid
    return inputs


def train_dataset(cfg: TrainConfig, model: nn.Module) -> Any:
    """The training dataset of ``cfg.data`` for ``model``'s scale and kind."""
    m = require(model)
    return build_train_dataset(cfg.data, m.config.scale, m.is_video, cfg.train.seed)


def validator(cfg: TrainConfig, model: nn.Module, device: str) -> Any:
    """Scores a model on ``cfg.data.val`` (None when the config has no validation data)."""
    if cfg.data.val is None:
        return None
    m = require(model)
    return make_validator(cfg.data.val, m.config.scale, m.is_video, device)


def one_period(cfg: TrainConfig, iters: int, out: Path, lr: float | None = None,
               **loop_changes: Any) -> TrainConfig:
    """``cfg`` for a stage of ``iters`` iterations (at ``lr``): one cosine period, no EMA and no
    flow warm-up (pruning stages keep the flow network frozen, or train it from the start with
    ``prune.flow``)."""
    optim = cfg.optim if lr is None else dataclasses.replace(cfg.optim, lr=lr)
    sched = dataclasses.replace(optim.scheduler, periods=None, restart_weights=None)
    optim = dataclasses.replace(optim, scheduler=sched, fix_flow_iters=0)
    loop = dataclasses.replace(cfg.train, iters=iters, ema=None, **loop_changes)
    return dataclasses.replace(cfg, optim=optim, train=loop, out=str(out))

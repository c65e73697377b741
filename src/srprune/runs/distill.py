"""Pruning by distillation: the dense model teaches its compact self on the user's LR frames.

``srprune prune --distill --data DIR``: the regularise and finetune stages train on random LR
crops of ``DIR`` (no HR anywhere) against the frozen dense model's output on the same crops
(:mod:`srprune.train.distill`); the report scores fidelity to the dense model on a held-out
part of ``DIR`` (:mod:`srprune.eval.fidelity`). This module holds the run-level pieces: the
default config (``--config`` is optional then), the data's fingerprint and the loaded data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from srprune.data.lr_frames import LRClip, find_sources, load_lr_clips, split_held_out
from srprune.data.lr_sampling import LRCropDataset
from srprune.errors import UserError
from srprune.eval.fidelity import TeacherFidelity
from srprune.io.model_file import load_model
from srprune.models.contract import declared_hidden, require
from srprune.pruning.config import short_schedule
from srprune.runs.fingerprint import file_hash
from srprune.runs.prune import PRUNE_STAGES, LossSource, with_loss
from srprune.runs.prune_files import SELECTION, read_selection, stream_kept
from srprune.train.config import TrainConfig, apply_overrides, read_yaml
from srprune.train.distill import (
    DistillSettings,
    HiddenStateTerm,
    TeacherTargets,
    distill_loss,
    distill_settings,
)

DEFAULT_REG_ITERS = 100
DEFAULT_FINETUNE_ITERS = 300


def default_config(is_video: bool, data: str | Path) -> dict[str, Any]:
    """The pruning config of ``srprune prune --distill --data DIR`` without ``--config``:
    100 regularisation and 300 finetuning iterations (``--reg-iters``/``--finetune-iters``),
    batches sized for a CPU (2 windows of 5 frames or 8 single frames, 32-pixel LR crops),
    Adam at 5e-4 with a cosine decay, the flow network (if any) kept as it is."""
    crops = ({"num_frames": 5, "lr_patch": 32, "batch_size": 2} if is_video
             else {"lr_patch": 32, "batch_size": 8})
    return {
        "prune": {"ratio": 0.5, **short_schedule(DEFAULT_REG_ITERS)},
        "data": crops,
        "optim": {"lr": 5e-4, "flow_lr_mult": 0.0,
                  "scheduler": {"name": "cosine_restart", "eta_min": 1e-5}},
        "train": {"iters": DEFAULT_FINETUNE_ITERS, "log_every": 50, "ckpt_every": 100,
                  "tensorboard": False},
        "distill": {"data": str(data)},
    }


def load_distill_settings(source: Path | dict[str, Any], overrides: list[Any]
                          ) -> DistillSettings | None:
    """The ``distill`` section of a pruning config (a YAML file or its mapping) after
    ``overrides``; None when it names no data (no distillation)."""
    data = apply_overrides(read_yaml(source) if isinstance(source, Path) else source, overrides)
    section = data.get("distill")
    if section is None:
        return None
    try:
        settings = distill_settings(section)
    except UserError as e:
        raise UserError(f"{source}: {e}" if isinstance(source, Path) else str(e)) from None
    return settings if settings.data is not None else None


def data_fingerprint(settings: DistillSettings) -> dict[str, Any]:
    """What the distillation data is, for the stages' fingerprints: the number of files and
    a sha256 over their paths (relative to ``data``) and contents."""
    assert settings.data is not None
    root = Path(settings.data)
    base = root if root.is_dir() else root.parent
    h = hashlib.sha256()
    files = sorted(f.relative_to(base).as_posix()
                   for s in find_sources(root, False) for f in s.files())
    for name in files:
        h.update(f"{name}\0{file_hash(base / name)}\n".encode())
    return {"files": len(files), "sha256": h.hexdigest()}


def distill_inputs(settings: DistillSettings, cfg: TrainConfig) -> dict[str, Any]:
    """A distillation stage's fingerprint inputs: the data, the loss and its weights."""
    return {"data": data_fingerprint(settings), "loss": settings.loss,
            "eps": cfg.loss.eps if settings.loss == "charbonnier" else None,
            "feature_weight": settings.feature_weight, "max_frames": settings.max_frames}


@dataclass
class DistillData:
    """The LR clips of a distillation run: what it trains on and what it holds out."""

    train: list[LRClip]
    held_out: list[LRClip]

    def held_out_names(self, settings: DistillSettings) -> list[str]:
        """Names of the held-out clips fidelity is measured on."""
        return [c.name for c in self.held_out[: settings.val_clips]]


_LOADED: dict[tuple[Any, ...], DistillData] = {}


def window(cfg: TrainConfig, is_video: bool) -> int | None:
    """Frames per training window (video models) or None (single frames)."""
    return cfg.data.num_frames if is_video else None


def load_distill_data(settings: DistillSettings, cfg: TrainConfig, is_video: bool
                      ) -> DistillData:
    """Read ``settings.data`` once per process (the last one is kept) and split it."""
    assert settings.data is not None
    n = window(cfg, is_video)
    fp = data_fingerprint(settings)["sha256"]
    key = (str(Path(settings.data).resolve()), fp, is_video, settings.max_frames, n)
    if key not in _LOADED:
        segment = max(3 * n, 30) if n else 1
        clips = load_lr_clips(settings.data, is_video, settings.max_frames, segment)
        train, held = split_held_out(clips, n or 1)
        _LOADED.clear()
        _LOADED[key] = DistillData(train, held)
    return _LOADED[key]


def distill_dataset(settings: DistillSettings, cfg: TrainConfig, model: nn.Module) -> Any:
    """The training crops for ``model`` (windows for video models)."""
    video = require(model).is_video
    data = load_distill_data(settings, cfg, video)
    return LRCropDataset(data.train, cfg.data.lr_patch, window(cfg, video), seed=cfg.train.seed)


def fidelity_scorer(settings: DistillSettings, cfg: TrainConfig, teacher: nn.Module,
                    device: str) -> Any:
    """Scores a model against ``teacher`` on the held-out clips."""
    data = load_distill_data(settings, cfg, require(teacher).is_video)
    return TeacherFidelity(teacher, data.held_out, device, settings.val_clips,
                           settings.val_frames)


def check_distill_data(settings: DistillSettings, cfg: TrainConfig, model: nn.Module) -> None:
    """Check the settings against the model and read the data, before anything is written
    (UserError naming the problem)."""
    if settings.feature_weight > 0 and not declared_hidden(model):
        raise UserError("distill.feature_weight: this model declares no hidden states to "
                        "distil (video models do); leave it at 0")
    distill_dataset(settings, cfg, model)


def distill_stages(settings: DistillSettings, stages: Any = None) -> tuple[Any, ...]:
    """``srprune prune``'s stage table with distillation: both training stages train on the
    LR crops against the dense model's output, the report adds fidelity to it."""
    def batches(run: Any, model: nn.Module) -> Any:
        return distill_dataset(settings, run.cfg, model)

    def prepare(run: Any, model: nn.Module) -> Any:
        return TeacherTargets(load_model(run.dense), hidden=settings.feature_weight > 0)

    def inputs(run: Any) -> dict[str, Any]:
        return distill_inputs(settings, run.cfg)

    def reconstruction(run: Any) -> Any:
        return distill_loss(settings.loss, run.cfg.loss.eps)

    def terms_of(compact: bool) -> Any:
        def terms(run: Any, model: nn.Module) -> list[Any]:
            hidden = declared_hidden(model)
            if settings.feature_weight == 0 or not hidden:
                return []
            # a compact model's narrower states (coupled streams): the teacher's kept channels
            kept = stream_kept(read_selection(run.path(SELECTION), "finetune"), hidden) \
                if compact else None
            return [HiddenStateTerm(settings.feature_weight, kept)]

        return terms

    def scores(run: Any, dense: nn.Module) -> Any:
        data = load_distill_data(settings, run.cfg, require(dense).is_video)
        facts = {"data": settings.data, "loss": settings.loss,
                 "held_out": data.held_out_names(settings)}
        return fidelity_scorer(settings, run.cfg, dense, run.device), facts

    def training(compact: bool) -> LossSource:
        return LossSource(batches=batches, terms=terms_of(compact), prepare=prepare,
                          inputs=inputs, reconstruction=reconstruction)

    return with_loss(PRUNE_STAGES if stages is None else stages,
                     {"regularize": training(False), "finetune": training(True),
                      "report": LossSource(inputs=inputs, scores=scores)})

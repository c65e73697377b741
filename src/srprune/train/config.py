"""Typed, frozen training configs, validated at the edge (YAML, ``--set`` overrides, flags).

A config file has the sections below; every key is optional except ``model``. Unknown keys are
rejected by their dotted name, values are type-checked and range-checked, and nothing mutates a
loaded config (use :func:`dataclasses.replace`).

.. code-block:: yaml

    model: {name: basicvsr, scale: 4}       # or {file: dense.safetensors}
    data:
      layout: reds                           # reds, vimeo, vid4, frames, sisr
      root: datasets/REDS                    # or "default": the embedded synthetic clips
      split: train                           # layouts with splits only (reds, vimeo)
      num_frames: 15                         # longer than a clip: mirror-padded (Vimeo 7 -> 14)
      lr_patch: 64
      batch_size: 8                          # global batch (split across DDP ranks)
      num_workers: 4
      cache: true                            # keep decoded frames in memory (false for REDS)
      val: {layout: reds, root: datasets/REDS, split: reds4, max_clips: 4, chunk: 25}
    optim:
      lr: 2.0e-4
      betas: [0.9, 0.99]
      weight_decay: 0
      flow_lr_mult: 0.125
      fix_flow_iters: 5000
      scheduler: {name: cosine_restart, periods: [300000], restart_weights: [1], eta_min: 1.0e-7}
    loss: {eps: 1.0e-6}
    train: {iters: 300000, val_every: 5000, ckpt_every: 5000, log_every: 100, seed: 0,
            ema: null, device: auto, grad_clip: null, keep_ckpts: false, tensorboard: true,
            precision: fp32}
    out: runs/basicvsr_reds

``scheduler.periods: null`` means one period of ``train.iters``. Numbers written as ``2e-4``
(which YAML 1.1 reads as a string) are accepted for numeric keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from srprune.errors import UserError
from srprune.typed import SEED_MAX, build_section, check, check_range, read_yaml_file, to_plain

MAX_BATCH = 4096
MAX_FRAMES = 1000
MAX_PATCH = 2048
MAX_ITERS = 10**9
"""Upper bounds of the data and loop sizes (docs/limits.md): past them a run would only
allocate until the machine runs out."""


@dataclass(frozen=True)
class ModelConfig:
    """What to train: a registry ``name`` (fresh weights) or a model ``file`` to start from."""

    name: str | None = None
    file: str | None = None
    scale: int = 4

    def __post_init__(self) -> None:
        check((self.name is None) != (self.file is None), "name",
               "give exactly one of model.name and model.file")
        check(self.scale in (2, 3, 4), "scale", f"must be 2, 3 or 4, got {self.scale}")


@dataclass(frozen=True)
class ValConfig:
    """Held-out clips scored during training with their layout's metric convention."""

    layout: str = "frames"
    root: str = "default"
    split: str | None = None
    max_clips: int | None = None
    max_frames: int | None = None
    chunk: int | None = None

    def __post_init__(self) -> None:
        for key in ("max_clips", "max_frames", "chunk"):
            value = getattr(self, key)
            check_range(value, key, 1, MAX_FRAMES if key == "max_frames" else 10**6)


@dataclass(frozen=True)
class DataConfig:
    """Training data: layout, sampling window and patch, global batch, loader workers.

    ``cache`` keeps every decoded clip in memory as uint8 (right for the embedded set and
    Vimeo-sized data; switch it off for REDS, 270 clips of 100 HD frames).
    """

    layout: str = "frames"
    root: str = "default"
    split: str | None = None
    num_frames: int = 15
    lr_patch: int = 64
    batch_size: int = 8
    num_workers: int = 0
    cache: bool = True
    val: ValConfig | None = None

    def __post_init__(self) -> None:
        check_range(self.num_frames, "num_frames", 1, MAX_FRAMES)
        check_range(self.lr_patch, "lr_patch", 4, MAX_PATCH)
        check_range(self.batch_size, "batch_size", 1, MAX_BATCH)
        check_range(self.num_workers, "num_workers", 0, 256)


@dataclass(frozen=True)
class SchedulerConfig:
    """``cosine_restart`` (BasicSR's CosineAnnealingRestartLR) or ``constant``."""

    name: Literal["cosine_restart", "constant"] = "cosine_restart"
    periods: tuple[int, ...] | None = None
    restart_weights: tuple[float, ...] | None = None
    eta_min: float = 1e-7

    def __post_init__(self) -> None:
        if self.periods is not None:
            check(len(self.periods) > 0 and all(p >= 1 for p in self.periods), "periods",
                   f"must be a non-empty list of positive lengths, got {list(self.periods)}")
        if self.restart_weights is not None:
            n = 1 if self.periods is None else len(self.periods)
            check(len(self.restart_weights) == n, "restart_weights",
                   f"needs one weight per period ({n}), got {len(self.restart_weights)}")
        check(self.eta_min >= 0, "eta_min", f"must be >= 0, got {self.eta_min}")


@dataclass(frozen=True)
class OptimConfig:
    """Adam with a slower (and initially fixed) flow network."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    flow_lr_mult: float = 0.125
    fix_flow_iters: int = 0
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)

    def __post_init__(self) -> None:
        check(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        check(all(0 <= b < 1 for b in self.betas), "betas", f"must be in [0, 1), got "
               f"{list(self.betas)}")
        check(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        check(self.flow_lr_mult >= 0, "flow_lr_mult",
               f"must be >= 0, got {self.flow_lr_mult}")
        check(self.fix_flow_iters >= 0, "fix_flow_iters",
               f"must be >= 0, got {self.fix_flow_iters}")


@dataclass(frozen=True)
class LossConfig:
    """Reconstruction loss: Charbonnier with smoothing ``eps``."""

    eps: float = 1e-6

    def __post_init__(self) -> None:
        check(self.eps > 0, "eps", f"must be > 0, got {self.eps}")


@dataclass(frozen=True)
class LoopConfig:
    """The ``train`` section: length, cadence of logs/validation/checkpoints, seed, device.

    ``val_every`` / ``ckpt_every`` of 0 mean only at the end; ``ema`` is a decay (e.g. 0.999) or
    null; ``keep_ckpts`` also keeps ``checkpoints/iter_<N>.pt`` beside ``last.pt``;
    ``precision`` is the forward pass's autocast (``fp32``, ``bf16``, ``fp16`` on CUDA only;
    losses stay fp32, see :mod:`srprune.precision`).
    """

    iters: int = 1000
    val_every: int = 0
    ckpt_every: int = 1000
    log_every: int = 100
    seed: int = 0
    ema: float | None = None
    device: str = "auto"
    grad_clip: float | None = None
    keep_ckpts: bool = False
    tensorboard: bool = True
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"

    def __post_init__(self) -> None:
        check_range(self.iters, "iters", 1, MAX_ITERS)
        for key in ("val_every", "ckpt_every"):
            check(getattr(self, key) >= 0, key, f"must be >= 0, got {getattr(self, key)}")
        check(self.log_every >= 1, "log_every", f"must be >= 1, got {self.log_every}")
        check_range(self.seed, "seed", 0, SEED_MAX)
        check(self.ema is None or 0 < self.ema < 1, "ema",
               f"must be a decay in (0, 1) or null, got {self.ema}")
        check(self.grad_clip is None or self.grad_clip > 0, "grad_clip",
               f"must be > 0 or null, got {self.grad_clip}")
        check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
               "device", f"must be cpu, cuda, cuda:N or auto, got {self.device!r}")


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run."""

    model: ModelConfig
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    out: str = "runs/train"

    @property
    def periods(self) -> tuple[int, ...]:
        """Scheduler periods with ``null`` resolved to one period of ``train.iters``."""
        return self.optim.scheduler.periods or (self.train.iters,)

    @property
    def restart_weights(self) -> tuple[float, ...]:
        """Restart weights with ``null`` resolved to 1 per period."""
        return self.optim.scheduler.restart_weights or (1.0,) * len(self.periods)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists for tuples), the inverse of :func:`config_from_dict`."""
        return to_plain(self)


# -- loading -----------------------------------------------------------------------------------

def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Validate a plain nested dict (e.g. parsed YAML) into a :class:`TrainConfig`."""
    if not isinstance(data, Mapping):
        raise UserError("a training config must be a mapping of sections, "
                        f"got {type(data).__name__}")
    cfg = build_section(TrainConfig, data, "")
    if cfg.optim.scheduler.restart_weights is not None and cfg.optim.scheduler.periods is None \
            and len(cfg.optim.scheduler.restart_weights) != 1:
        raise UserError("optim.scheduler.restart_weights: one weight needed when periods is null")
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    """``optim.lr=1e-4`` -> (["optim", "lr"], "1e-4" parsed as YAML)."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected KEY=VALUE, e.g. optim.lr=1e-4")
    key, raw = text.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not all(parts):
        raise UserError(f"--set {text!r}: bad key {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "parse error"
        raise UserError(f"--set {text!r}: value is not valid YAML ({first})") from None
    return parts, value


def apply_overrides(data: Mapping[str, Any],
                    overrides: Iterable[str | tuple[str, Any]]) -> dict[str, Any]:
    """A copy of ``data`` with overrides applied in order, before validation.

    Each override is ``"KEY=VALUE"`` (value parsed as YAML) or a ``(KEY, value)`` pair taken as
    is; keys are dotted (``optim.lr``). Absent (or null) sections are created, so
    ``data.val.root=x`` works on a config without ``data.val``; unknown keys are still rejected
    when the result is validated.
    """
    result = _deep_copy(data)
    for item in overrides:
        if isinstance(item, str):
            parts, value = parse_override(item)
            text = item
        else:
            parts, value = item[0].split("."), item[1]
            text = item[0]
        node = result
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UserError(f"override {text}: {'.'.join(parts[:i + 1])} is not a section")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a YAML config file."""
    data = read_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: a training config must be a mapping of sections")
    return data


def blame(path: str | Path | None, overrides: Iterable[str | tuple[str, Any]],
          error: UserError) -> UserError:
    """``error`` of a config built from ``path`` plus ``overrides``, naming where the bad key
    came from: ``--set KEY=VALUE`` when a (later) override set the key it names, else the file
    (nothing when the config came from no file).
    """
    text = str(error)
    for item in reversed(list(overrides)):
        key = (item.split("=", 1)[0] if isinstance(item, str) else item[0]).strip()
        if key and re.search(rf"(?<![\w.]){re.escape(key)}(?![\w])", text):
            label = f"--set {item}" if isinstance(item, str) else f"{key} = {item[1]!r}"
            return UserError(f"{label}: {text}")
    return UserError(f"{path}: {text}" if path is not None else text)


def load_config(path: str | Path,
                overrides: Sequence[str | tuple[str, Any]] = ()) -> TrainConfig:
    """Read, override and validate a YAML training config.

    Args:
        path: The YAML file.
        overrides: ``KEY=VALUE`` strings or ``(KEY, value)`` pairs with dotted keys
            (``train.iters=10``), applied in order (see :func:`apply_overrides`).
    """
    data = read_yaml(path)  # its errors name the path already
    try:
        return config_from_dict(apply_overrides(data, overrides))
    except UserError as e:
        raise blame(path, overrides, e) from None

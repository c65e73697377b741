"""The ``prune`` section of a pruning config, validated at the edge.

A pruning config is a training config (``data``, ``optim``, ``loss``, ``train``: the finetuning
run) plus a ``prune`` section with the method's own settings. Fields left ``null`` take the
method's default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from srprune.errors import UserError
from srprune.pruning.groups import RESIDUAL_MODES

T = TypeVar("T")


@dataclass(frozen=True)
class PruneSettings:
    """Method settings (paper defaults).

    Attributes:
        ratio: fraction of all prunable units removed.
        scope, order, residual, pixel_shuffle, temporal_finetune: override the recipe (ablations).
        delta, t1, tau, t2: growing-L2 schedule (SSL: 1e-4, 5, 0.1, 3375).
        reg_iters: regularisation iterations (null: the schedule's own length).
        reg_lr: learning rate of the network weights in the regularisation stage
            (null: ``optim.lr``).
        scale_lr: learning rate of the scaling factors in that stage (SSL's gammas, ASSL's
            weight-norm scales; null: ``reg_lr``). Adam moves a scale by about its learning
            rate per step, so a short stage needs a larger one for the selected ones to reach
            zero.
        align_iters: ASSL's alignment phase, before the streams' growing L2 starts (null:
            ``round(0.4 * t2)``, ASSL's ratio of alignment to stabilisation iterations,
            17,260 : 43,150).
        align_weight: weight of ASSL's alignment term ``-mean(M M^T)``.
        lambda_tf: weight of the Temporal Finetuning loss (1e-2).
        seed: selection seed (random order) and Scratch's initialisation.
        report_lr_size: LR size at which the report counts MACs and times latency.
        latency_frames, latency_repeats: clip length and repeats of the latency measurement.
        round_to: round each group's kept units up to a multiple of this (8 or 16 for
            hardware-friendly widths; 1 = off), giving back the best-scored removed units.
    """

    ratio: float = 0.5
    scope: str | None = None
    order: str | None = None
    residual: str | None = None
    pixel_shuffle: bool | None = None
    temporal_finetune: bool | None = None
    delta: float = 1e-4
    t1: int = 5
    tau: float = 0.1
    t2: int = 3375
    reg_iters: int | None = None
    reg_lr: float | None = None
    scale_lr: float | None = None
    align_iters: int | None = None
    align_weight: float = 1e-3
    lambda_tf: float = 1e-2
    seed: int = 0
    report_lr_size: tuple[int, int] = (180, 320)
    latency_frames: int = 3
    latency_repeats: int = 3
    round_to: int = 1

    def __post_init__(self) -> None:
        def bad(key: str, msg: str) -> UserError:
            return UserError(f"prune.{key}: {msg}")

        if not 0.0 <= self.ratio < 1.0:
            raise bad("ratio", f"must be in [0, 1), got {self.ratio}")
        if self.scope not in (None, "global", "local"):
            raise bad("scope", f"must be global or local, got {self.scope!r}")
        if self.order not in (None, "min", "max", "random"):
            raise bad("order", f"must be min, max or random, got {self.order!r}")
        if self.residual not in (None, *RESIDUAL_MODES):
            raise bad("residual", f"must be one of {', '.join(RESIDUAL_MODES)}")
        if self.delta <= 0 or self.tau < self.delta or self.t1 < 1 or self.t2 < 0:
            raise bad("delta", "need delta > 0, tau >= delta, t1 >= 1, t2 >= 0")
        if self.reg_iters is not None and self.reg_iters < 1:
            raise bad("reg_iters", "must be >= 1 or null")
        if self.align_iters is not None and self.align_iters < 0:
            raise bad("align_iters", "must be >= 0 or null")
        if self.align_weight < 0:
            raise bad("align_weight", "must be >= 0")
        if self.lambda_tf < 0:
            raise bad("lambda_tf", "must be >= 0")
        if self.round_to < 1:
            raise bad("round_to", "must be >= 1 (8 or 16 for hardware-friendly widths)")


def alignment_iters(s: PruneSettings) -> int:
    """Iterations of ASSL's alignment phase under settings ``s``."""
    return s.align_iters if s.align_iters is not None else round(0.4 * s.t2)


def section_from_dict(cls: type[T], data: dict[str, Any] | None, section: str) -> T:
    """Build the settings dataclass ``cls`` of a config ``section``, naming unknown keys
    (``report_lr_size`` is read as a tuple)."""
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"unknown {section} settings: "
                        f"{', '.join(f'{section}.{k}' for k in unknown)}")
    if data.get("report_lr_size") is not None:
        data["report_lr_size"] = tuple(int(v) for v in data["report_lr_size"])
    try:
        return cls(**data)
    except TypeError as e:
        raise UserError(f"{section} section: {e}") from None


def settings_from_dict(data: dict[str, Any] | None) -> PruneSettings:
    """Build the ``prune`` settings, naming unknown keys."""
    return section_from_dict(PruneSettings, data, "prune")

"""The ``prune`` section of a pruning config, validated at the edge.

A pruning config is a training config (``data``, ``optim``, ``loss``, ``train``: the finetuning
run) plus a ``prune`` section with the method's own settings. Fields left ``null`` take the
method's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from srprune.pruning.aligned_l2 import default_align_iters
from srprune.pruning.latency_target import is_latency, parse_target
from srprune.typed import SEED_MAX, FieldError, build_section, check, check_range

MAX_ITERS = 10**9
MAX_REPORT_SIDE = 4096
MIN_DRIFT_FRAMES = 20  # two windows of 10 frames
MAX_DRIFT_FRAMES = 10_000


@dataclass(frozen=True)
class PruneSettings:
    """Method settings (paper defaults).

    Attributes:
        ratio: fraction of all prunable units removed.
        target: a size target instead of ``ratio``: ``macs=4.0G`` (per frame at
            ``report_lr_size``, without the flow network), ``macs+flow=4.0G``, ``params=0.7M``,
            ``ratio=0.5`` or ``latency=40ms@openvino:180x320`` (a latency budget per frame,
            searched on a measured per-layer latency table, ``srprune.latency``); the ratio
            that meets it is searched on the selection.
        scope, order, residual, pixel_shuffle, temporal_finetune, score_norm: override the
            recipe (ablations; ``score_norm``: ``sum`` or ``mean`` L1 per unit).
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
        latency: time dense vs compact in the report (``--no-latency`` switches it off: the
            report then has params, MACs and quality only, and says latency was not measured).
        latency_lr_size: LR size of the latency measurement (null: ``report_lr_size``); a
            smaller one makes the report cheaper without changing its MACs.
        round_to: round each group's kept units up to a multiple of this (8 or 16 for
            hardware-friendly widths; 1 = off), giving back the best-scored removed units.
        drift_frames: video models: frames of the long clip (the first validation clip played
            forward and backward) on which the report scores the compact model's PSNR against
            the dense model per frame and flags growth (0 = off).
        drift_lr_size: the long clip's frames are centre-cropped to at most this LR size
            (null: whole frames), which bounds the measurement's cost.
        flow: also prune the flow network (SPyNet's hidden widths, as the model declares
            them); it then trains in the regularize and finetune stages instead of staying
            frozen. Off: the flow network is left whole, as in the SSL paper.
        flow_ratio: fraction of the flow network's units removed, ranked among themselves
            by the method's scope and order (null: ``ratio``, or a ``ratio=`` target's; a
            size target in MACs or params needs it set: the target then sizes the SR part
            with the flow network at this ratio; a latency target does not take ``flow``).
        flow_distill: weight of the flow-distillation term with ``flow``: Charbonnier
            between the student's flows and the frozen dense model's on the training clips,
            in pixels (0: the SR loss alone trains the flow network).
        flow_lr_mult: learning-rate multiplier of the flow network's weights in the pruning
            stages with ``flow`` (replaces ``optim.flow_lr_mult``, which configs for a frozen
            flow set to 0).
    """

    ratio: float = 0.5
    target: str | None = None
    scope: Literal["global", "local"] | None = None
    order: Literal["min", "max", "random"] | None = None
    residual: Literal["rsc", "coupled", "fixed"] | None = None
    pixel_shuffle: bool | None = None
    temporal_finetune: bool | None = None
    score_norm: Literal["sum", "mean"] | None = None
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
    latency: bool = True
    latency_lr_size: tuple[int, int] | None = None
    round_to: int = 1
    drift_frames: int = 100
    drift_lr_size: tuple[int, int] | None = (64, 64)
    flow: bool = False
    flow_ratio: float | None = None
    flow_distill: float = 1e-2
    flow_lr_mult: float = 0.125

    def __post_init__(self) -> None:
        check(0.0 <= self.ratio < 1.0, "ratio", f"must be in [0, 1), got {self.ratio}")
        if self.target is not None:
            try:
                parse_target(self.target)
            except ValueError as e:
                raise FieldError("target", str(e)) from None
        check_range(self.delta, "delta", 0, lo_open=True)
        check(self.tau >= self.delta, "tau", f"must be >= delta ({self.delta}), got {self.tau}")
        check_range(self.t1, "t1", 1, MAX_ITERS)
        check_range(self.t2, "t2", 0, MAX_ITERS)
        check_range(self.reg_iters, "reg_iters", 1, MAX_ITERS)
        check_range(self.align_iters, "align_iters", 0, MAX_ITERS)
        for key in ("reg_lr", "scale_lr"):
            check_range(getattr(self, key), key, 0, lo_open=True)
        check_range(self.align_weight, "align_weight", 0)
        check_range(self.lambda_tf, "lambda_tf", 0)
        check_range(self.seed, "seed", 0, SEED_MAX)
        for i, side in enumerate(self.report_lr_size):
            check_range(side, f"report_lr_size[{i}]", 4, MAX_REPORT_SIDE)
        for i, side in enumerate(self.latency_lr_size or ()):
            check_range(side, f"latency_lr_size[{i}]", 4, MAX_REPORT_SIDE)
        check_range(self.latency_frames, "latency_frames", 1, 100)
        check_range(self.latency_repeats, "latency_repeats", 1, 1000)
        check_range(self.round_to, "round_to", 1, 256)
        check(self.drift_frames == 0 or MIN_DRIFT_FRAMES <= self.drift_frames <= MAX_DRIFT_FRAMES,
              "drift_frames", f"must be 0 (off) or {MIN_DRIFT_FRAMES} to {MAX_DRIFT_FRAMES}, "
              f"got {self.drift_frames}")
        for i, side in enumerate(self.drift_lr_size or ()):
            check_range(side, f"drift_lr_size[{i}]", 8, MAX_REPORT_SIDE)
        if self.flow_ratio is not None:
            check(0.0 <= self.flow_ratio < 1.0, "flow_ratio",
                  f"must be in [0, 1), got {self.flow_ratio}")
        check_range(self.flow_distill, "flow_distill", 0)
        check_range(self.flow_lr_mult, "flow_lr_mult", 0)
        check(not (self.flow and self.target is not None and is_latency(self.target)), "flow",
              f"does not work with a latency target ({self.target}) yet; give a "
              "ratio or a macs / params target")
        sized = self.target is not None and not self.target.strip().startswith("ratio")
        check(not (self.flow and sized and self.flow_ratio is None), "flow_ratio",
              f"must be set with prune.flow and a size target ({self.target}): the target "
              "sizes the SR part around the flow network's ratio")

    def flow_fraction(self, ratio: float) -> float:
        """The flow network's ratio when the SR part's is ``ratio``."""
        return ratio if self.flow_ratio is None else self.flow_ratio


def short_schedule(reg_iters: int) -> dict[str, Any]:
    """``prune`` keys of a regularisation stage of ``reg_iters`` iterations (``srprune demo``,
    ``srprune prune --reg-iters``): growing L2 reaches tau = 0.1 halfway, then holds; the
    scales' learning rate is large enough for Adam to move them to zero in that many steps;
    ASSL aligns for 0.4 of the holding part first (on top of ``reg_iters``)."""
    reach = max(1, reg_iters // 2)
    return {"reg_iters": reg_iters, "t1": 1, "tau": 0.1, "delta": 0.1 / reach,
            "t2": reg_iters - reach, "scale_lr": min(0.1, 2.0 / reg_iters),
            "align_iters": max(1, round(0.4 * (reg_iters - reach)))}


def alignment_iters(s: PruneSettings) -> int:
    """Iterations of ASSL's alignment phase under settings ``s``."""
    return s.align_iters if s.align_iters is not None else default_align_iters(s.t2)


def settings_from_dict(data: Mapping[str, Any] | None) -> PruneSettings:
    """Build the ``prune`` settings (types, ranges and unknown keys checked by dotted name)."""
    return build_section(PruneSettings, data, "prune")

"""The ``fmp`` section of a pruning config, validated at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from srprune.pruning.config import MAX_ITERS, MAX_REPORT_SIDE
from srprune.typed import SEED_MAX, build_section, check, check_range


@dataclass(frozen=True)
class FMPSettings:
    """FMP's settings (defaults follow DHP and the FMP supplement where they state one).

    Attributes:
        metric: what the budgets count, ``params`` or ``flops`` (MACs).
        criterion: ``channel``, ``weight``, ``total_fixed`` or ``total`` (the paper's choice).
        gamma_c, gamma_w: channel and weight pruning ratios (fractions of the dense total in
            ``metric``).
        tolerance: the search stops within this much of the target (DHP: 0.02 of FLOPs).
        check_every: iterations between budget checks (DHP: 100).
        search_iters: the most search iterations; a search that has not converged by then is
            completed by removing the smallest latents / indicators (reported as such).
        lambda_c: proximal (soft-threshold) strength on the channel latents.
        lambda_w: sparsity strength on the weight indicators.
        weight_reg: ``l1`` (a proximal step, exact zeros) or ``l2`` (a loss term).
        threshold_c, threshold_w: a latent entry / indicator below this is removed for good
            (DHP: 5e-3); among those, the smallest |z| / gated weights |I O| go first, and only
            as many as the budget needs (the rest are held at the threshold).
        dense_image_convs: keep the convs that read or write image channels (the first conv,
            the last conv or the conv before the final pixel shuffle) free of weight pruning:
            their zeros shift colours, which finetuning is slow to undo.
        min_units: fewest units any group keeps (pixel-shuffle units count s^2 channels).
        latent_lr, indicator_lr: Adam learning rates of latents and indicators (null:
            ``optim.lr``).
        embed: the hypernetwork's embedding size m (DHP: 8).
        residual: how residual streams are grouped (``coupled``: one latent per stream, DHP).
        seed: initialisation seed of the network and hypernetwork.
        report_lr_size: LR size of budgets and the report (null: a 1280x720 output).
        latency_repeats: repeats of the interleaved latency measurement.
    """

    metric: Literal["params", "flops"] = "params"
    criterion: Literal["channel", "weight", "total_fixed", "total"] = "total"
    gamma_c: float = 0.3
    gamma_w: float = 0.1
    tolerance: float = 0.005
    check_every: int = 100
    search_iters: int = 10000
    lambda_c: float = 1.0
    lambda_w: float = 1.0
    weight_reg: Literal["l1", "l2"] = "l1"
    threshold_c: float = 5e-3
    threshold_w: float = 5e-3
    min_units: int = 2
    dense_image_convs: bool = True
    latent_lr: float | None = None
    indicator_lr: float | None = None
    embed: int = 8
    residual: Literal["rsc", "coupled", "fixed"] = "coupled"
    seed: int = 0
    report_lr_size: tuple[int, int] | None = None
    latency_repeats: int = 5

    def __post_init__(self) -> None:
        check(0 <= self.gamma_c < 1, "gamma_c", f"must be in [0, 1), got {self.gamma_c}")
        check(0 <= self.gamma_w < 1, "gamma_w", f"must be in [0, 1), got {self.gamma_w}")
        check(self.gamma_c + self.gamma_w < 1, "gamma_w",
              f"gamma_c + gamma_w must be below 1, got {self.gamma_c + self.gamma_w}")
        for key in ("check_every", "search_iters"):
            check_range(getattr(self, key), key, 1, MAX_ITERS)
        check_range(self.min_units, "min_units", 1, 4096)
        check_range(self.embed, "embed", 1, 256)
        check_range(self.latency_repeats, "latency_repeats", 1, 1000)
        for key in ("lambda_c", "lambda_w", "threshold_c", "threshold_w", "tolerance"):
            check_range(getattr(self, key), key, 0)
        for key in ("latent_lr", "indicator_lr"):
            check_range(getattr(self, key), key, 0, lo_open=True)
        check_range(self.seed, "seed", 0, SEED_MAX)
        if self.report_lr_size is not None:
            for i, side in enumerate(self.report_lr_size):
                check_range(side, f"report_lr_size[{i}]", 4, MAX_REPORT_SIDE)

    def report_size(self, scale: int) -> tuple[int, int]:
        """The LR size of budgets and reports: the setting, else a 1280x720 output."""
        if self.report_lr_size is not None:
            return self.report_lr_size
        return 720 // scale, 1280 // scale


def fmp_settings_from_dict(data: Mapping[str, Any] | None) -> FMPSettings:
    """Build the ``fmp`` settings (types, ranges and unknown keys checked by dotted name)."""
    return build_section(FMPSettings, data, "fmp")

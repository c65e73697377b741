"""The ``fmp`` section of a pruning config, validated at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from srprune.errors import UserError
from srprune.pruning.config import section_from_dict
from srprune.pruning.fmp.budget import CRITERIA, METRICS
from srprune.pruning.groups import RESIDUAL_MODES


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

    metric: str = "params"
    criterion: str = "total"
    gamma_c: float = 0.3
    gamma_w: float = 0.1
    tolerance: float = 0.005
    check_every: int = 100
    search_iters: int = 10000
    lambda_c: float = 1.0
    lambda_w: float = 1.0
    weight_reg: str = "l1"
    threshold_c: float = 5e-3
    threshold_w: float = 5e-3
    min_units: int = 2
    dense_image_convs: bool = True
    latent_lr: float | None = None
    indicator_lr: float | None = None
    embed: int = 8
    residual: str = "coupled"
    seed: int = 0
    report_lr_size: tuple[int, int] | None = None
    latency_repeats: int = 5

    def __post_init__(self) -> None:
        def bad(key: str, msg: str) -> UserError:
            return UserError(f"fmp.{key}: {msg}")

        if self.metric not in METRICS:
            raise bad("metric", f"must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.criterion not in CRITERIA:
            raise bad("criterion", f"must be one of {', '.join(CRITERIA)}, got "
                                   f"{self.criterion!r}")
        if not (0 <= self.gamma_c < 1 and 0 <= self.gamma_w < 1
                and self.gamma_c + self.gamma_w < 1):
            raise bad("gamma_c", "gamma_c and gamma_w must be in [0, 1) with a sum below 1")
        if self.weight_reg not in ("l1", "l2"):
            raise bad("weight_reg", f"must be l1 or l2, got {self.weight_reg!r}")
        if self.residual not in RESIDUAL_MODES:
            raise bad("residual", f"must be one of {', '.join(RESIDUAL_MODES)}")
        for key in ("check_every", "search_iters", "min_units", "embed", "latency_repeats"):
            if getattr(self, key) < 1:
                raise bad(key, "must be >= 1")
        for key in ("lambda_c", "lambda_w", "threshold_c", "threshold_w", "tolerance"):
            if getattr(self, key) < 0:
                raise bad(key, "must be >= 0")

    def report_size(self, scale: int) -> tuple[int, int]:
        """The LR size of budgets and reports: the setting, else a 1280x720 output."""
        if self.report_lr_size is not None:
            return self.report_lr_size
        return 720 // scale, 1280 // scale


def fmp_settings_from_dict(data: dict[str, Any] | None) -> FMPSettings:
    """Build the ``fmp`` settings, naming unknown keys."""
    return section_from_dict(FMPSettings, data, "fmp")

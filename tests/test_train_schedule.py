"""Cosine annealing with restarts (BasicSR semantics) and the fixed-flow warm-up."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from srprune.train.schedule import (
    ConstantLR,
    CosineRestartLR,
    FlowWarmup,
    cosine_restart_lr,
)


def _basicsr(last_epoch: int, base: float, periods: list[int], weights: list[float],
             eta_min: float) -> float:
    """BasicSR's CosineAnnealingRestartLR.get_lr, written out independently."""
    cumulative = [sum(periods[: i + 1]) for i in range(len(periods))]
    idx = next(i for i, c in enumerate(cumulative) if last_epoch <= c)
    restart = 0 if idx == 0 else cumulative[idx - 1]
    return eta_min + weights[idx] * 0.5 * (base - eta_min) * (
        1 + math.cos(math.pi * (last_epoch - restart) / periods[idx]))


def test_closed_form_values() -> None:
    periods, weights = [10, 20], [1.0, 0.5]
    assert cosine_restart_lr(1.0, 0, periods, weights, 0.0) == 1.0
    assert cosine_restart_lr(1.0, 5, periods, weights, 0.0) == pytest.approx(0.5)
    assert cosine_restart_lr(1.0, 10, periods, weights, 0.0) == pytest.approx(0.0, abs=1e-12)
    assert cosine_restart_lr(1.0, 20, periods, weights, 0.0) == pytest.approx(0.25)
    assert cosine_restart_lr(1.0, 30, periods, weights, 0.1) == pytest.approx(0.1)
    assert cosine_restart_lr(1.0, 99, periods, weights, 0.1) == 0.1  # past the end: eta_min
    for it in range(31):
        assert cosine_restart_lr(2e-4, it, periods, weights, 1e-7) == pytest.approx(
            _basicsr(it, 2e-4, periods, weights, 1e-7), rel=1e-12, abs=1e-18)


def test_scheduler_steps_like_basicsr() -> None:
    """Step s trains at BasicSR's iteration s + 1; groups keep their own base rate."""
    w = nn.Parameter(torch.zeros(1))
    flow = nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([{"params": [w], "lr": 2e-4}, {"params": [flow], "lr": 2.5e-5}])
    sched = CosineRestartLR(opt, [6, 4], [1.0, 0.5], eta_min=1e-7)
    seen = []
    for _ in range(10):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    for s, (lr_main, lr_flow) in enumerate(seen):
        assert lr_main == pytest.approx(_basicsr(s + 1, 2e-4, [6, 4], [1.0, 0.5], 1e-7))
        assert lr_flow == pytest.approx(_basicsr(s + 1, 2.5e-5, [6, 4], [1.0, 0.5], 1e-7))
    assert seen[5][0] == pytest.approx(1e-7)  # end of the first period
    assert sched.lr_at(3) == pytest.approx([g for g in seen[3]])


def test_state_dict_round_trip() -> None:
    w = nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([w], lr=1.0)
    sched = CosineRestartLR(opt, [8])
    for _ in range(3):
        opt.step()
        sched.step()
    opt2 = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = CosineRestartLR(opt2, [8])
    sched2.load_state_dict(sched.state_dict())
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert sched.state_dict() == {"last_epoch": 3, "base_lrs": [1.0]}


def test_constant() -> None:
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=0.3)
    sched = ConstantLR(opt)
    for _ in range(3):
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] == 0.3


def test_flow_warmup() -> None:
    flow = nn.Conv2d(1, 1, 1)
    warm = FlowWarmup(flow, 2)
    assert warm.apply(0) is False and not flow.weight.requires_grad
    assert warm.apply(1) is False and not flow.weight.requires_grad
    assert warm.apply(2) is True and flow.weight.requires_grad
    assert warm.apply(3) is False
    resumed = FlowWarmup(nn.Conv2d(1, 1, 1), 2)
    assert resumed.apply(5) is False and resumed.module is not None
    assert resumed.module.weight.requires_grad
    assert FlowWarmup(None, 5).apply(0) is False

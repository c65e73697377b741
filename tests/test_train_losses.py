"""Charbonnier and temporal (hidden-state) losses."""

from __future__ import annotations

import math

import pytest
import torch

from srprune.models.registry import create_model
from srprune.protocols import ModelOutput
from srprune.train.losses import charbonnier, temporal_loss
from srprune.train.terms import TemporalTerm


def test_charbonnier_by_hand() -> None:
    pred = torch.tensor([0.0, 1.0, 0.5, 0.25])
    target = torch.tensor([0.0, 0.0, 1.0, 0.25])
    eps = 1e-3
    expected = sum(math.sqrt(d * d + eps * eps) for d in (0.0, 1.0, -0.5, 0.0)) / 4
    assert charbonnier(pred, target, eps).item() == pytest.approx(expected, rel=1e-6)
    assert charbonnier(pred, pred).item() == pytest.approx(1e-6, rel=1e-4)  # default eps 1e-6


def test_charbonnier_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        charbonnier(torch.zeros(2, 3), torch.zeros(3, 2))


def test_temporal_loss_values_and_missing_keys() -> None:
    a = {"forward": torch.ones(1, 2, 3, 3), "backward": torch.zeros(1, 2, 3, 3)}
    b = {"forward": torch.zeros(1, 2, 3, 3), "backward": torch.full((1, 2, 3, 3), 0.5)}
    assert temporal_loss(a, b).item() == pytest.approx(1.5)
    uni = {"forward": torch.ones(1, 2, 3, 3)}
    assert temporal_loss(uni, b).item() == pytest.approx(1.0)  # backward skipped


def test_temporal_loss_kept_channels() -> None:
    teacher = {"forward": torch.arange(4.0).view(1, 4, 1, 1)}
    student = {"forward": torch.tensor([1.0, 3.0]).view(1, 2, 1, 1)}
    assert temporal_loss(student, teacher, torch.tensor([1, 3])).item() == 0.0
    assert temporal_loss(student, teacher, {"forward": torch.tensor([0, 2])}).item() == 1.0
    with pytest.raises(Exception, match="kept channel"):
        temporal_loss(student, teacher)


def test_temporal_term_zero_for_identical_networks_and_has_gradient() -> None:
    torch.manual_seed(0)
    student = create_model("basicvsr-4-1")
    teacher = create_model("basicvsr-4-1")
    teacher.load_state_dict(student.state_dict())
    lq = torch.rand(1, 2, 3, 8, 8)
    term = TemporalTerm(teacher, weight=1.0)
    sr, hidden = student(lq, return_hidden=True)
    loss = term(student, {"lq": lq}, ModelOutput(sr, hidden), 0)["temporal"]
    assert loss.item() == 0.0

    with torch.no_grad():
        student.forward_trunk.main[0].weight.add_(0.05)
    sr, hidden = student(lq, return_hidden=True)
    loss = term(student, {"lq": lq}, ModelOutput(sr, hidden), 0)["temporal"]
    assert loss.item() > 0
    loss.backward()
    grad = student.forward_trunk.main[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())

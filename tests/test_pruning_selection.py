"""Selection counts and the regulariser's schedule."""

from __future__ import annotations

import pytest
import torch

from srprune.models.registry import create_model
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.groups import Group, Port
from srprune.pruning.regularizers import GrowingL2, GrowingL2Schedule
from srprune.pruning.scales import UnitScales


def _groups(sizes: list[int]) -> list[Group]:
    return [Group(name=f"g{i}", units=n, producers=(Port(f"c{i}", "out"),))
            for i, n in enumerate(sizes)]


def test_global_selection_removes_the_lowest_scores_overall() -> None:
    groups = _groups([4, 4])
    scores = {"g0": torch.tensor([1.0, 2, 3, 4]), "g1": torch.tensor([10.0, 20, 30, 0.5])}
    removed = select_units(groups, scores, 0.5, "global", "min")
    assert removed["g0"].tolist() == [0, 1, 2] and removed["g1"].tolist() == [3]
    removed = select_units(groups, scores, 0.5, "global", "max")
    assert removed["g0"].tolist() == [3] and removed["g1"].tolist() == [0, 1, 2]


def test_every_group_keeps_one_unit() -> None:
    groups = _groups([2, 8])
    scores = {"g0": torch.tensor([0.0, 0.0]), "g1": torch.arange(8.0) + 1}
    removed = select_units(groups, scores, 0.9, "global")
    assert len(removed["g0"]) == 1 and len(removed["g1"]) == 7
    # 0.9 of 10 units would be 9, but only 10 - 2 groups can go: the budget is capped.
    assert sum(len(v) for v in removed.values()) == 8


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_local_selection_prunes_each_group_by_the_ratio(ratio: float) -> None:
    model = create_model("basicvsr-8-2")
    groups = model.channel_groups("rsc")
    removed = select_units(groups, score_groups(model, groups), ratio, "local")
    total = sum(g.units for g in groups)
    budget = round(ratio * total)
    for g in groups:  # the same fraction of every group, to within one unit
        exact = budget * g.units / total
        assert int(exact) <= len(removed[g.name]) <= min(int(exact) + 1, g.units - 1)
    if all(int(budget * g.units / total) + 1 < g.units for g in groups):
        assert sum(len(v) for v in removed.values()) == budget  # as exact as global ranking


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5])
def test_global_selection_removes_the_ratio_of_all_units(ratio: float) -> None:
    model = create_model("basicvsr-16-3")
    groups = model.channel_groups("rsc")
    removed = select_units(groups, score_groups(model, groups), ratio, "global")
    total = sum(g.units for g in groups)
    assert sum(len(v) for v in removed.values()) == round(ratio * total)


def test_random_selection_is_seeded() -> None:
    groups = _groups([8, 8])
    scores = {"g0": torch.zeros(8), "g1": torch.zeros(8)}
    a = select_units(groups, scores, 0.5, order="random", seed=3)
    b = select_units(groups, scores, 0.5, order="random", seed=3)
    c = select_units(groups, scores, 0.5, order="random", seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_alpha_grows_by_delta_every_t1_then_holds() -> None:
    s = GrowingL2Schedule(delta=1e-4, t1=5, tau=0.1, t2=3375)
    assert s.alpha(0) == pytest.approx(1e-4)
    assert s.alpha(4) == pytest.approx(1e-4)
    assert s.alpha(5) == pytest.approx(2e-4)
    assert s.alpha(5 * 999) == pytest.approx(0.1)
    assert s.alpha(5 * 999 + 3000) == pytest.approx(0.1)
    assert s.ramp_steps == 1000
    assert s.total_iters == 999 * 5 + 1 + 3375
    small = GrowingL2Schedule(delta=0.25, t1=2, tau=1.0, t2=3)
    assert [small.alpha(i) for i in range(small.total_iters)] == [
        0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0, 1.0, 1.0]


def test_growing_l2_penalises_only_selected_gammas() -> None:
    model = create_model("edsr-1-4", 2)
    groups = model.channel_groups("rsc")
    scales = UnitScales(model, groups).attach()
    selected = {"body.0.mid": torch.tensor([0, 2])}
    term = GrowingL2(scales, selected, GrowingL2Schedule(delta=0.5, t1=1, tau=1.0, t2=0))
    loss = term(model, {}, None, step=0)["sir"]
    assert loss.item() == pytest.approx(0.5 * 2)
    loss.backward()
    grad = scales.gamma("body.0.mid").grad
    assert grad.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert scales.gamma("body.0.in").grad is None
    sel, kept = term.mean_abs()
    assert sel == 1.0 and kept == 1.0

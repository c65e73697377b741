"""The equivalences pruning relies on: unit gammas change nothing; masked == compact."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from srprune.io.model_file import load_model, save_model
from srprune.models.registry import TINY, build_model, create_model
from srprune.models.spec import spec_for
from srprune.pruning.criteria import l1_scores, score_groups, select_units
from srprune.pruning.scales import UnitScales
from srprune.pruning.surgery import remove_units


def _cases() -> list:
    """Every registered architecture's tiny config, image models at each of x2, x3 and x4 the
    family supports (x1 too where it has one: RRDBNet's input then goes through an unshuffle)."""
    cases = []
    for name, cfg in TINY.items():
        if build_model(cfg).is_video:
            cases.append(pytest.param(cfg, id=name))
        else:
            cases += [pytest.param(dataclasses.replace(cfg, scale=s), id=f"{name}-x{s}")
                      for s in spec_for(cfg).scales]
    return cases


CASES = _cases()


def _input(model: torch.nn.Module) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    if model.is_video:
        return torch.rand(1, 3, 3, 13, 17, generator=g)
    return torch.rand(1, 3, 17, 19, generator=g)


def _perturb(model: torch.nn.Module) -> None:
    """Non-zero biases everywhere, so a forgotten bias would show."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.1, 0.1)


@pytest.mark.parametrize("cfg", CASES)
@pytest.mark.parametrize("mode", ["rsc", "coupled", "fixed"])
def test_unit_gammas_change_nothing(cfg, mode: str) -> None:
    model = build_model(cfg).eval()
    _perturb(model)
    x = _input(model)
    ref = model(x)
    scales = UnitScales(model, model.channel_groups(mode)).attach()
    assert torch.equal(model(x), ref)
    scales.fold()
    assert torch.equal(model(x), ref)


@pytest.mark.parametrize("cfg", CASES)
@pytest.mark.parametrize("mode", ["rsc", "coupled", "fixed"])
@pytest.mark.parametrize("scope", ["global", "local"])
def test_masked_equals_compact(cfg, mode: str, scope: str) -> None:
    model = build_model(cfg).eval()
    _perturb(model)
    x = _input(model)
    groups = model.channel_groups(mode)
    removed = select_units(groups, score_groups(model, groups), 0.5, scope=scope)
    assert sum(len(v) for v in removed.values()) > 0
    scales = UnitScales(model, groups).attach()
    with torch.no_grad():  # random, non-trivial gammas on the kept units too
        for g in groups:
            scales.gamma(g.name).uniform_(0.5, 1.5)
    scales.zero_units(removed)
    masked = model(x)
    scales.fold()
    params_before = sum(p.numel() for p in model.parameters())
    remove_units(model, groups, removed)
    compact = model(x)
    assert sum(p.numel() for p in model.parameters()) < params_before
    torch.testing.assert_close(compact, masked, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("name", "scale"), [("basicvsr-8-2", 4), ("edsr-2-8", 3)])
def test_compact_model_survives_save_and_load(name: str, scale: int, tmp_path) -> None:
    model = create_model(name, scale).eval()
    groups = model.channel_groups("rsc")
    remove_units(model, groups, select_units(groups, score_groups(model, groups), 0.6))
    x = _input(model)
    path = save_model(tmp_path / "compact.safetensors", model)
    again = load_model(path)
    assert torch.equal(again(x), model(x))
    assert sum(p.numel() for p in again.parameters()) == sum(
        p.numel() for p in model.parameters())


def test_pruning_a_pruned_model_composes_indices() -> None:
    model = create_model("basicvsr-uni-8-2").eval()
    _perturb(model)
    x = _input(model)
    for ratio in (0.3, 0.3):
        groups = model.channel_groups("rsc")
        removed = select_units(groups, score_groups(model, groups), ratio)
        scales = UnitScales(model, groups).attach()
        scales.zero_units(removed)
        masked = model(x)
        scales.fold()
        remove_units(model, groups, removed)
        torch.testing.assert_close(model(x), masked, atol=1e-5, rtol=1e-5)


def test_pixel_shuffle_groups_are_never_split() -> None:
    model = create_model("basicvsr-8-2").eval()
    groups = {g.name: g for g in model.channel_groups("rsc")}
    up1 = groups["upconv1"]
    assert up1.units == 8 and up1.producers[0].unit == 4
    w = model.upconv1.weight.detach().clone()
    removed = {"upconv1": torch.tensor([1, 5])}
    remove_units(model, list(groups.values()), removed)
    kept_channels = [c for u in (0, 2, 3, 4, 6, 7) for c in range(4 * u, 4 * u + 4)]
    assert torch.equal(model.upconv1.weight, w[kept_channels])
    assert model.upconv2.in_channels == 6


def test_l1_scores_follow_the_paper() -> None:
    model = create_model("basicvsr-8-2")
    groups = {g.name: g for g in model.channel_groups("rsc")}
    blk = model.forward_trunk.main[2][0]
    torch.testing.assert_close(l1_scores(model, groups["forward_trunk.main.2.0.in"]),
                               blk.conv1.weight.abs().sum((0, 2, 3)).double())
    torch.testing.assert_close(l1_scores(model, groups["forward_trunk.main.2.0.mid"]),
                               blk.conv1.weight.abs().sum((1, 2, 3)).double())
    torch.testing.assert_close(l1_scores(model, groups["upconv1"]),
                               model.upconv1.weight.abs().sum((1, 2, 3)).view(8, 4).sum(1)
                               .double())


def test_mean_l1_scores_follow_the_released_code() -> None:
    """``mean``: ``weight.abs().mean(dim=[1,2,3])`` per filter, the mean over a pixel-shuffle
    unit's s^2 filters, and over (C_out, kh, kw) for an RSC input column."""
    model = create_model("basicvsr-8-2")
    groups = {g.name: g for g in model.channel_groups("rsc")}
    blk = model.forward_trunk.main[2][0]
    torch.testing.assert_close(l1_scores(model, groups["forward_trunk.main.2.0.mid"], "mean"),
                               blk.conv1.weight.abs().mean((1, 2, 3)).double())
    torch.testing.assert_close(l1_scores(model, groups["forward_trunk.main.2.0.in"], "mean"),
                               blk.conv1.weight.abs().mean((0, 2, 3)).double())
    torch.testing.assert_close(l1_scores(model, groups["upconv1"], "mean"),
                               model.upconv1.weight.abs().view(8, 4, -1).mean((1, 2)).double())


@pytest.mark.parametrize(("name", "scale"), [("basicvsr-8-2", 4), ("esrb-2-16", 2)])
def test_compact_model_is_the_same_in_channels_last(name: str, scale: int) -> None:
    model = create_model(name, scale).eval()
    _perturb(model)
    groups = model.channel_groups("rsc")
    remove_units(model, groups, select_units(groups, score_groups(model, groups), 0.5))
    x = _input(model)
    with torch.no_grad():
        ref = model(x)
        fast = model.to(memory_format=torch.channels_last)(x)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)


def test_gather_and_scatter_paths_agree_and_train() -> None:
    from srprune.models.blocks import gather_channels, scatter_add_channels

    idx = torch.tensor([0, 3, 4])
    x = torch.rand(2, 6, 5, 7, requires_grad=True)
    r = torch.rand(2, 3, 5, 7, requires_grad=True)
    xc = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    rc = r.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    torch.testing.assert_close(gather_channels(xc, idx), gather_channels(x, idx))
    out, out_c = scatter_add_channels(x, idx, r), scatter_add_channels(xc, idx, rc)
    torch.testing.assert_close(out_c, out)
    (out * out).sum().backward()
    (out_c * out_c).sum().backward()
    torch.testing.assert_close(xc.grad, x.grad)
    torch.testing.assert_close(rc.grad, r.grad)

"""ASSL's weight-normalised convs: identical output at the start, folded == parametrized."""

from __future__ import annotations

import pytest
import torch

from srprune.models.registry import build_model, create_model
from srprune.pruning.weightnorm import (
    attach_weight_norm,
    fold_weight_norm,
    producer_convs,
    wn_scale,
)
from test_pruning_equivalence import CASES, _input, _perturb


@pytest.mark.parametrize("cfg", CASES)
def test_weight_norm_at_init_changes_nothing(cfg) -> None:
    model = build_model(cfg).eval()
    _perturb(model)
    x = _input(model)
    ref = model(x)
    paths = producer_convs(model.channel_groups("coupled"))
    assert paths
    attach_weight_norm(model, paths)
    for path in paths:  # the scale starts at the filter norm
        conv = model.get_submodule(path)
        v = conv.parametrizations.weight.original1
        torch.testing.assert_close(wn_scale(model, path), v.flatten(1).norm(dim=1))
    torch.testing.assert_close(model(x), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("name", "scale"), [("basicvsr-8-2", 4), ("edsr-2-8", 3)])
def test_folded_equals_parametrized(name: str, scale: int) -> None:
    model = create_model(name, scale).eval()
    _perturb(model)
    x = _input(model)
    paths = producer_convs(model.channel_groups("coupled"))
    attach_weight_norm(model, paths)
    with torch.no_grad():  # scales that differ from the filter norms
        for path in paths:
            model.get_submodule(path).parametrizations.weight.original0.uniform_(0.0, 2.0)
    parametrized = model(x)
    fold_weight_norm(model, paths)
    for path in paths:
        conv = model.get_submodule(path)
        assert type(conv) is torch.nn.Conv2d and "weight" in dict(conv.named_parameters())
    assert not any("parametrizations" in k for k in model.state_dict())
    torch.testing.assert_close(model(x), parametrized, atol=1e-6, rtol=1e-6)


def test_zero_filter_is_refused() -> None:
    model = create_model("edsr-2-8", 2)
    paths = producer_convs(model.channel_groups("coupled"))
    with torch.no_grad():
        model.get_submodule(paths[0]).weight[0].zero_()
    with pytest.raises(ValueError, match="all-zero"):
        attach_weight_norm(model, paths)

"""In-place residual adds (and the optional in-place RSC scatter) change no output bit, and
leave autograd alone."""

from __future__ import annotations

import pytest
import torch

import srprune.models.blocks as blocks
from srprune.models.registry import create_model
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.surgery import remove_units


def _compact(name: str) -> torch.nn.Module:
    model = create_model(name)
    groups = model.channel_groups("rsc")
    remove_units(model, groups, select_units(groups, score_groups(model, groups), 0.5,
                                             scope="local"))
    return model


@pytest.mark.parametrize("name", ["basicvsr-8-3", "edsr-3-8"])
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_inplace_switches_change_no_bit(name: str, fmt: torch.memory_format,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.rand(1, 3, 3, 10, 12) if name.startswith("basicvsr") else torch.rand(1, 3, 10, 12)
    for model in (create_model(name), _compact(name)):
        model = model.to(memory_format=fmt).eval()
        outs = []
        for on in (False, True):
            monkeypatch.setattr(blocks, "INPLACE_ADD", on)
            monkeypatch.setattr(blocks, "INPLACE_SCATTER", on)
            with torch.inference_mode():
                outs.append(model(x.clone()))
        assert torch.equal(outs[0], outs[1])


def test_training_is_out_of_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks, "INPLACE_SCATTER", True)
    model = _compact("basicvsr-8-3").train()
    model(torch.rand(1, 2, 3, 8, 8)).mean().backward()  # no in-place autograd error
    assert all(p.grad is not None for p in model.parameters())

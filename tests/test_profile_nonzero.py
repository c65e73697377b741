"""Non-zero-aware MAC counting: MACs times weight density per conv / linear module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from srprune.cli import main
from srprune.io.model_file import save_model
from srprune.models.edsr import EDSR, EDSRConfig
from srprune.profile import count_macs, profile_model, weight_densities


class Net(nn.Module):
    """Two convs in a child and one at the top: breakdown has ``body`` and ``tail``."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1))
        self.tail = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(x))


def _zero_half(conv: nn.Conv2d) -> None:
    with torch.no_grad():
        conv.weight.view(-1)[: conv.weight.numel() // 2] = 0


def test_half_zero_conv_counts_half_the_macs() -> None:
    conv = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1))
    dense, _ = count_macs(conv, (8, 8))
    _zero_half(conv[0])
    assert count_macs(conv, (8, 8))[0] == dense
    assert count_macs(conv, (8, 8), nonzero=True)[0] == pytest.approx(dense / 2)
    assert count_macs(conv, (8, 8), nonzero=True)[1] == {"0": pytest.approx(dense / 2)}


def test_breakdown_follows_the_density_of_its_modules() -> None:
    net = Net()
    macs, parts = count_macs(net, (6, 5))
    _zero_half(net.body[2])
    with torch.no_grad():
        net.tail.weight.zero_()
    assert weight_densities(net) == {"body.0": 1.0, "body.2": 0.5, "tail": 0.0}
    nz, nz_parts = count_macs(net, (6, 5), nonzero=True)
    second = 8 * 8 * 9 * 30  # body.2's MACs: cout * cin * k * k * pixels
    assert nz_parts["body"] == pytest.approx(parts["body"] - second / 2)
    assert nz_parts.get("tail", 0.0) == 0.0
    assert nz == pytest.approx(macs - second / 2 - parts["tail"])
    assert count_macs(net, (6, 5)) == (macs, parts)


def test_a_model_without_zeros_gives_equal_numbers() -> None:
    model = EDSR(EDSRConfig(num_feat=8, num_block=2))
    assert count_macs(model, (8, 8), nonzero=True) == count_macs(model, (8, 8))
    report = profile_model(model, "edsr", (8, 8), latency=False)
    assert report.nonzero_macs_per_frame == report.macs_per_frame


def test_profile_command_prints_non_zero_macs(tmp_path: Path, capsys) -> None:
    model = EDSR(EDSRConfig(num_feat=8, num_block=2))
    dense = save_model(tmp_path / "d.safetensors", model)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            _zero_half(m)
    sparse = save_model(tmp_path / "s.safetensors", model, sparse=True)
    args = ["profile", "--lr-size", "16x16", "--no-latency"]
    assert main([*args, "--model", str(dense)]) == 0
    assert "non-zero MACs" not in capsys.readouterr().out
    assert main([*args, "--model", str(sparse)]) == 0
    out = capsys.readouterr().out
    assert "non-zero MACs" in out and "(50.0% of MACs" in out
    assert main([*args, "--model", str(sparse), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nonzero_macs_per_frame"] == pytest.approx(report["macs_per_frame"] / 2)

"""``srprune prune --target macs=...|params=...``: every method lands within 1 % of the size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.io.model_file import load_model, save_model
from srprune.models.registry import TINY, build_model, create_model
from srprune.profile import count_macs, count_params, flow_child
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.methods import METHODS
from srprune.pruning.sizes import SizeModel
from srprune.pruning.surgery import remove_units
from srprune.pruning.targets import SizeTarget

LR = (16, 24)
CONFIG = f"""
prune: {{report_lr_size: [{LR[0]}, {LR[1]}]}}
data: {{layout: frames, root: default, num_frames: 3, lr_patch: 16, batch_size: 1}}
train: {{iters: 1, device: cpu, tensorboard: false}}
"""


@pytest.mark.parametrize("text,kind,value", [
    ("macs=4.0G", "macs", 4e9), ("macs+flow=2.5g", "macs+flow", 2.5e9),
    ("params=0.7M", "params", 7e5), ("params=120k", "params", 1.2e5), ("ratio=0.5", "ratio", 0.5),
])
def test_parse(text: str, kind: str, value: float) -> None:
    t = SizeTarget.parse(text)
    assert t.kind == kind and t.value == pytest.approx(value)


@pytest.mark.parametrize("text", ["flops=4G", "macs=", "ratio=1.5", "params=-3M", "macs=4X"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        SizeTarget.parse(text)


def _sr_macs(model: torch.nn.Module) -> float:
    macs, parts = count_macs(model, LR)
    return macs - parts.get(flow_child(model), 0.0)


@pytest.fixture(scope="module")
def dense(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_model(tmp_path_factory.mktemp("d") / "dense.safetensors",
                      create_model("basicvsr-uni-16-3"))


@pytest.mark.parametrize("method,kind", [(m, "macs") for m in METHODS] + [("ssl", "params"),
                                                                        ("assl", "params")])
def test_every_method_lands_within_one_percent(method: str, kind: str, dense: Path,
                                               tmp_path: Path) -> None:
    model = load_model(dense)
    full = _sr_macs(model) if kind == "macs" else count_params(model)[0]
    # params include the never-pruned flow network: aim at 60 % of the rest
    flow = sum(p.numel() for p in model.flow_net.parameters()) if kind == "params" else 0.0
    target = flow + 0.6 * (full - flow) if kind == "params" else 0.45 * full
    cfg = tmp_path / "p.yaml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    assert main(["prune", "--method", method, "--model", str(dense), "--config", str(cfg),
                 "--out", str(out), "--target", f"{kind}={target:.6g}", "--stages",
                 "select,remove", "--quiet"]) == 0
    selection = json.loads((out / "selection.json").read_text())
    assert selection["target"]["relative_error"] <= 0.01
    compact = load_model(out / "pruned.safetensors")
    size = _sr_macs(compact) if kind == "macs" else count_params(compact)[0]
    assert abs(size - target) / target <= 0.01, (size, target)


@pytest.mark.parametrize("arch", list(TINY))
@pytest.mark.parametrize("mode", ["rsc", "coupled"])
def test_size_model_equals_the_profiler(arch: str, mode: str) -> None:
    """Sizes from removed units equal params and MACs counted on the compact model."""
    model = build_model(TINY[arch])
    groups = model.channel_groups(mode)
    removed = select_units(groups, score_groups(model, groups), 0.4, scope="local")
    sizes = SizeModel(model, LR)
    predicted = sizes.macs(groups, removed), sizes.params(groups, removed)
    compact = remove_units(model, groups, removed)
    assert predicted[0] == pytest.approx(_sr_macs(compact), rel=1e-9)
    assert predicted[1] == count_params(compact)[0]


def test_fmp_refuses_a_target(tmp_path: Path, capsys) -> None:
    cfg = Path(__file__).resolve().parents[1] / "configs" / "prune" / "fmp_tiny.yaml"
    assert main(["prune", "--method", "fmp", "--config", str(cfg), "--out", str(tmp_path / "o"),
                 "--target", "params=1M"]) == 2
    assert "--target" in capsys.readouterr().err

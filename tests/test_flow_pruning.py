"""Flow-network pruning (``prune.flow``): the flow network's declared groups prune exactly like
the SR network's, reload from the file alone, leave runs without it untouched, and distil."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.io.model_file import load_model, save_model
from srprune.models.contract import flow_network
from srprune.models.registry import TINY, build_model
from srprune.profile import count_macs, flow_child
from srprune.pruning.config import settings_from_dict
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.declared import flow_groups
from srprune.pruning.groups import FLOW_ROLE
from srprune.pruning.methods import get_recipe
from srprune.pruning.scales import UnitScales
from srprune.pruning.sizes import SizeModel
from srprune.pruning.surgery import remove_units
from srprune.runs.prune import PrunePipeline, load_prune_config
from srprune.runs.prune_recipe import prunable_groups, recipe_inputs
from srprune.runs.prune_select import choose_units
from srprune.train.terms import FlowDistillTerm

VIDEO = {
    "basicvsr": dataclasses.replace(TINY["basicvsr"], num_block=1, flow_feat=8),
    "basicvsr-uni": dataclasses.replace(TINY["basicvsr-uni"], num_block=1, flow_feat=8),
    "basicvsrpp": TINY["basicvsrpp"],
}
LR = (13, 17)


def _model(name: str) -> torch.nn.Module:
    model = build_model(VIDEO[name]).eval()
    with torch.no_grad():  # non-zero biases everywhere, so a forgotten bias would show
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.1, 0.1)
    return model


def _clip() -> torch.Tensor:
    return torch.rand(1, 3, 3, *LR, generator=torch.Generator().manual_seed(1))


def _flow_convs(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    flow = flow_network(model)
    return {n: (m.in_channels, m.out_channels) for n, m in flow.named_modules()
            if isinstance(m, torch.nn.Conv2d)}


def test_groups_stay_inside_the_flow_network() -> None:
    for name in VIDEO:
        model = _model(name)
        groups = flow_groups(model)
        flow_path = flow_child(model)
        assert groups and all(g.role == FLOW_ROLE for g in groups)
        ports = [p for g in groups for p in (*g.producers, *g.consumers)]
        assert all(p.module.startswith(f"{flow_path}.") for p in ports)
        # the SR network's groups never touch it
        sr = [p for g in model.channel_groups("rsc") for p in (*g.producers, *g.consumers)]
        assert not any(p.module.startswith(f"{flow_path}.") for p in sr)
    assert flow_groups(build_model(TINY["edsr"])) == []


@pytest.mark.parametrize("name", list(VIDEO))
def test_unit_gammas_on_flow_groups_change_nothing(name: str) -> None:
    model = _model(name)
    x = _clip()
    ref = model(x)
    groups = model.channel_groups("rsc") + flow_groups(model)
    scales = UnitScales(model, groups).attach()
    assert torch.equal(model(x), ref)
    scales.fold()
    assert torch.equal(model(x), ref)


def _flow_selection(model: torch.nn.Module) -> tuple[list, dict[str, torch.Tensor]]:
    groups = model.channel_groups("rsc") + flow_groups(model)
    removed = select_units(groups, score_groups(model, groups, norm="mean"), 0.5)
    assert sum(len(removed[g.name]) for g in flow_groups(model)) > 0
    return groups, removed


@pytest.mark.parametrize("name", list(VIDEO))
def test_masked_equals_compact_and_reloads(name: str, tmp_path: Path) -> None:
    model = _model(name)
    x = _clip()
    widths = _flow_convs(model)
    groups, removed = _flow_selection(model)
    scales = UnitScales(model, groups).attach()
    with torch.no_grad():  # non-trivial gammas on the kept units too
        for g in groups:
            scales.gamma(g.name).uniform_(0.5, 1.5)
    scales.zero_units(removed)
    masked = model(x)
    scales.fold()
    remove_units(model, groups, removed)
    assert torch.allclose(model(x), masked, atol=1e-5)
    assert any(w != widths[n] for n, w in _flow_convs(model).items())
    # the compact file rebuilds its narrow flow network from the file alone
    path = save_model(tmp_path / "compact.safetensors", model)
    again = load_model(path)
    assert _flow_convs(again) == _flow_convs(model)
    assert torch.equal(again(x), model(x))


def test_sizes_and_profile_count_the_pruned_flow_network() -> None:
    model = _model("basicvsr-uni")
    groups, removed = _flow_selection(model)
    key = flow_child(model)
    _, dense_parts = count_macs(model, LR)
    sizes = SizeModel(model, LR, flow=True)  # sized without surgery
    predicted = (sizes.macs(groups, removed, with_flow=True), sizes.macs(groups, removed),
                 sizes.params(groups, removed))
    remove_units(model, groups, removed)
    macs, parts = count_macs(model, LR)
    assert parts[key] < dense_parts[key]  # the profiler's flow share shrank
    assert predicted[0] == pytest.approx(macs, rel=1e-9)
    assert predicted[1] == pytest.approx(macs - parts[key], rel=1e-9)
    assert predicted[2] == sum(p.numel() for p in model.parameters())


def _settings(**prune: object):
    return settings_from_dict({"ratio": 0.5, **prune})


def test_sr_selection_is_the_same_with_and_without_the_flow_network() -> None:
    model = _model("basicvsr")
    ssl = get_recipe("ssl")
    plain = choose_units(model, ssl, _settings(), "m")
    both = choose_units(model, ssl.but(flow=True), _settings(flow=True, flow_ratio=0.25), "m")
    flow = {g.name: g for g in flow_groups(model)}
    assert {k: v.tolist() for k, v in plain.removed.items()} == \
        {k: v.tolist() for k, v in both.removed.items() if k not in flow}
    flow_units = sum(g.units for g in flow.values())
    assert sum(len(both.removed[k]) for k in flow) == round(0.25 * flow_units)
    assert len(prunable_groups(model, ssl.but(flow=True))) == len(plain.groups) + len(flow)
    # a size target sizes the SR part around the flow network's fixed ratio
    target = choose_units(model, ssl.but(flow=True), _settings(
        flow=True, flow_ratio=0.25, target="params=62k"), "m")
    assert target.fit is not None and target.fit.relative_error < 0.02
    assert sum(len(target.removed[k]) for k in flow) == round(0.25 * flow_units)


def test_flow_settings_are_checked() -> None:
    for bad in ({"flow_ratio": 1.0}, {"flow_distill": -1.0},
                {"flow": True, "target": "macs=1G"},
                {"flow": True, "flow_ratio": 0.5, "target": "latency=40ms@torch:64x64"}):
        with pytest.raises(Exception, match=r"prune\.flow"):
            _settings(**bad)
    model = build_model(TINY["edsr"])
    with pytest.raises(Exception, match="no flow network"):
        choose_units(model, get_recipe("ssl").but(flow=True), _settings(flow=True), "m")


CONFIG = {
    "prune": {"ratio": 0.5, "delta": 0.05, "t1": 1, "tau": 0.1, "t2": 2,
              "report_lr_size": [16, 16], "latency": False},
    "data": {"layout": "frames", "root": "default", "num_frames": 3, "lr_patch": 16,
             "batch_size": 1, "val": None},
    "train": {"iters": 2, "log_every": 1, "ckpt_every": 1, "device": "cpu",
              "tensorboard": False},
}


def _fingerprints(dense: Path, out: Path, **prune: object) -> dict[str, str]:
    cfg = json.loads(json.dumps(CONFIG))
    cfg["prune"].update(prune)
    settings, train = load_prune_config(cfg, dense, [], None)
    pipe = PrunePipeline(get_recipe("ssl"), settings, train, dense, out, quiet=True)
    return {s: pipe.fingerprint_of(s) for s in pipe.STAGES}


def test_fingerprints_without_flow_are_todays_and_change_with_it(tmp_path: Path) -> None:
    dense = save_model(tmp_path / "dense.safetensors", _model("basicvsr-uni"))
    off = _fingerprints(dense, tmp_path / "a")
    assert _fingerprints(dense, tmp_path / "b", flow=False) == off
    on = _fingerprints(dense, tmp_path / "c", flow=True)
    assert all(on[s] != off[s] for s in off)
    assert _fingerprints(dense, tmp_path / "d", flow=True, flow_ratio=0.25)["select"] != \
        on["select"]
    distill = _fingerprints(dense, tmp_path / "e", flow=True, flow_distill=0.5)
    assert distill["select"] == on["select"] and distill["regularize"] != on["regularize"]
    # the recipe's plain values carry no flow key while it is off (today's fingerprints)
    assert "flow" not in recipe_inputs(get_recipe("ssl"))


def test_flow_distillation_is_zero_for_the_same_flow_and_trains_the_student() -> None:
    model = _model("basicvsr")
    teacher = _model("basicvsr")
    teacher.load_state_dict(model.state_dict())
    term = FlowDistillTerm(flow_network(teacher), weight=0.5)
    batch = {"lq": _clip()}
    assert term(model, batch, None, 0)["flow_distill"].item() == 0.0
    with torch.no_grad():
        flow_network(model).basic_module[-1].basic_module[-1].bias.add_(0.3)
    loss = term(model, batch, None, 0)["flow_distill"]
    assert loss.item() > 0.01
    loss.backward()
    assert flow_network(model).basic_module[0].basic_module[0].weight.grad is not None
    assert all(p.grad is None for p in flow_network(teacher).parameters())


def test_prune_flow_end_to_end(tmp_path: Path, capsys) -> None:
    dense = save_model(tmp_path / "dense.safetensors", _model("basicvsr-uni"))
    config = tmp_path / "p.yaml"
    config.write_text(json.dumps(CONFIG))
    out = tmp_path / "run"
    assert main(["prune", "--method", "ssl", "--model", str(dense), "--config", str(config),
                 "--out", str(out), "--device", "cpu", "--quiet", "--prune-flow"]) == 0
    selection = json.loads((out / "selection.json").read_text())
    assert selection["flow_ratio"] == 0.5
    assert any(r["role"] == FLOW_ROLE and r["removed"] for r in selection["groups"])
    logs = [json.loads(line) for line in
            (out / "regularize" / "train_log.jsonl").read_text().splitlines()]
    assert "loss/flow_distill" in logs[-1]
    compact = load_model(out / "model.safetensors")
    assert any(w != d for w, d in zip(_flow_convs(compact).values(),
                                      _flow_convs(load_model(dense)).values(), strict=True))
    report = json.loads((out / "report.json").read_text())
    assert report["mean_ratio_by_role"][FLOW_ROLE] > 0
    assert "flow network, pruned too" in (out / "report.md").read_text()
    # `srprune profile` splits MACs by module: the flow network's share shrank
    flow = {}
    for name, path in (("dense", dense), ("compact", out / "model.safetensors")):
        assert main(["profile", "--model", str(path), "--lr-size", "16x16", "--no-latency",
                     "--json"]) == 0
        flow[name] = json.loads(capsys.readouterr().out)["macs_breakdown"][flow_child(compact)]
    assert flow["compact"] < flow["dense"]

"""Faithful ASSL: the alignment term, the aligned growing L2, shared stream index sets and
lossless removal of the masked weight-normalised model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.io.model_file import load_model, save_model
from srprune.models.registry import create_model
from srprune.pruning.aligned_l2 import AlignedGrowingL2, stream_groups
from srprune.pruning.alignment import alignment_loss, first_writer_units, soft_masks
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.groups import conv_at, unit_channels
from srprune.pruning.regularizers import GrowingL2Schedule
from srprune.pruning.surgery import remove_units
from srprune.pruning.weightnorm import (
    attach_weight_norm,
    fold_weight_norm,
    producer_convs,
    wn_scale,
)
from test_prune_pipeline import CONFIG
from test_pruning_equivalence import _input, _perturb


def test_alignment_loss_is_lowest_for_identical_masks() -> None:
    row = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    same = torch.stack([row, row, row])
    shuffled = torch.stack([row, row.roll(1), row.roll(2)])  # same number of ones per row
    assert alignment_loss(same) < alignment_loss(shuffled)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):  # no row permutation beats identical rows
        perm = torch.stack([row[torch.randperm(6, generator=gen)] for _ in range(3)])
        assert alignment_loss(same) <= alignment_loss(perm)


def test_soft_masks_are_shift_invariant_and_give_a_gradient() -> None:
    scales = torch.rand(4, 8, generator=torch.Generator().manual_seed(1))
    same = scales[:1].repeat(4, 1)
    assert alignment_loss(soft_masks(same, 3)) < alignment_loss(soft_masks(scales, 3))
    torch.testing.assert_close(soft_masks(scales + 0.7, 3), soft_masks(scales, 3))
    s = scales.clone().requires_grad_(True)
    alignment_loss(soft_masks(s, 3)).backward()
    assert s.grad is not None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
    # shifting a writer's scales changes nothing, so no gradient along that direction
    torch.testing.assert_close(s.grad.sum(dim=1), torch.zeros(4), atol=1e-6, rtol=0)


def _assl_selection(model: torch.nn.Module, ratio: float) -> dict[str, torch.Tensor]:
    """Local min-L1 per layer; every stream takes its first writer's set."""
    groups = model.channel_groups("coupled")
    removed = select_units(groups, score_groups(model, groups), ratio, scope="local")
    for g in stream_groups(groups):
        removed[g.name] = first_writer_units(model, g, len(removed[g.name]))
    return removed


@pytest.mark.parametrize(("name", "scale"), [("basicvsr-8-2", 4), ("basicvsr-uni-8-2", 4),
                                             ("edsr-2-8", 2), ("edsr-2-8", 3)])
def test_masked_weight_norm_model_equals_compact(name: str, scale: int) -> None:
    model = create_model(name, scale).eval()
    _perturb(model)
    x = _input(model)
    groups = model.channel_groups("coupled")
    assert stream_groups(groups)
    removed = _assl_selection(model, 0.5)
    paths = producer_convs(groups)
    attach_weight_norm(model, paths)
    with torch.no_grad():
        for path in paths:  # non-trivial scales on the kept filters too
            wn_scale(model, path).uniform_(0.5, 1.5)
        for g in groups:  # the masked model: target filters' scales and biases at zero
            for port in g.producers:
                idx = unit_channels(port, removed[g.name])
                wn_scale(model, port.module)[idx] = 0.0
                conv = conv_at(model, port.module)
                if conv.bias is not None:
                    conv.bias[idx] = 0.0
    masked = model(x)
    fold_weight_norm(model, paths)
    remove_units(model, groups, removed)
    torch.testing.assert_close(model(x), masked, atol=1e-5, rtol=1e-5)


def test_streams_wait_for_alignment_then_share_the_first_writers_set() -> None:
    model = create_model("edsr-2-8", 2)
    groups = model.channel_groups("coupled")
    selected = select_units(groups, score_groups(model, groups), 0.5, scope="local")
    attach_weight_norm(model, producer_convs(groups))
    calls: list[dict[str, torch.Tensor]] = []
    term = AlignedGrowingL2(model, groups, selected, GrowingL2Schedule(0.1, 1, 0.5, 2),
                            align_iters=3, align_weight=1.0, on_align=calls.append)
    stream = stream_groups(groups)[0].name
    inner = next(g.name for g in groups if len(g.producers) == 1 and len(selected[g.name]))
    assert term.alpha(stream, 2) == 0.0 and term.alpha(inner, 2) > 0.0
    out = term(model, {}, None, 0)
    assert out["align"] < 0 and out["sir"] > 0
    assert not calls
    term(model, {}, None, 3)
    assert len(calls) == 1 and set(calls[0]) == {stream}
    group = next(g for g in groups if g.name == stream)
    assert torch.equal(calls[0][stream], first_writer_units(model, group, 4))
    assert term.alpha(stream, 3) > 0.0 and float(term(model, {}, None, 4)["align"]) == 0.0
    assert len(calls) == 1  # fixed once


STRONG = (CONFIG.replace("t2: 2", "t2: 30\n  scale_lr: 0.03\n  align_iters: 3")
          .replace("iters: 2\n", "iters: 1\n"))


def test_regularize_stage_aligns_the_stream_writers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    dense = save_model(tmp_path / "dense.safetensors", create_model("basicvsr-uni-8-1"))
    cfg = tmp_path / "prune.yaml"
    cfg.write_text(STRONG)
    out = tmp_path / "assl"
    assert main(["prune", "--method", "assl", "--model", str(dense), "--config", str(cfg),
                 "--out", str(out), "--device", "cpu", "--quiet",
                 "--stages", "select,regularize"]) == 0
    selection = json.loads((out / "selection.json").read_text())
    streams = [r for r in selection["groups"] if "aligned_to" in r]
    assert streams and all(len(r["removed"]) == len(r["removed_before_alignment"]) > 0
                           for r in streams)
    model = load_model(out / "regularized.safetensors")
    groups = {g.name: g for g in model.channel_groups("coupled")}
    for row in streams:  # every writer has pushed the same (first writer's) filters down
        group = groups[row["group"]]
        assert len(group.producers) > 1
        removed = torch.tensor(row["removed"])
        keep = torch.ones(group.units, dtype=torch.bool)
        keep[removed] = False
        for port in group.producers:
            norms = conv_at(model, port.module).weight.detach().flatten(1).norm(dim=1)
            assert norms[removed].mean() < 0.7 * norms[keep].mean(), port.module
    log = json.loads((out / "regularize" / "gammas.json").read_text())
    assert {"gamma_selected", "gamma_kept", "agreement"} <= set(log[-1])
    assert main(["prune", "--method", "assl", "--model", str(dense), "--config", str(cfg),
                 "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    compact = load_model(out / "model.safetensors")
    assert compact.forward_trunk.width == 8 - len(streams[0]["removed"])

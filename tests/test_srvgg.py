"""SRVGGNetCompact (Real-ESRGAN compact): BasicSR's own outputs, groups, PReLU pruning."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from equivalence_helpers import gammas_at_one_change_nothing, masked_and_compact, perturb_biases
from formula_weights import SRVGG_CASES, formula_checkpoint, formula_image
from srprune.io.importers import import_checkpoint
from srprune.io.model_file import load_model, save_model
from srprune.models.srvgg import SRVGGConfig, SRVGGNetCompact
from srprune.pruning.handlers import handler_for
from srprune.pruning.surgery import remove_units

FIXTURE = Path(__file__).parent / "fixtures" / "srvgg_reference.safetensors"
ACTS = {"prelu": "prelu", "relu": "relu", "leakyrelu": "lrelu"}


def _config(kwargs: dict) -> SRVGGConfig:
    return SRVGGConfig(num_feat=kwargs["num_feat"], num_conv=kwargs["num_conv"],
                       scale=kwargs["upscale"], act=ACTS[kwargs["act_type"]])


def test_fixture_covers_every_scale_and_activation() -> None:
    cases = [_config(kw) for kw, _ in SRVGG_CASES.values()]
    assert {c.scale for c in cases} == {1, 2, 3, 4}
    assert {c.act for c in cases} == {"prelu", "relu", "lrelu"}
    assert set(load_file(FIXTURE)) == set(SRVGG_CASES)


@pytest.mark.parametrize("case", list(SRVGG_CASES))
def test_output_equals_basicsr(case: str, tmp_path: Path) -> None:
    """Formula weights in a BasicSR checkpoint, imported (config inferred from the shapes),
    give BasicSR's own module's output."""
    kwargs, (h, w) = SRVGG_CASES[case]
    ckpt = tmp_path / f"{case}.pth"
    formula_checkpoint(ckpt, SRVGGNetCompact(_config(kwargs)))
    act = "relu" if kwargs["act_type"] == "relu" else None  # not in the weights: stated
    model, report = import_checkpoint(ckpt, "basicsr", act=act)
    assert model.config == _config(kwargs)
    with torch.no_grad():
        out = model(formula_image(h, w))
    torch.testing.assert_close(out, load_file(FIXTURE)[case], atol=1e-5, rtol=0)


def _tiny(act: str = "prelu", scale: int = 4) -> SRVGGNetCompact:
    model = SRVGGNetCompact(SRVGGConfig(num_feat=8, num_conv=3, scale=scale, act=act)).eval()
    perturb_biases(model)
    for m in model.modules():  # slopes of both signs, distinct per channel
        if isinstance(m, torch.nn.PReLU):
            with torch.no_grad():
                m.weight.copy_(torch.linspace(-0.5, 0.7, m.num_parameters))
    return model


def test_groups_cover_every_conv_but_the_last() -> None:
    model = _tiny()
    groups = model.channel_groups("rsc")
    assert [g.name for g in groups] == ["body.0", "body.2", "body.4", "body.6"]
    assert all(g.units == 8 for g in groups)
    assert [g.followers[0].module for g in groups] == ["body.1", "body.3", "body.5", "body.7"]
    assert groups[-1].consumers[0].module == "body.8"
    assert model.image_ports()[1].module == "body.8"
    assert all(not g.followers for g in _tiny("relu").channel_groups("coupled"))
    assert [g.name for g in model.channel_groups("fixed")] == [g.name for g in groups]


@pytest.mark.parametrize("act", ["prelu", "relu", "lrelu"])
@pytest.mark.parametrize("scale", [1, 3, 4])
def test_masked_equals_compact(act: str, scale: int) -> None:
    model = _tiny(act, scale)
    x = torch.rand(1, 3, 9, 11)
    assert gammas_at_one_change_nothing(model, "rsc", x)
    masked, compact = masked_and_compact(model, "rsc", x)
    torch.testing.assert_close(compact, masked, atol=1e-5, rtol=1e-5)
    assert model.body[-1].out_channels == 3 * scale * scale  # the image conv stays whole


def test_prelu_slopes_follow_their_filters(tmp_path: Path) -> None:
    model = _tiny()
    slopes = model.body[3].weight.detach().clone()
    groups = model.channel_groups("rsc")
    remove_units(model, groups, {"body.2": torch.tensor([1, 4, 6])})
    kept = [0, 2, 3, 5, 7]
    assert torch.equal(model.body[3].weight, slopes[kept])
    assert model.body[3].num_parameters == 5 and model.body[4].in_channels == 5
    x = torch.rand(1, 3, 6, 5)
    again = load_model(save_model(tmp_path / "compact.safetensors", model))
    assert again.body[3].num_parameters == 5
    assert torch.equal(again(x), model(x))


def test_prelu_handler_refuses_a_scale() -> None:
    prelu = torch.nn.PReLU(4)
    with pytest.raises(ValueError, match="follower"):
        handler_for(prelu).scale_channels(prelu, "out", torch.tensor([0]), torch.tensor([2.0]))
    shared = torch.nn.PReLU()
    assert handler_for(shared).shrink(shared, torch.tensor([0]), torch.tensor([0])) is shared


def test_meta_shape_of_realesr_animevideov3() -> None:
    """Real-ESRGAN's realesr-animevideov3: F 64, 16 convs, x4, PReLU: 621,424 parameters."""
    with torch.device("meta"):
        model = SRVGGNetCompact(SRVGGConfig())
    assert sum(p.numel() for p in model.parameters()) == 621_424
    assert dataclasses.asdict(model.config)["act"] == "prelu"

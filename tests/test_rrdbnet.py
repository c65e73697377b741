"""RRDBNet (ESRGAN / Real-ESRGAN x4plus): BasicSR's own outputs, dense groups, every mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from equivalence_helpers import gammas_at_one_change_nothing, masked_and_compact, perturb_biases
from formula_weights import RRDBNET_CASES, formula_checkpoint, formula_image
from srprune.io.importers import import_checkpoint
from srprune.io.model_file import load_model, save_model
from srprune.models.rrdbnet import RRDBNet, RRDBNetConfig

FIXTURE = Path(__file__).parent / "fixtures" / "rrdbnet_reference.safetensors"


def test_fixture_covers_every_scale() -> None:
    assert {kw["scale"] for kw, _ in RRDBNET_CASES.values()} == {1, 2, 4}
    assert set(load_file(FIXTURE)) == set(RRDBNET_CASES)


@pytest.mark.parametrize("case", list(RRDBNET_CASES))
def test_output_equals_basicsr(case: str, tmp_path: Path) -> None:
    """Formula weights in a BasicSR checkpoint, imported (config inferred from the shapes),
    give BasicSR's own module's output."""
    kwargs, (h, w) = RRDBNET_CASES[case]
    ckpt = tmp_path / f"{case}.pth"
    formula_checkpoint(ckpt, RRDBNet(RRDBNetConfig(**kwargs)))
    model, report = import_checkpoint(ckpt, "basicsr")
    assert model.config == RRDBNetConfig(**kwargs)
    with torch.no_grad():
        out = model(formula_image(h, w))
    torch.testing.assert_close(out, load_file(FIXTURE)[case], atol=1e-5, rtol=0)


@pytest.mark.parametrize("scale", [1, 2])
def test_odd_sizes_are_padded_like_real_esrgan(scale: int) -> None:
    """Sides that are not multiples of the unshuffle factor: reflect-pad, run, crop."""
    model = RRDBNet(RRDBNetConfig(num_feat=4, num_block=1, num_grow_ch=2, scale=scale)).eval()
    x = torch.rand(1, 3, 7, 9)
    factor = 4 // scale
    padded = F.pad(x, (0, -9 % factor, 0, -7 % factor), mode="reflect")
    with torch.no_grad():
        out, full = model(x), model(padded)
    assert out.shape == (1, 3, 7 * scale, 9 * scale)
    assert torch.equal(out, full[..., :7 * scale, :9 * scale])


def _tiny(scale: int = 4) -> RRDBNet:
    model = RRDBNet(RRDBNetConfig(num_feat=6, num_block=2, num_grow_ch=4, scale=scale)).eval()
    perturb_biases(model)
    return model


def test_growth_channels_are_read_at_offsets() -> None:
    groups = {g.name: g for g in _tiny().channel_groups("fixed")}
    g = groups["body.1.rdb2.conv2"]
    assert g.units == 4 and g.producers[0].module == "body.1.rdb2.conv2"
    assert [(p.module, p.offset) for p in g.consumers] == [
        ("body.1.rdb2.conv3", 10), ("body.1.rdb2.conv4", 10), ("body.1.rdb2.conv5", 10)]
    assert len(groups) == 2 * 3 * 4 + 3  # conv1..4 of 6 dense blocks, conv_up1/up2/hr
    assert "stream" not in groups


def test_coupled_stream_and_rsc_groups() -> None:
    model = _tiny()
    stream = next(g for g in model.channel_groups("coupled") if g.name == "stream")
    writers = {p.module for p in stream.producers}
    readers = {p.module for p in stream.consumers}
    assert writers == {"conv_first", "conv_body"} | {f"body.{i}.rdb{k}.conv5"
                                                      for i in (0, 1) for k in (1, 2, 3)}
    assert {"conv_body", "conv_up1", "body.0.rdb1.conv1", "body.1.rdb3.conv5"} <= readers
    assert len(readers) == 6 * 5 + 2 and all(p.offset == 0 for p in stream.consumers)
    rsc = {g.name: g for g in model.channel_groups("rsc")}
    assert rsc["body.0.rdb2.in"].gather == "body.0.rdb2"
    assert rsc["body.0.rdb2.out"].scatter == "body.0.rdb2"


@pytest.mark.parametrize("mode", ["rsc", "coupled", "fixed"])
@pytest.mark.parametrize("scale", [1, 2, 4])
def test_masked_equals_compact(mode: str, scale: int) -> None:
    model = _tiny(scale)
    x = torch.rand(1, 3, 8, 12)
    assert gammas_at_one_change_nothing(model, mode, x)
    masked, compact = masked_and_compact(model, mode, x)
    torch.testing.assert_close(compact, masked, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["rsc", "coupled"])
def test_pruning_twice_composes_and_reloads(mode: str, tmp_path: Path) -> None:
    model = _tiny()
    x = torch.rand(1, 3, 5, 6)
    for seed in (0, 1):
        masked, compact = masked_and_compact(model, mode, x, ratio=0.3, seed=seed)
        torch.testing.assert_close(compact, masked, atol=1e-5, rtol=1e-5)
    again = load_model(save_model(tmp_path / "compact.safetensors", model))
    assert torch.equal(again(x), model(x))


def test_meta_shape_of_realesrgan_x4plus() -> None:
    """RealESRGAN_x4plus: 23 RRDBs of 64, growth 32, x4: 16,697,987 parameters."""
    with torch.device("meta"):
        model = RRDBNet(RRDBNetConfig())
    assert sum(p.numel() for p in model.parameters()) == 16_697_987

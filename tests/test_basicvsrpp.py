"""BasicVSR++: the deformable convolution, the pruning equivalences and BasicSR's output."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from srprune.models.basicvsrpp import BasicVSRPlusPlus, BasicVSRPPConfig
from srprune.models.deform import modulated_deform_conv2d, torchvision_deform_conv2d
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.scales import UnitScales
from srprune.pruning.surgery import remove_units
from vsrpp_reference import STRIDE, formula_clip, formula_params

TINY = BasicVSRPPConfig(num_feat=8, num_block=1, extract_block=1, deform_groups=4,
                        recon_feat=8, flow_feat=8)


def _bilinear(img: torch.Tensor, y: float, x: float) -> float:
    """torchvision's / mmcv's ``bilinear_interpolate``: zero from one pixel outside onwards."""
    h, w = img.shape
    if y <= -1 or y >= h or x <= -1 or x >= w:
        return 0.0
    y0, x0 = math.floor(y), math.floor(x)
    total = 0.0
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                total += wy * wx * float(img[yy, xx])
    return total


def _naive_dcn(x, offset, mask, weight, bias, group_of) -> torch.Tensor:
    """Loop over every output, input channel and tap (stride 1, padding 1, 3x3)."""
    n, c, h, w = x.shape
    c_out = weight.shape[0]
    out = torch.zeros(n, c_out, h, w, dtype=torch.float64)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                cols = torch.zeros(c, 9, dtype=torch.float64)
                for ch in range(c):
                    g = int(group_of[ch])
                    for k in range(9):
                        dy = float(offset[b, g * 18 + 2 * k, i, j])
                        dx = float(offset[b, g * 18 + 2 * k + 1, i, j])
                        m = float(mask[b, g * 9 + k, i, j])
                        cols[ch, k] = m * _bilinear(x[b, ch], i - 1 + k // 3 + dy,
                                                    j - 1 + k % 3 + dx)
                out[b, :, i, j] = weight.double().reshape(c_out, -1) @ cols.reshape(-1) + bias
    return out


def _dcn_inputs(c: int = 4, groups: int = 2, h: int = 4, w: int = 5):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, c, h, w, generator=g)
    offset = (torch.rand(2, 18 * groups, h, w, generator=g) - 0.5) * 6  # many taps fall outside
    offset[0, 0, 0, 0] = -1.0  # a tap exactly one pixel outside: zero
    mask = torch.rand(2, 9 * groups, h, w, generator=g)
    weight = torch.randn(3, c, 3, 3, generator=g)
    bias = torch.randn(3, generator=g)
    return x, offset, mask, weight, bias


def test_deform_conv_equals_the_naive_loop() -> None:
    x, offset, mask, weight, bias = _dcn_inputs()
    ref = _naive_dcn(x, offset, mask, weight, bias, torch.tensor([0, 0, 1, 1]))
    out = modulated_deform_conv2d(x, offset, mask, weight, bias)
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)


def test_deform_conv_with_any_channel_to_group_map() -> None:
    """A pruned input (channels 0, 2, 3 of groups 0, 1, 1 kept) samples at its groups' offsets."""
    x, offset, mask, weight, bias = _dcn_inputs(c=3)
    group_of = torch.tensor([0, 1, 1])
    ref = _naive_dcn(x, offset, mask, weight, bias, group_of)
    out = modulated_deform_conv2d(x, offset, mask, weight, bias, channel_group=group_of)
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(torchvision_deform_conv2d() is None,
                    reason="torchvision.ops.deform_conv2d does not work with this torch")
def test_torchvision_path_agrees() -> None:
    from srprune.models.deform import deform_conv2d_torchvision

    x, offset, mask, weight, bias = _dcn_inputs()
    torch.testing.assert_close(deform_conv2d_torchvision(x, offset, mask, weight, bias),
                               modulated_deform_conv2d(x, offset, mask, weight, bias),
                               atol=1e-5, rtol=1e-5)


def _model(cfg: BasicVSRPPConfig = TINY) -> BasicVSRPlusPlus:
    """A tiny model whose alignment does something (non-zero offset residues and biases)."""
    model = BasicVSRPlusPlus(cfg).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.2 - 0.1)
        for align in model.deform_align.values():
            last = align.conv_offset[-1]
            last.weight.copy_(torch.randn(last.weight.shape, generator=g) * 0.05)
    return model


def _clip() -> torch.Tensor:
    return torch.rand(1, 4, 3, 12, 15, generator=torch.Generator().manual_seed(1))


def test_alignment_runs_and_matters() -> None:
    model = _model()
    x = _clip()
    with torch.no_grad():
        ref = model(x)
        for align in model.deform_align.values():
            align.conv_offset[-1].weight.mul_(3)
        assert not torch.allclose(model(x), ref, atol=1e-4)
    assert ref.shape == (1, 4, 3, 48, 60)


def test_hidden_states_are_each_branch_final_state() -> None:
    model = _model()
    with torch.no_grad():
        out, last = model(_clip(), return_hidden=True)
        _, every = model(_clip(), return_hidden="all")
    assert set(last) == set(model.hidden_states) == set(every)
    for name, state in last.items():
        frame = 0 if name.startswith("backward") else -1
        torch.testing.assert_close(state, every[name][:, frame])


def test_a_single_frame_needs_no_flow() -> None:
    with torch.no_grad():
        assert _model()(_clip()[:, :1]).shape == (1, 1, 3, 48, 60)


@pytest.mark.parametrize("mode", ["rsc", "coupled", "fixed"])
def test_unit_gammas_change_nothing(mode: str) -> None:
    model = _model()
    x = _clip()
    with torch.no_grad():
        ref = model(x)
        scales = UnitScales(model, model.channel_groups(mode)).attach()
        assert torch.equal(model(x), ref)
        scales.fold()
        torch.testing.assert_close(model(x), ref, atol=1e-6, rtol=1e-6)


def _prune_masked_compact(model: BasicVSRPlusPlus, mode: str, ratio: float, x: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    groups = model.channel_groups(mode)
    removed = select_units(groups, score_groups(model, groups), ratio)
    for g in groups:  # every stream loses channels too (their global scores are high)
        if g.role == "stream":
            removed[g.name] = torch.arange(1, g.units, 3)
    assert sum(len(v) for v in removed.values()) > 0
    scales = UnitScales(model, groups).attach()
    with torch.no_grad():
        for g in groups:
            scales.gamma(g.name).uniform_(0.5, 1.5)
        scales.zero_units(removed)
        masked = model(x)
        scales.fold()
        remove_units(model, groups, removed)
        return masked, model(x)


@pytest.mark.parametrize("mode", ["rsc", "coupled", "fixed"])
def test_masked_equals_compact(mode: str) -> None:
    model = _model()
    before = sum(p.numel() for p in model.parameters())
    masked, compact = _prune_masked_compact(model, mode, 0.5, _clip())
    assert sum(p.numel() for p in model.parameters()) < before
    torch.testing.assert_close(compact, masked, atol=1e-5, rtol=1e-5)
    aligned = [a.weight.shape for a in model.deform_align.values()]
    if mode == "coupled":  # the states shrink through the deformable convs
        assert any(s[1] < 16 for s in aligned)
    else:
        assert all(s[:2] == (8, 16) for s in aligned)


def test_coupled_pruning_twice_composes_the_deformable_groups() -> None:
    model = _model()
    x = _clip()
    for _ in range(2):
        masked, compact = _prune_masked_compact(model, "coupled", 0.3, x)
        torch.testing.assert_close(compact, masked, atol=1e-5, rtol=1e-5)
    assert any(a.in_index is not None for a in model.deform_align.values())


# -- BasicSR's own module (tests/fixtures/basicvsrpp_reference.safetensors) ---------------------
REFERENCE_CONFIG = BasicVSRPPConfig(num_feat=8, num_block=1)
"""srprune's config for tests/vsrpp_reference.py's BASICSR_KWARGS."""


def _reference() -> torch.Tensor:
    from safetensors.torch import load_file

    return load_file(str(Path(__file__).parent / "fixtures" /
                         "basicvsrpp_reference.safetensors"))["output"]


def _basicsr_state() -> dict[str, torch.Tensor]:
    """The formula weights under BasicSR's names (srprune's own), buffers as built."""
    model = BasicVSRPlusPlus(REFERENCE_CONFIG)
    params = formula_params({k: tuple(v.shape) for k, v in model.named_parameters()})
    return {**model.state_dict(), **params}


def _sr_on_grid(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(formula_clip())[..., ::STRIDE, ::STRIDE]


def test_output_equals_basicsr_module() -> None:
    model = BasicVSRPlusPlus(REFERENCE_CONFIG)
    model.load_state_dict(_basicsr_state(), strict=True)
    ref = _reference()
    torch.testing.assert_close(_sr_on_grid(model), ref, atol=1e-4, rtol=0)
    with torch.no_grad():  # the reference really depends on the learned offsets
        for align in model.deform_align.values():
            align.conv_offset[-1].weight.zero_()
    assert (_sr_on_grid(model) - ref).abs().max() > 1e-3


def test_profile_breakdown_covers_the_branches() -> None:
    """The deformable alignments and backbones sit in ModuleDicts (never called themselves):
    the per-part MACs still add up to the total."""
    from srprune.profile import count_macs

    total, parts = count_macs(BasicVSRPlusPlus(TINY), (16, 16), frames=3)
    assert {"deform_align", "backbone"} <= set(parts)
    assert sum(parts.values()) == pytest.approx(total)


def test_compact_coupled_model_survives_save_and_load(tmp_path) -> None:
    """The rebuilt compact model has the deformable convs' widths and input-group indices."""
    from srprune.io.model_file import load_model, save_model

    model = _model()
    x = _clip()
    _prune_masked_compact(model, "coupled", 0.4, x)
    again = load_model(save_model(tmp_path / "compact.safetensors", model))
    assert isinstance(again, BasicVSRPlusPlus)
    for name, align in again.deform_align.items():
        assert type(align) is type(model.deform_align[name])
        assert align.weight.shape == model.deform_align[name].weight.shape
        assert torch.equal(align.in_index, model.deform_align[name].in_index)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_registered_names() -> None:
    from srprune.errors import UserError
    from srprune.models.registry import config_from_name, create_model

    assert config_from_name("basicvsrpp") == BasicVSRPPConfig()
    assert config_from_name("basicvsrpp-32-4") == BasicVSRPPConfig(num_feat=32, num_block=4)
    with pytest.raises(UserError, match="deform_groups"):
        create_model("basicvsrpp-12-1")  # 24 inputs do not split into 16 groups


@pytest.fixture(scope="module")
def exported_window(tmp_path_factory) -> tuple[BasicVSRPlusPlus, Path]:
    """A coupled-compact tiny BasicVSR++ (pruned deformable-conv inputs) exported as a 3-frame
    window (the exporter takes tens of seconds: once per module)."""
    from srprune.export.onnx_writer import export_onnx

    pytest.importorskip("onnx")
    torch.manual_seed(0)
    model = _model()
    _prune_masked_compact(model, "coupled", 0.4, _clip())
    path = tmp_path_factory.mktemp("onnx") / "basicvsrpp.onnx"
    info = export_onnx(model, path, (16, 20), frames=3)
    assert (info.kind, info.frames) == ("window", 3)
    return model, path


def _window_parity(model: BasicVSRPlusPlus, path: Path, runtime: str) -> None:
    from srprune.eval.metrics import tensor_to_uint8
    from srprune.export.runtime import ExportedModel

    x = torch.rand(1, 3, 3, 16, 20, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = model(x)[0]
    got = torch.from_numpy(ExportedModel(path, runtime).run([x.numpy()])[0][0])
    assert float((got - ref).abs().max()) < 1e-4
    for a, b in zip(got, ref, strict=True):  # within one 8-bit level after rounding
        diff = tensor_to_uint8(a).astype(int) - tensor_to_uint8(b).astype(int)
        assert abs(diff).max() <= 1


def test_window_export_matches_in_onnxruntime(exported_window) -> None:
    pytest.importorskip("onnxruntime")
    _window_parity(*exported_window, "onnxruntime")


def test_window_export_matches_in_openvino(exported_window) -> None:
    pytest.importorskip("openvino")
    _window_parity(*exported_window, "openvino")


def test_exported_graph_uses_standard_ops(exported_window) -> None:
    import onnx

    ops = {n.op_type for n in onnx.load(str(exported_window[1])).graph.node}
    assert "GridSample" in ops and "MatMul" in ops
    assert all(n.domain in ("", "ai.onnx") for n in onnx.load(str(exported_window[1])).graph.node)


def _mmagic_key(key: str) -> str:
    """BasicSR's name -> mmagic's ``BasicVSRPlusPlusNet`` name (``generator.`` prefix added)."""
    for old, new in (("upconv1.", "upsample1.upsample_conv."),
                     ("upconv2.", "upsample2.upsample_conv.")):
        if key.startswith(old):
            key = new + key[len(old):]
    m = re.match(r"^(spynet\.basic_module\.\d+\.basic_module\.)(\d+)\.(weight|bias)$", key)
    if m:
        key = f"{m[1]}{int(m[2]) // 2}.conv.{m[3]}"
    return "generator." + key


@pytest.mark.parametrize("layout", ["basicsr-params", "basicsr-params_ema", "mmagic"])
def test_imported_checkpoint_equals_basicsr_module(layout: str, tmp_path) -> None:
    from srprune.io.importers import import_checkpoint

    state = _basicsr_state()
    if layout == "mmagic":
        blob = {"meta": {}, "state_dict": {_mmagic_key(k): v for k, v in state.items()}}
    else:
        blob = {layout.split("-")[1]: state}
    path = tmp_path / "basicvsrpp.pth"
    torch.save(blob, path)
    model, report = import_checkpoint(path)
    assert model.config == REFERENCE_CONFIG
    assert report.source == ("mmagic" if layout == "mmagic" else "basicsr")
    torch.testing.assert_close(_sr_on_grid(model), _reference(), atol=1e-4, rtol=0)

"""Architectures match the published parameter and MAC counts and run on any frame size."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from srprune.models.basicvsr import BasicVSR, BasicVSRConfig
from srprune.models.registry import config_from_name, create_model
from srprune.models.spynet import SpyNet
from srprune.profile import count_macs


@pytest.mark.parametrize(("name", "scale", "params"), [
    ("basicvsr", 4, 6_291_311),
    ("esrb-6-256", 2, 8_180_876), ("esrb-6-256", 3, 8_215_451), ("esrb-6-256", 4, 8_263_856),
    ("edsr-8-128", 2, 3_106_307), ("edsr-8-128", 3, 3_844_227), ("edsr-8-128", 4, 3_696_643),
])
def test_parameter_counts_match_the_papers(name: str, scale: int, params: int) -> None:
    model = create_model(name, scale)
    assert sum(p.numel() for p in model.parameters()) == params


def test_spynet_parameter_count() -> None:
    assert sum(p.numel() for p in SpyNet().parameters()) == 1_440_300


@pytest.mark.parametrize(("name", "scale", "lr", "gmacs"), [
    ("basicvsr", 4, (180, 320), 358.1),
    ("basicvsr-uni", 4, (180, 320), 227.9),
    ("esrb-6-256", 2, (360, 640), 1877.8),
    ("esrb-6-256", 3, (240, 426), 836.8),
    ("esrb-6-256", 4, (180, 320), 474.2),
])
def test_macs_per_frame_within_one_percent(name: str, scale: int, lr: tuple[int, int],
                                           gmacs: float) -> None:
    macs, _ = count_macs(create_model(name, scale), lr, frames=3)
    assert macs / 1e9 == pytest.approx(gmacs, rel=0.01)


def test_uni_params_about_four_million() -> None:
    n = sum(p.numel() for p in create_model("basicvsr-uni").parameters())
    assert round(n / 1e6, 1) == 4.0


def _basicsr_flow_warp(x, flow, padding_mode):
    """BasicSR's flow_warp, written independently from its description."""
    n, _, h, w = x.shape
    gy, gx = torch.meshgrid(torch.arange(0, h).type_as(x), torch.arange(0, w).type_as(x),
                            indexing="ij")
    grid = torch.stack((gx, gy), 2).float() + flow.permute(0, 2, 3, 1)
    vx = 2.0 * grid[..., 0] / max(w - 1, 1) - 1.0
    vy = 2.0 * grid[..., 1] / max(h - 1, 1) - 1.0
    return F.grid_sample(x, torch.stack((vx, vy), dim=3), mode="bilinear",
                         padding_mode=padding_mode, align_corners=True)


def _basicsr_spynet(net: SpyNet, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
    """BasicSR's SpyNet.forward as documented: half-size zero init, upsample, replicate pad."""
    h, w = ref.shape[-2:]
    hf, wf = math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
    ref = F.interpolate(ref, size=(hf, wf), mode="bilinear", align_corners=False)
    supp = F.interpolate(supp, size=(hf, wf), mode="bilinear", align_corners=False)
    refs, supps = [(ref - net.mean) / net.std], [(supp - net.mean) / net.std]
    for _ in range(5):
        refs.insert(0, F.avg_pool2d(refs[0], 2, 2, count_include_pad=False))
        supps.insert(0, F.avg_pool2d(supps[0], 2, 2, count_include_pad=False))
    flow = refs[0].new_zeros(ref.shape[0], 2, refs[0].shape[2] // 2, refs[0].shape[3] // 2)
    for level in range(6):
        up = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
        if up.size(2) != refs[level].size(2):
            up = F.pad(up, [0, 0, 0, 1], mode="replicate")
        if up.size(3) != refs[level].size(3):
            up = F.pad(up, [0, 1, 0, 0], mode="replicate")
        warped = _basicsr_flow_warp(supps[level], up, "border")
        flow = net.basic_module[level](torch.cat([refs[level], warped, up], 1)) + up
    flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
    flow[:, 0] *= w / wf
    flow[:, 1] *= h / hf
    return flow


@pytest.mark.parametrize("size", [(33, 47), (64, 96), (70, 33)])
def test_spynet_matches_basicsr_where_basicsr_works(size: tuple[int, int]) -> None:
    net = SpyNet().eval()
    with torch.no_grad():
        for m in net.modules():  # non-trivial flows
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(3.0)
        a, b = torch.rand(2, 3, *size), torch.rand(2, 3, *size)
        torch.testing.assert_close(net(a, b), _basicsr_spynet(net, a, b), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (32, 32), (33, 47)])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_basicvsr_runs_on_small_and_odd_frames(size, bidirectional: bool) -> None:
    model = BasicVSR(BasicVSRConfig(num_feat=8, num_block=1, bidirectional=bidirectional))
    with torch.no_grad():
        out, hidden = model(torch.rand(1, 3, 3, *size), return_hidden=True)
    assert out.shape == (1, 3, 3, 4 * size[0], 4 * size[1])
    assert hidden["forward"].shape == (1, 8, *size)
    assert ("backward" in hidden) == bidirectional


def test_unidirectional_stream_equals_forward() -> None:
    model = create_model("basicvsr-uni-8-2").eval()
    x = torch.rand(1, 4, 3, 13, 17)
    streamed = torch.stack(list(model.stream(x[:, i] for i in range(4))), dim=1)
    with torch.no_grad():
        torch.testing.assert_close(streamed, model(x))


def test_unidirectional_is_causal() -> None:
    model = create_model("basicvsr-uni-8-1").eval()
    x = torch.rand(1, 4, 3, 9, 9)
    y = x.clone()
    y[:, 3] = torch.rand(3, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[:, :3], model(y)[:, :3])


def test_unknown_model_name_lists_valid_ones() -> None:
    from srprune.errors import UserError

    with pytest.raises(UserError, match="valid names"):
        config_from_name("basicvsr-xl")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_model_upsamples_images_and_clips(scale: int) -> None:
    model = create_model("bicubic", scale)
    assert model(torch.rand(1, 3, 5, 7)).shape == (1, 3, 5 * scale, 7 * scale)
    assert model(torch.rand(1, 2, 3, 5, 7)).shape == (1, 2, 3, 5 * scale, 7 * scale)


def test_narrow_spynet_is_a_config_field_that_survives_a_model_file(tmp_path) -> None:
    from srprune.io.model_file import load_model, save_model

    torch.manual_seed(0)
    model = BasicVSR(BasicVSRConfig(num_feat=8, num_block=1, recon_feat=8, flow_feat=8)).eval()
    widths = [m.out_channels for m in model.spynet.basic_module[0].basic_module
              if isinstance(m, torch.nn.Conv2d)]
    assert widths == [8, 16, 8, 4, 2]
    # 49 * (8*8 + 8*16 + 16*8 + 8*4 + 4*2) weights + biases per level: ~17x fewer than official
    assert sum(p.numel() for p in model.spynet.parameters()) == 6 * (49 * 360 + 38)
    back = load_model(save_model(tmp_path / "m.safetensors", model))
    assert back.config.flow_feat == 8
    x = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


def test_flow_feat_out_of_range_is_refused() -> None:
    from srprune.errors import UserError
    from srprune.models.limits import check_config

    with pytest.raises(UserError, match="flow_feat"):
        check_config(BasicVSRConfig(flow_feat=64))

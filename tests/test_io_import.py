"""Foreign checkpoint import: BasicSR / mmagic BasicVSR, EDSR-PyTorch / BasicSR EDSR, SPyNet.

Each foreign file is written here from a native model with the test's own inverse name map, in
the container its tool writes, and must load strictly and reproduce the native outputs exactly.
"""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

# -- foreign layouts, written from native names (inverse maps, independent of srprune's) ------
from foreign_layouts import to_mmagic  # noqa: E402
from srprune.errors import UserError
from srprune.io.importers import import_checkpoint, load_spynet_into, parse_arch
from srprune.models.basicvsr import BasicVSR, BasicVSRConfig
from srprune.models.edsr import DIV2K_RGB_MEAN, EDSR, EDSRConfig
from srprune.models.spynet import SpyNet


def mmagic_checkpoint(sd):
    state = {"generator." + to_mmagic(k): v for k, v in sd.items()}
    state["step_counter"] = torch.tensor([300000.0])
    state["data_preprocessor.mean"] = torch.zeros(1, 3, 1, 1)
    meta = {"mmagic_version": "1.2.0", "epoch": 1, "iter": np.int64(300000),
            "best_psnr": np.float64(31.42)}
    return {"meta": meta, "state_dict": state}


def to_edsr_pytorch(sd, num_block, rgb_range=255.0, rgb_mean=DIV2K_RGB_MEAN, std=(1.0, 1.0, 1.0)):
    out = {}
    for k, v in sd.items():
        if k.startswith("conv_first."):
            k = "head.0." + k[len("conv_first."):]
        elif m := re.fullmatch(r"body\.(\d+)\.conv([12])\.(\w+)", k):
            k = f"body.{m[1]}.body.{0 if m[2] == '1' else 2}.{m[3]}"
        elif k.startswith("conv_after_body."):
            k = f"body.{num_block}." + k[len("conv_after_body."):]
        elif k.startswith("upsample."):
            k = "tail.0." + k[len("upsample."):]
        elif k.startswith("conv_last."):
            k = "tail.1." + k[len("conv_last."):]
        out[k] = v
    # MeanShift as EDSR-PyTorch's common.MeanShift builds it (float32 arithmetic)
    std_t = torch.Tensor(std)
    for name, sign in (("sub_mean", -1), ("add_mean", 1)):
        out[f"{name}.weight"] = torch.eye(3).view(3, 3, 1, 1) / std_t.view(3, 1, 1, 1)
        out[f"{name}.bias"] = sign * rgb_range * torch.Tensor(rgb_mean) / std_t
    return out


def edsr_pytorch_forward(sd, x, num_block, rgb_range=255.0, res_scale=1.0):
    """EDSR-PyTorch's forward written out on its own state dict (input in [0, 1])."""
    def conv(t, name):
        w = sd[name + ".weight"]
        return F.conv2d(t, w, sd[name + ".bias"], padding=w.shape[-1] // 2)

    h = conv(conv(x * rgb_range, "sub_mean"), "head.0")
    res = h
    for i in range(num_block):
        res = res + conv(F.relu(conv(res, f"body.{i}.body.0")), f"body.{i}.body.2") * res_scale
    res = conv(res, f"body.{num_block}") + h
    j = 0
    while f"tail.0.{j}.weight" in sd:
        res = conv(res, f"tail.0.{j}")
        res = F.pixel_shuffle(res, int(round((res.shape[1] / h.shape[1]) ** 0.5)))
        j += 2
    return conv(conv(res, "tail.1"), "add_mean") / rgb_range


def _tiny_basicvsr(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = BasicVSRConfig(num_feat=8, num_block=2, **kw)
    return BasicVSR(cfg).eval()


def _clip(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 3, 13, 17, generator=g)


def _run(model, x):
    with torch.no_grad():
        return model(x)


# -- BasicVSR -------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["basicsr", "mmagic", "basicsr-safetensors",
                                    "mmagic-safetensors", "dataparallel"])
def test_basicvsr_layouts_load_bit_identical(tmp_path, layout):
    native = _tiny_basicvsr()
    sd = native.state_dict()
    path = tmp_path / "ckpt.pth"
    if layout == "basicsr":
        torch.save({"params": sd}, path)
    elif layout == "mmagic":
        torch.save(mmagic_checkpoint(sd), path)
    elif layout == "basicsr-safetensors":
        path = tmp_path / "ckpt.safetensors"
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    elif layout == "mmagic-safetensors":
        path = tmp_path / "ckpt.safetensors"
        save_file({k: v.contiguous() for k, v in mmagic_checkpoint(sd)["state_dict"].items()},
                  str(path))
    else:
        torch.save({"module." + k: v for k, v in sd.items()}, path)
    source = layout.split("-")[0] if layout != "dataparallel" else "basicsr"
    x = _clip()
    expected = _run(native, x)
    for src in (source, "auto"):
        model, report = import_checkpoint(path, src)
        assert report.source == source
        assert model.config == native.config
        assert report.loaded == len(sd)
        assert torch.equal(_run(model, x), expected)
    if source == "mmagic":
        assert set(report.ignored) >= {"step_counter", "data_preprocessor.mean"}
        assert "step_counter" in report.summary()
    else:
        assert report.ignored == []


def test_params_ema_preferred_and_selectable(tmp_path):
    ema, plain = _tiny_basicvsr(0, bidirectional=False), _tiny_basicvsr(5, bidirectional=False)
    path = tmp_path / "net_g.pth"
    torch.save({"params": plain.state_dict(), "params_ema": ema.state_dict()}, path)
    x = _clip()
    model, report = import_checkpoint(path, "basicsr")
    assert not model.config.bidirectional and "params_ema" in report.container
    assert report.ignored == ["params"]
    assert torch.equal(_run(model, x), _run(ema, x))
    model, report = import_checkpoint(path, "auto", params_key="params")
    assert torch.equal(_run(model, x), _run(plain, x))
    with pytest.raises(UserError, match="params_ema"):
        torch.save({"params": plain.state_dict()}, path)
        import_checkpoint(path, "basicsr", params_key="params_ema")


def test_act_is_a_stated_config_choice(tmp_path):
    native = _tiny_basicvsr(act="relu")
    path = tmp_path / "ssl.pth"
    torch.save({"params": native.state_dict()}, path)
    model, report = import_checkpoint(path, "basicsr", act="relu")
    assert model.config.act == "relu"
    assert torch.equal(_run(model, _clip()), _run(native, _clip()))
    assert any("relu" in n for n in report.notes)
    with pytest.raises(UserError, match="activation"):
        import_checkpoint(path, "basicsr", act="gelu")


def test_arch_override(tmp_path):
    native = _tiny_basicvsr()
    path = tmp_path / "bvsr.pth"
    torch.save({"params": native.state_dict()}, path)
    assert import_checkpoint(path, arch="basicvsr-8-2")[0].config == native.config
    with pytest.raises(UserError, match=r"shape mismatch .*forward_trunk\.main\.0\.weight"):
        import_checkpoint(path, arch="basicvsr-16-2")
    with pytest.raises(UserError) as e:
        import_checkpoint(path, arch="basicvsr-uni")
    assert "unexpected" in str(e.value) and "backward_trunk.main.0.weight" in str(e.value)
    assert "fusion.weight (8, 16, 1, 1) in the checkpoint vs (8, 8, 1, 1)" in str(e.value)
    with pytest.raises(UserError, match="looks like a basicvsr checkpoint"):
        import_checkpoint(path, arch="edsr")
    with pytest.raises(UserError, match="cannot import into architecture"):
        import_checkpoint(path, arch="esrb-6-256")
    assert parse_arch("basicvsr-uni-64-30").bidirectional is False
    assert parse_arch("basicvsr").bidirectional is None
    assert parse_arch("edsr-8-128").num_feat == 128


def test_truncated_and_misshaped_name_every_key(tmp_path):
    sd = dict(_tiny_basicvsr().state_dict())
    removed = ["forward_trunk.main.2.1.conv2.weight", "conv_hr.bias",
               "spynet.basic_module.3.basic_module.4.bias"]
    for k in removed:
        del sd[k]
    sd["upconv1.weight"] = torch.zeros(16, 8, 3, 3)
    sd["extra_head.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save({"params": sd}, path)
    with pytest.raises(UserError) as e:
        import_checkpoint(path, "basicsr")
    msg = str(e.value)
    assert "\n" not in msg
    assert "missing (3): " + ", ".join(sorted(removed, key=list(_tiny_basicvsr().state_dict())
                                              .index)) in msg
    assert "unexpected (1): extra_head.weight" in msg
    assert "shape mismatch (1): upconv1.weight (16, 8, 3, 3) in the checkpoint vs (32, 8, 3, 3)" \
        in msg


def test_mmagic_mismatch_reports_file_names(tmp_path):
    ckpt = mmagic_checkpoint(_tiny_basicvsr().state_dict())
    ckpt["state_dict"]["generator.upsample1.upsample_conv.weight"] = torch.zeros(4, 8, 3, 3)
    ckpt["state_dict"]["generator.mystery.weight"] = torch.zeros(1)
    path = tmp_path / "mm.pth"
    torch.save(ckpt, path)
    with pytest.raises(UserError) as e:
        import_checkpoint(path, "mmagic")
    assert "upconv1.weight [generator.upsample1.upsample_conv.weight] (4, 8, 3, 3)" in str(e.value)
    assert "unexpected (1): generator.mystery.weight" in str(e.value)


def test_long_key_lists_are_truncated_with_a_count(tmp_path):
    sd = {k: v for k, v in _tiny_basicvsr().state_dict().items()
          if not k.startswith("spynet.basic_module")}
    path = tmp_path / "nospy.pth"
    torch.save({"params": sd}, path)
    with pytest.raises(UserError, match=r"missing \(60\): spynet\.basic_module\.0\..*"
                                        r", \.\.\. and 40 more"):
        import_checkpoint(path)


def test_spynet_buffers_filled_when_absent(tmp_path):
    native = _tiny_basicvsr()
    sd = {k: v for k, v in native.state_dict().items() if k not in ("spynet.mean", "spynet.std")}
    path = tmp_path / "nobuf.pth"
    torch.save({"params": sd}, path)
    model, report = import_checkpoint(path)
    assert torch.equal(_run(model, _clip()), _run(native, _clip()))
    assert any("spynet.mean" in n for n in report.notes)
    assert report.loaded == len(sd)


# -- EDSR -----------------------------------------------------------------------------------

def _tiny_edsr(scale, seed=0, **kw):
    torch.manual_seed(seed)
    return EDSR(EDSRConfig(num_feat=8, num_block=2, scale=scale, **kw)).eval()


def _image(seed=2):
    return torch.rand(1, 3, 11, 13, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_pytorch_loads_and_matches(tmp_path, scale):
    native = _tiny_edsr(scale)
    foreign = to_edsr_pytorch(native.state_dict(), num_block=2)
    path = tmp_path / f"edsr_x{scale}.pt"
    torch.save(foreign, path)
    x = _image()
    for src in ("edsr-pytorch", "auto"):
        model, report = import_checkpoint(path, src)
        assert report.source == "edsr-pytorch" and report.ignored == []
        assert model.config == native.config  # scale, img_range 255, DIV2K mean recovered
        assert torch.equal(_run(model, x), _run(native, x))
    reference = edsr_pytorch_forward(foreign, x, num_block=2)
    assert torch.allclose(_run(model, x), reference, atol=1e-5, rtol=0)
    assert report.loaded == len(foreign) - 4  # MeanShift went into the config


@pytest.mark.parametrize("scale", [2, 3])
def test_basicsr_edsr_is_native(tmp_path, scale):
    native = _tiny_edsr(scale, seed=3)
    path = tmp_path / "edsr.pth"
    torch.save({"params": native.state_dict()}, path)
    model, _ = import_checkpoint(path, "basicsr")
    assert model.config == native.config
    assert torch.equal(_run(model, _image()), _run(native, _image()))


def test_edsr_meanshift_rgb_range_and_options(tmp_path):
    native = _tiny_edsr(2, img_range=1.0, rgb_mean=(0.5, 0.25, 0.125), res_scale=0.1)
    path = tmp_path / "edsr1.pt"
    torch.save(to_edsr_pytorch(native.state_dict(), 2, rgb_range=1.0,
                               rgb_mean=(0.5, 0.25, 0.125)), path)
    model, report = import_checkpoint(path, res_scale=0.1)
    assert model.config == native.config
    assert torch.equal(_run(model, _image()), _run(native, _image()))
    assert any("rgb_range 1" in n for n in report.notes)
    with pytest.raises(UserError, match="outside"):
        import_checkpoint(path, rgb_range=0.1)


def test_edsr_meanshift_with_std_is_refused(tmp_path):
    path = tmp_path / "std.pt"
    torch.save(to_edsr_pytorch(_tiny_edsr(2).state_dict(), 2, std=(0.5, 0.5, 0.5)), path)
    with pytest.raises(UserError, match="sub_mean.weight is not the identity"):
        import_checkpoint(path)


def test_edsr_truncated_names_keys(tmp_path):
    foreign = to_edsr_pytorch(_tiny_edsr(4).state_dict(), 2)
    del foreign["body.1.body.2.weight"], foreign["tail.0.2.bias"]
    path = tmp_path / "cut.pt"
    torch.save(foreign, path)
    with pytest.raises(UserError,
                       match=r"missing \(2\): body\.1\.conv2\.weight, upsample\.2\.bias"):
        import_checkpoint(path, "edsr-pytorch")


def test_edsr_bad_upsampler_shape(tmp_path):
    foreign = to_edsr_pytorch(_tiny_edsr(2).state_dict(), 2)
    foreign["tail.0.0.weight"] = torch.zeros(20, 8, 3, 3)
    path = tmp_path / "up.pt"
    torch.save(foreign, path)
    with pytest.raises(UserError, match=r"cannot infer the scale .*upsample\.0\.weight \(20, 8"):
        import_checkpoint(path)


# -- SPyNet ---------------------------------------------------------------------------------

def _spynet_sd(seed=7):
    torch.manual_seed(seed)
    return SpyNet().state_dict()


def _same_spynet(model, sd):
    got = model.spynet.state_dict()
    return all(torch.equal(got[k], v) for k, v in sd.items())


@pytest.mark.parametrize("layout", ["basicsr", "mmagic", "full-basicvsr"])
def test_load_spynet_into(tmp_path, layout):
    sd = _spynet_sd()
    path = tmp_path / "spynet.pth"
    if layout == "basicsr":  # spynet_sintel_final-*.pth: no mean/std buffers
        torch.save({"params": {k: v for k, v in sd.items() if k not in ("mean", "std")}}, path)
    elif layout == "mmagic":
        torch.save({"meta": {}, "state_dict": {to_mmagic(k): v for k, v in sd.items()
                                               if k not in ("mean", "std")}}, path)
    else:
        donor = _tiny_basicvsr(seed=9)
        donor.spynet.load_state_dict(sd)
        torch.save({"params": donor.state_dict()}, path)
    model = _tiny_basicvsr()
    report = load_spynet_into(model, path)
    assert _same_spynet(model, sd)
    assert report.loaded == len(sd) - (0 if layout == "full-basicvsr" else 2)  # mean/std filled
    if layout == "full-basicvsr":
        assert "fusion.weight" in report.ignored
    else:
        assert any("mean" in n for n in report.notes)
    bare = SpyNet()
    load_spynet_into(bare, path)
    assert all(torch.equal(bare.state_dict()[k], v) for k, v in sd.items())


def test_load_spynet_strict_and_target_checks(tmp_path):
    sd = {k: v for k, v in _spynet_sd().items() if k != "basic_module.2.basic_module.6.weight"}
    path = tmp_path / "spy.pth"
    torch.save({"params": sd}, path)
    with pytest.raises(UserError, match=r"missing \(1\): basic_module\.2\.basic_module\.6\.weight"):
        load_spynet_into(_tiny_basicvsr(), path)
    with pytest.raises(UserError, match="no SPyNet"):
        load_spynet_into(_tiny_edsr(2), path)


def test_spynet_only_checkpoint_needs_a_basicvsr_arch(tmp_path):
    sd = _spynet_sd()
    path = tmp_path / "spynet_sintel_final.pth"
    torch.save({"params": {k: v for k, v in sd.items() if k not in ("mean", "std")}}, path)
    with pytest.raises(UserError, match="only SPyNet weights"):
        import_checkpoint(path)
    model, report = import_checkpoint(path, arch="basicvsr-uni-8-2")
    assert model.config == BasicVSRConfig(num_feat=8, num_block=2, bidirectional=False)
    assert _same_spynet(model, sd)
    again, _ = import_checkpoint(path, arch="basicvsr-uni-8-2")
    assert torch.equal(again.fusion.weight, model.fusion.weight)  # seeded fresh init
    assert any("freshly initialised" in n for n in report.notes)


# -- unsafe and unreadable files ------------------------------------------------------------

CALLS = []


def _side_effect(*args):
    CALLS.append(args)
    return args


class Payload:
    """Unpickling this would call ``_side_effect``."""

    def __reduce__(self):
        return (_side_effect, ("executed",))


class Custom:
    def __init__(self):
        self.weights = torch.zeros(2)

    def __setstate__(self, state):
        CALLS.append("setstate")
        self.__dict__.update(state)


@pytest.mark.parametrize("obj", [Payload(), Custom()], ids=["reduce", "custom-class"])
def test_pickled_objects_are_refused_without_running_code(tmp_path, obj):
    CALLS.clear()
    path = tmp_path / "evil.pth"
    torch.save({"params": {"conv_last.weight": torch.zeros(1)}, "extra": obj}, path)
    with pytest.raises(UserError, match="not a plain weights checkpoint") as e:
        import_checkpoint(path)
    assert CALLS == []
    assert ("_side_effect" if isinstance(obj, Payload) else "Custom") in str(e.value)
    with pytest.raises(UserError, match="not a plain weights checkpoint"):
        load_spynet_into(_tiny_basicvsr(), path)
    assert CALLS == []


def test_unreadable_and_odd_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        import_checkpoint(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(UserError, match="cannot be read") as e:
        import_checkpoint(junk)
    assert "\n" not in str(e.value)
    bad_st = tmp_path / "junk.safetensors"
    bad_st.write_bytes(b"\x00" * 16)
    with pytest.raises(UserError, match="safetensors"):
        import_checkpoint(bad_st)
    tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(UserError, match="not a state dict"):
        import_checkpoint(tensor)
    other = tmp_path / "other.pth"
    torch.save({"optimizer": {"lr": 0.1}}, other)
    with pytest.raises(UserError, match="no state dict found"):
        import_checkpoint(other)
    with pytest.raises(UserError, match="no 'params'"):
        import_checkpoint(other, "basicsr")
    unknown = tmp_path / "unknown.pth"
    torch.save({"encoder.weight": torch.zeros(3)}, unknown)
    with pytest.raises(UserError, match="cannot tell the architecture"):
        import_checkpoint(unknown)
    with pytest.raises(UserError, match="applies to BasicSR"):
        import_checkpoint(unknown, "mmagic", params_key="params")

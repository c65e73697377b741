"""``srprune convert`` end to end: foreign file in, srprune model file out (or one error line)."""

import re

import pytest
import torch

from foreign_layouts import to_mmagic
from srprune.cli import main
from srprune.io.model_file import load_model, read_header, save_model
from srprune.models.basicvsr import BasicVSR, BasicVSRConfig
from srprune.models.edsr import EDSR, EDSRConfig
from srprune.models.spynet import SpyNet


def _basicvsr(seed=0):
    torch.manual_seed(seed)
    return BasicVSR(BasicVSRConfig(num_feat=8, num_block=2)).eval()


def _clip():
    return torch.rand(1, 3, 3, 13, 17, generator=torch.Generator().manual_seed(1))


def _same_output(a, b, x):
    with torch.no_grad():
        return torch.equal(a(x), b(x))


def _no_outputs(folder):
    """Nothing written: neither OUT nor a temporary file beside it."""
    return not [p for p in folder.iterdir() if p.suffix == ".safetensors" or ".part" in p.name]


def test_convert_mmagic_end_to_end(tmp_path, capsys):
    native = _basicvsr()
    state = {"generator." + to_mmagic(k): v for k, v in native.state_dict().items()}
    state["step_counter"] = torch.tensor([1.0])
    src, out = tmp_path / "basicvsr_mmagic.pth", tmp_path / "out" / "bvsr.safetensors"
    torch.save({"meta": {"iter": 10}, "state_dict": state}, src)
    assert main(["convert", "--from", "mmagic", str(src), str(out)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "basicvsr (num_feat=8, num_block=2" in text and "step_counter" in text
    assert f"{sum(p.numel() for p in native.parameters()):,} parameters" in text
    model = load_model(out)
    assert model.config == native.config
    assert _same_output(model, native, _clip())
    extra = read_header(out)["extra"]
    assert extra["source"] == "mmagic" and extra["ignored_keys"] == ["meta", "step_counter"]


@pytest.mark.parametrize("scale", [3, 4])
def test_convert_edsr_pytorch(tmp_path, capsys, scale):
    torch.manual_seed(0)
    native = EDSR(EDSRConfig(num_feat=8, num_block=2, scale=scale)).eval()
    names = {"conv_first.": "head.0.", "conv_after_body.": "body.2.", "upsample.": "tail.0.",
             "conv_last.": "tail.1."}
    foreign = {}
    for k, v in native.state_dict().items():
        k = re.sub(r"^body\.(\d+)\.conv([12])\.",
                   lambda m: f"body.{m[1]}.body.{0 if m[2] == '1' else 2}.", k)
        for a, b in names.items():
            if k.startswith(a):
                k = b + k[len(a):]
        foreign[k] = v
    for name, sign in (("sub_mean", -1), ("add_mean", 1)):
        foreign[f"{name}.weight"] = torch.eye(3).view(3, 3, 1, 1)
        foreign[f"{name}.bias"] = sign * 255 * torch.Tensor([0.4488, 0.4371, 0.4040])
    src, out = tmp_path / "edsr.pt", tmp_path / "edsr.safetensors"
    torch.save(foreign, src)
    assert main(["convert", "--from", "edsr-pytorch", str(src), str(out)]) == 0
    model = load_model(out)
    assert model.config == native.config
    assert _same_output(model, native, torch.rand(1, 3, 9, 10))
    assert f"scale={scale}" in " ".join(capsys.readouterr().out.split())


def _error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("srprune convert: error: ")
    assert err.count("\n") == 1  # exactly one line
    return err


def test_convert_errors_are_one_line_and_leave_no_output(tmp_path, capsys):
    sd = dict(_basicvsr().state_dict())
    del sd["conv_last.bias"]
    src, out = tmp_path / "cut.pth", tmp_path / "cut.safetensors"
    torch.save({"params": sd}, src)
    assert main(["convert", "--from", "basicsr", str(src), str(out)]) == 2
    assert "missing (1): conv_last.bias" in _error(capsys)
    assert _no_outputs(tmp_path)

    good = tmp_path / "good.pth"
    torch.save({"params": _basicvsr().state_dict()}, good)
    assert main(["convert", str(good), str(tmp_path / "good.pth.bak")]) == 2
    assert ".safetensors" in _error(capsys)
    assert main(["convert", str(tmp_path / "missing.pth"), str(out)]) == 2
    assert "not found" in _error(capsys)
    assert main(["convert", str(good), str(out), "--spynet", str(tmp_path / "no.pth")]) == 2
    assert "SPyNet checkpoint not found" in _error(capsys)
    assert _no_outputs(tmp_path)

    torch.manual_seed(0)
    edsr = tmp_path / "edsr.pth"
    torch.save({"params": EDSR(EDSRConfig(num_feat=8, num_block=2, scale=2)).state_dict()}, edsr)
    assert main(["convert", str(edsr), str(out), "--act", "relu"]) == 2
    assert "--act applies to BasicVSR" in _error(capsys)
    assert main(["convert", str(good), str(out), "--res-scale", "0.1"]) == 2
    assert "--res-scale applies to EDSR" in _error(capsys)
    assert _no_outputs(tmp_path)


class Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_convert_refuses_pickled_code(tmp_path, capsys):
    src, out = tmp_path / "evil.pth", tmp_path / "evil.safetensors"
    torch.save({"params": Boom()}, src)
    assert main(["convert", str(src), str(out)]) == 2
    captured = capsys.readouterr()
    assert "never run" not in captured.out
    assert "not a plain weights checkpoint" in captured.err and captured.err.count("\n") == 1
    assert _no_outputs(tmp_path)


def test_convert_with_spynet(tmp_path, capsys):
    torch.manual_seed(11)
    spy = {k: v for k, v in SpyNet().state_dict().items() if k not in ("mean", "std")}
    spy_file = tmp_path / "spynet_sintel_final-3d2a1287.pth"
    torch.save({"params": spy}, spy_file)
    native = _basicvsr()
    src = tmp_path / "bvsr.pth"
    torch.save({"params": native.state_dict()}, src)
    out = tmp_path / "with_spy.safetensors"
    assert main(["convert", str(src), str(out), "--spynet", str(spy_file)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "SPyNet weights (60 tensors) loaded strictly" in text
    model = load_model(out)
    assert all(torch.equal(model.spynet.state_dict()[k], v) for k, v in spy.items())
    assert torch.equal(model.fusion.weight, native.fusion.weight)

    # an srprune model file can have its SPyNet replaced too
    dense = tmp_path / "dense.safetensors"
    save_model(dense, native, {"step": 5})
    out2 = tmp_path / "dense_spy.safetensors"
    assert main(["convert", str(dense), str(out2), "--spynet", str(spy_file)]) == 0
    model2 = load_model(out2)
    assert all(torch.equal(model2.spynet.state_dict()[k], v) for k, v in spy.items())
    assert model2.extra["step"] == 5 and model2.extra["spynet_from"] == spy_file.name
    capsys.readouterr()
    assert main(["convert", str(dense), str(tmp_path / "x.safetensors")]) == 2
    assert "already an srprune model file" in _error(capsys)

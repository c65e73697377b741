"""Detection and import of SRVGGNetCompact / RRDBNet state dicts in the key forms spandrel
(chaiNNer's loader) recognises: BasicSR's names, Real-ESRGAN's files, the original ESRGAN
``model.*`` layout; the layouts srprune does not read are refused in one line naming them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.errors import UserError
from srprune.io.importers import detect_family, import_checkpoint
from srprune.io.model_file import load_model
from srprune.models.registry import create_model


def _state(name: str, scale: int = 4) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {k: v.clone() for k, v in create_model(name, scale).state_dict().items()}


def _legacy(state: dict[str, torch.Tensor], ups: tuple[int, ...] = (3, 6),
            tail: tuple[int, int] = (8, 10)) -> dict[str, torch.Tensor]:
    """BasicSR RRDBNet names -> the original ESRGAN ``model.*`` names (written independently of
    srprune's key map: spandrel's ``_to_old_arch`` table)."""
    blocks = 1 + max(int(m[1]) for k in state if (m := re.match(r"body\.(\d+)\.", k)))
    plain = {"conv_first": 0, "conv_up1": ups[0], "conv_up2": ups[-1], "conv_hr": tail[0],
             "conv_last": tail[1], "conv_body": None}
    out = {}
    for k, v in state.items():
        m = re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", k)
        if m:
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
            continue
        layer, kind = k.rsplit(".", 1)
        index = plain[layer]
        out[f"model.1.sub.{blocks}.{kind}" if index is None else f"model.{index}.{kind}"] = v
    return out


def test_detection_agrees_with_spandrel() -> None:
    """spandrel: Compact = body.0.weight + body.1.weight; ESRGAN = conv_first + body.0.rdb1.conv1
    + conv_body + conv_last (or the model.* forms)."""
    compact = _state("srvgg-8-2")
    assert {"body.0.weight", "body.1.weight"} <= set(compact)
    assert detect_family(list(compact)) == "srvgg"
    relu = {k: v for k, v in compact.items() if v.dim() != 1 or k.endswith("bias")}
    assert detect_family(list(relu)) == "srvgg"  # convs only: spandrel would not see it
    esrgan = _state("rrdbnet-8-1")
    assert {"conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight",
            "conv_last.weight"} <= set(esrgan)
    assert detect_family(list(esrgan)) == "rrdbnet"
    for other, family in (("edsr-2-8", "edsr"), ("msrresnet-2-8", "msrresnet"),
                          ("basicvsr-8-2", "basicvsr")):
        assert detect_family(list(_state(other))) == family


@pytest.mark.parametrize("entry", ["params", "params_ema"])
def test_original_esrgan_layout_imports_as_rrdbnet(entry: str, tmp_path: Path) -> None:
    native = _state("rrdbnet-8-2")
    torch.save({entry: _legacy(native)}, tmp_path / "esrgan.pth")
    model, report = import_checkpoint(tmp_path / "esrgan.pth", "basicsr")
    assert model.config == create_model("rrdbnet-8-2").config
    assert all(torch.equal(model.state_dict()[k], v) for k, v in native.items())
    assert "original ESRGAN" in report.summary()


@pytest.mark.parametrize(("what", "make", "message"), [
    ("old x2", lambda s: _legacy(s, ups=(3,), tail=(5, 7)), "1 upsampling stage"),
    ("bsrgan", lambda s: {k.replace("body.", "RRDB_trunk.").replace(".rdb", ".RDB")
                          .replace("conv_body", "trunk_conv").replace("conv_up", "upconv")
                          .replace("conv_hr", "HRconv"): v for k, v in s.items()},
     "BSRGAN / RealSR"),
    ("esrgan+", lambda s: {**_legacy(s), "model.1.sub.0.RDB1.conv1x1.weight":
                           torch.zeros(4, 8, 1, 1)}, "ESRGAN+"),
])
def test_other_esrgan_layouts_are_refused_by_name(what: str, make, message: str,
                                                  tmp_path: Path) -> None:
    path = tmp_path / f"{what}.pth"
    torch.save(make(_state("rrdbnet-8-1")), path)
    with pytest.raises(UserError, match=message):
        import_checkpoint(path, "basicsr")


def test_srvgg_activation_from_the_slopes(tmp_path: Path) -> None:
    compact = _state("srvgg-8-2", 2)
    torch.save({"params": compact}, tmp_path / "prelu.pth")
    with pytest.raises(UserError, match="PReLU slopes"):
        import_checkpoint(tmp_path / "prelu.pth", "basicsr", act="relu")
    relu = {k: v for k, v in compact.items() if v.dim() != 1 or not k.endswith("weight")}
    torch.save({"params": relu}, tmp_path / "relu.pth")
    model, report = import_checkpoint(tmp_path / "relu.pth", "basicsr")
    assert (model.config.act, model.config.scale) == ("lrelu", 2)
    assert "--act relu" in report.summary()
    model, _ = import_checkpoint(tmp_path / "relu.pth", "basicsr", act="relu")
    assert model.config.act == "relu"


def test_convert_realesr_animevideov3(tmp_path: Path, capsys) -> None:
    """Real-ESRGAN's file layout and shapes (F 64, 16 convs, x4, PReLU; ``params``)."""
    src, out = tmp_path / "realesr-animevideov3.pth", tmp_path / "anime.safetensors"
    state = _state("realesr-animevideov3")
    torch.save({"params": state}, src)
    assert main(["convert", "--from", "basicsr", str(src), str(out)]) == 0
    model = load_model(out)
    assert model.config == create_model("realesr-animevideov3").config
    assert sum(p.numel() for p in model.parameters()) == 621_424
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert "621,424 parameters" in capsys.readouterr().out


def test_convert_realesrgan_x2plus_layout(tmp_path: Path) -> None:
    """x2plus: 12 input channels (pixel unshuffle), ``params_ema`` preferred over ``params``."""
    state = _state("rrdbnet-8-1", 2)
    torch.save({"params": {k: torch.zeros_like(v) for k, v in state.items()},
                "params_ema": state}, tmp_path / "x2plus.pth")
    assert main(["convert", str(tmp_path / "x2plus.pth"), str(tmp_path / "x2.safetensors")]) == 0
    model = load_model(tmp_path / "x2.safetensors")
    assert model.config.scale == 2 and model.conv_first.in_channels == 12
    assert torch.equal(model.conv_first.weight, state["conv_first.weight"])

"""MSRResNet (BasicSR's SRResNet without BN): the reference forward written out on its own
state dict, strict import of a BasicSR checkpoint, and the model contract."""

import pytest
import torch
import torch.nn.functional as F

from srprune.io.importers import detect_family, import_checkpoint
from srprune.models.contract import require
from srprune.models.msrresnet import MSRResNet, MSRResNetConfig
from srprune.models.registry import config_from_name, create_model


def reference_forward(sd: dict, x: torch.Tensor, num_block: int, scale: int) -> torch.Tensor:
    """BasicSR's MSRResNet.forward, written out: lrelu after each pixel shuffle."""
    def conv(t, name):
        return F.conv2d(t, sd[name + ".weight"], sd[name + ".bias"], padding=1)

    def lrelu(t):
        return F.leaky_relu(t, 0.1)

    feat = lrelu(conv(x, "conv_first"))
    out = feat
    for i in range(num_block):
        out = out + conv(F.relu(conv(out, f"body.{i}.conv1")), f"body.{i}.conv2")
    if scale == 4:
        out = lrelu(F.pixel_shuffle(conv(out, "upconv1"), 2))
        out = lrelu(F.pixel_shuffle(conv(out, "upconv2"), 2))
    else:
        out = lrelu(F.pixel_shuffle(conv(out, "upconv1"), scale))
    out = conv(lrelu(conv(out, "conv_hr")), "conv_last")
    return out + F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def test_basicsr_param_count() -> None:
    """BasicSR's MSRResNet x4 (16 x 64) has 1,517,571 parameters."""
    model = create_model("msrresnet", scale=4)
    assert sum(p.numel() for p in model.parameters()) == 1_517_571


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_strict_import_reproduces_reference(tmp_path, scale: int) -> None:
    torch.manual_seed(scale)
    native = MSRResNet(MSRResNetConfig(num_feat=8, num_block=3, scale=scale)).eval()
    sd = {k: v.clone() for k, v in native.state_dict().items()}
    path = tmp_path / f"MSRResNet_x{scale}.pth"
    torch.save({"params": sd}, path)  # BasicSR's container
    assert detect_family(list(sd)) == "msrresnet"
    model, report = import_checkpoint(path)
    assert model.config == MSRResNetConfig(num_feat=8, num_block=3, scale=scale)
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        ref = reference_forward(sd, x, 3, scale)
        assert torch.allclose(model(x), ref, atol=1e-6)
        assert torch.allclose(native(x), ref, atol=1e-6)


def test_contract_and_names() -> None:
    model = require(create_model("msrresnet-4-16", scale=2))
    assert not model.is_video and model.causal and model.flow_net is None
    assert {p.module for p in model.image_ports()} == {"conv_first", "conv_last"}
    assert config_from_name("msrresnet-4-16", 3) == MSRResNetConfig(num_block=4, num_feat=16,
                                                                     scale=3)

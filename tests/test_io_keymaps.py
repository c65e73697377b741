"""Foreign -> native parameter names, on key names as the public code writes them."""

import pytest

from srprune.io.import_keymaps import (
    basicsr_key,
    edsr_pytorch_body_conv_index,
    edsr_pytorch_key,
    guess_source,
    is_spynet_only,
    mmagic_key,
    native_key,
    strip_prefix,
)


@pytest.mark.parametrize("foreign, native", [
    ("backward_resblocks.main.0.weight", "backward_trunk.main.0.weight"),
    ("backward_resblocks.main.2.29.conv2.bias", "backward_trunk.main.2.29.conv2.bias"),
    ("forward_resblocks.main.2.0.conv1.weight", "forward_trunk.main.2.0.conv1.weight"),
    ("upsample1.upsample_conv.weight", "upconv1.weight"),
    ("upsample2.upsample_conv.bias", "upconv2.bias"),
    ("fusion.weight", "fusion.weight"),
    ("conv_hr.bias", "conv_hr.bias"),
    ("conv_last.weight", "conv_last.weight"),
    ("spynet.mean", "spynet.mean"),
    ("spynet.basic_module.0.basic_module.0.conv.weight",
     "spynet.basic_module.0.basic_module.0.weight"),
    ("spynet.basic_module.3.basic_module.2.conv.bias", "spynet.basic_module.3.basic_module.4.bias"),
    ("spynet.basic_module.5.basic_module.4.conv.weight",
     "spynet.basic_module.5.basic_module.8.weight"),
    # mmagic's standalone SPyNet
    ("basic_module.1.basic_module.1.conv.weight", "basic_module.1.basic_module.2.weight"),
    # not a ConvModule index (0..4): left alone, reported as unexpected later
    ("spynet.basic_module.1.basic_module.5.conv.weight",
     "spynet.basic_module.1.basic_module.5.conv.weight"),
])
def test_mmagic_key(foreign, native):
    assert mmagic_key(foreign) == native
    assert native_key("mmagic", foreign) == native


def test_mmagic_key_maps_every_spynet_conv_to_basicsr_index():
    got = [mmagic_key(f"spynet.basic_module.2.basic_module.{j}.conv.weight") for j in range(5)]
    assert got == [f"spynet.basic_module.2.basic_module.{i}.weight" for i in (0, 2, 4, 6, 8)]


@pytest.mark.parametrize("foreign, native", [
    ("head.0.weight", "conv_first.weight"),
    ("body.0.body.0.weight", "body.0.conv1.weight"),
    ("body.15.body.2.bias", "body.15.conv2.bias"),
    ("body.16.weight", "conv_after_body.weight"),
    ("body.16.bias", "conv_after_body.bias"),
    ("tail.0.0.weight", "upsample.0.weight"),
    ("tail.0.2.bias", "upsample.2.bias"),
    ("tail.1.weight", "conv_last.weight"),
    ("tail.1.bias", "conv_last.bias"),
    ("sub_mean.weight", None),
    ("sub_mean.bias", None),
    ("add_mean.weight", None),
    ("add_mean.bias", None),
    ("body.3.body.1.weight", "body.3.body.1.weight"),  # the ReLU slot has no weights
])
def test_edsr_pytorch_key(foreign, native):
    assert edsr_pytorch_key(foreign) == native
    assert native_key("edsr-pytorch", foreign) == native


def test_basicsr_is_identity_and_helpers():
    assert basicsr_key("spynet.basic_module.0.basic_module.8.bias") == \
        "spynet.basic_module.0.basic_module.8.bias"
    assert strip_prefix("module.module.conv_last.weight", "module.") == "conv_last.weight"
    assert strip_prefix("conv_last.weight", "module.") == "conv_last.weight"
    assert edsr_pytorch_body_conv_index(["body.0.body.0.weight", "body.2.weight", "body.2.bias"]) \
        == [2]
    with pytest.raises(ValueError):
        native_key("caffe", "x")


def test_spynet_only_and_source_guess():
    spy = [f"basic_module.{lvl}.basic_module.{j}.weight" for lvl in range(6) for j in (0, 2)]
    assert is_spynet_only(spy) and is_spynet_only([*spy, "mean", "std"])
    assert not is_spynet_only([*spy, "conv_last.weight"])
    assert not is_spynet_only(["mean", "std"])
    assert guess_source(["backward_resblocks.main.0.weight"]) == "mmagic"
    assert guess_source(["basic_module.0.basic_module.0.conv.weight"]) == "mmagic"
    assert guess_source(["generator.fusion.weight"]) == "mmagic"
    assert guess_source(["head.0.weight", "body.0.body.0.weight"]) == "edsr-pytorch"
    assert guess_source(["sub_mean.weight"]) == "edsr-pytorch"
    assert guess_source(["conv_first.weight", "body.0.conv1.weight"]) == "basicsr"
    assert guess_source(spy) == "basicsr"

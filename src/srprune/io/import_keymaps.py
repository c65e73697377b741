"""Foreign parameter names -> srprune's (BasicSR's) names: pure functions, one per source layout.

Verified against the public code that writes these checkpoints:

- BasicSR (``basicsr/archs/basicvsr_arch.py``, ``spynet_arch.py``, ``edsr_arch.py``): srprune's
  native layout, so the map is the identity.
- mmagic / mmediting (``mmagic/models/editors/basicvsr/basicvsr_net.py``): the trunks are
  ``backward_resblocks`` / ``forward_resblocks`` (same ``main.{0,2.i.conv1,2.i.conv2}`` inside),
  the upconvs are ``PixelShufflePack`` modules (``upsample{1,2}.upsample_conv``) and each SPyNet
  level is a Sequential of five ``ConvModule`` (``basic_module.{j}.conv.*``, j = 0..4, the ReLUs
  live inside the ConvModules) where BasicSR has ten entries with convs at 0, 2, 4, 6, 8.
- EDSR-PyTorch (``src/model/edsr.py``, ``common.py``): ``head.0`` conv, ``body.{i}.body.{0,2}``
  residual convs (ReLU at 1), ``body.{B}`` the plain conv closing the body, ``tail.0.{j}`` the
  pixel-shuffle upsampler (convs at even j), ``tail.1`` the last conv, and the ``sub_mean`` /
  ``add_mean`` MeanShift 1x1 convs, which carry no learned weights and become config fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SOURCES = ("basicsr", "mmagic", "edsr-pytorch")

_MMAGIC_PREFIXES = (
    ("backward_resblocks.", "backward_trunk."),
    ("forward_resblocks.", "forward_trunk."),
    ("upsample1.upsample_conv.", "upconv1."),
    ("upsample2.upsample_conv.", "upconv2."),
)
# ``[spynet.]basic_module.{level}.basic_module.{j}.conv.{weight,bias}``, j = 0..4.
_MMAGIC_SPYNET = re.compile(r"^((?:.+\.)?basic_module\.\d+\.basic_module\.)([0-4])\.conv\."
                            r"(weight|bias)$")

_EDSR_RESCONV = re.compile(r"^body\.(\d+)\.body\.([02])\.(weight|bias)$")
_EDSR_BODY_CONV = re.compile(r"^body\.(\d+)\.(weight|bias)$")
_EDSR_TAIL_UP = re.compile(r"^tail\.0\.(\d+)\.(weight|bias)$")
EDSR_MEANSHIFT = ("sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias")

_SPYNET_NATIVE = re.compile(r"^basic_module\.\d+\.basic_module\.\d+\.(weight|bias)$")


def strip_prefix(key: str, prefix: str) -> str:
    """``key`` without every leading repetition of ``prefix`` (``module.module.x`` -> ``x``)."""
    while prefix and key.startswith(prefix):
        key = key[len(prefix):]
    return key


def basicsr_key(key: str) -> str:
    """BasicSR names are srprune's names."""
    return key


def mmagic_key(key: str) -> str:
    """An mmagic generator key (``generator.`` already removed) -> the native key.

    Examples:
        ``backward_resblocks.main.2.3.conv1.weight`` -> ``backward_trunk.main.2.3.conv1.weight``;
        ``upsample1.upsample_conv.bias`` -> ``upconv1.bias``;
        ``spynet.basic_module.5.basic_module.4.conv.weight``
        -> ``spynet.basic_module.5.basic_module.8.weight`` (also without ``spynet.``).
    """
    for old, new in _MMAGIC_PREFIXES:
        if key.startswith(old):
            return new + key[len(old):]
    m = _MMAGIC_SPYNET.match(key)
    if m:
        return f"{m[1]}{2 * int(m[2])}.{m[3]}"
    return key


def edsr_pytorch_key(key: str) -> str | None:
    """An EDSR-PyTorch key -> the native key, or None for the MeanShift tensors.

    ``body.{i}.{weight,bias}`` (a conv directly in the body, which EDSR-PyTorch has only as the
    last body entry) maps to ``conv_after_body``; the importer checks that its index is the last.
    Keys that fit no rule come back unchanged (and are then reported as unexpected).
    """
    if key in EDSR_MEANSHIFT:
        return None
    if key.startswith("head.0."):
        return "conv_first." + key[len("head.0."):]
    m = _EDSR_RESCONV.match(key)
    if m:
        return f"body.{m[1]}.conv{1 if m[2] == '0' else 2}.{m[3]}"
    m = _EDSR_BODY_CONV.match(key)
    if m:
        return f"conv_after_body.{m[2]}"
    m = _EDSR_TAIL_UP.match(key)
    if m:
        return f"upsample.{m[1]}.{m[2]}"
    if key.startswith("tail.1."):
        return "conv_last." + key[len("tail.1."):]
    return key


def edsr_pytorch_body_conv_index(keys: Iterable[str]) -> list[int]:
    """Indices ``i`` of the plain ``body.{i}`` convs in an EDSR-PyTorch state dict."""
    return sorted({int(m[1]) for k in keys if (m := _EDSR_BODY_CONV.match(k))})


def native_key(source: str, key: str) -> str | None:
    """Dispatch to the map of ``source``; None means the tensor is consumed elsewhere."""
    if source == "basicsr":
        return basicsr_key(key)
    if source == "mmagic":
        return mmagic_key(key)
    if source == "edsr-pytorch":
        return edsr_pytorch_key(key)
    raise ValueError(f"unknown source {source!r}")


def is_spynet_only(keys: Iterable[str]) -> bool:
    """True when native ``keys`` are those of a bare SPyNet (levels plus optional mean/std)."""
    keys = list(keys)
    return bool(keys) and any(_SPYNET_NATIVE.match(k) for k in keys) and all(
        _SPYNET_NATIVE.match(k) or k in ("mean", "std") for k in keys)


def guess_source(keys: Iterable[str]) -> str:
    """The layout a bare state dict most likely follows, from its (prefix-free) key names."""
    keys = list(keys)
    if any(k.startswith("generator.") for k in keys) or any(
            k.startswith(("backward_resblocks.", "forward_resblocks.", "upsample1.upsample_conv."))
            or _MMAGIC_SPYNET.match(k) for k in keys):
        return "mmagic"
    if any(k in EDSR_MEANSHIFT or k.startswith(("head.0.", "tail.0.")) or _EDSR_RESCONV.match(k)
           for k in keys):
        return "edsr-pytorch"
    return "basicsr"

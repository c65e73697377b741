"""Importing EDSR checkpoints (BasicSR, EDSR-PyTorch): the EDSR family's
:class:`~srprune.models.import_spec.ArchImporter`.

EDSR-PyTorch (``src/model/edsr.py``, ``common.py``): ``head.0`` conv, ``body.{i}.body.{0,2}``
residual convs (ReLU at 1), ``body.{B}`` the plain conv closing the body, ``tail.0.{j}`` the
pixel-shuffle upsampler (convs at even j), ``tail.1`` the last conv, and the ``sub_mean`` /
``add_mean`` MeanShift 1x1 convs, which carry no learned weights and become config fields
(``img_range``, ``rgb_mean``). BasicSR (``basicsr/archs/edsr_arch.py``) is srprune's own layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from srprune.errors import UserError
from srprune.models.import_spec import (
    ArchImporter,
    ImportContext,
    ImportOption,
    feat_and_blocks,
    max_index,
    shape_str,
)

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
_EDSR_RESCONV = re.compile(r"^body\.(\d+)\.body\.([02])\.(weight|bias)$")
_EDSR_BODY_CONV = re.compile(r"^body\.(\d+)\.(weight|bias)$")
_EDSR_TAIL_UP = re.compile(r"^tail\.0\.(\d+)\.(weight|bias)$")
EDSR_MEANSHIFT = ("sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias")
# The EDSR paper's large model (32 blocks x 256) and its published weights use res_scale 0.1.
_EDSR_PAPER_LARGE = (256, 32)


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


def looks_edsr_pytorch(keys: Sequence[str]) -> bool:
    """Foreign keys in EDSR-PyTorch's names."""
    return any(k in EDSR_MEANSHIFT or k.startswith(("head.0.", "tail.0.")) or _EDSR_RESCONV.match(k)
               for k in keys)


def detect(keys: Sequence[str]) -> bool:
    """``conv_first``, ``conv_after_body`` or a ``body``."""
    return any(k.startswith(("conv_first.", "conv_after_body.", "body.")) for k in keys)


def _scale(ctx: ImportContext, num_feat: int) -> int:
    convs = sorted((int(m[1]), ctx.state[k]) for k in ctx.state
                   if (m := re.fullmatch(r"upsample\.(\d+)\.weight", k)))
    outs = [int(w.shape[0]) for _, w in convs]
    if outs == [9 * num_feat]:
        return 3
    if outs and all(o == 4 * num_feat for o in outs):
        return 2 ** len(outs)
    shapes = ", ".join(f"upsample.{i}.weight {shape_str(w)}" for i, w in convs) or "none"
    raise UserError(f"{ctx.path}: cannot infer the scale from the upsampler convs ({shapes}); "
                    f"expected one conv of {9 * num_feat} filters (x3) or convs of "
                    f"{4 * num_feat} filters (x2 each) for num_feat {num_feat}")


def _meanshift_tensors(ctx: ImportContext) -> tuple[torch.Tensor, ...] | None:
    """(sub weight, add weight, sub bias, add bias) in float64, checked; None when absent."""
    raw, path = ctx.raw, ctx.path
    present = [k for k in EDSR_MEANSHIFT if k in raw]
    if not present:
        return None
    if len(present) != len(EDSR_MEANSHIFT):
        missing = [k for k in EDSR_MEANSHIFT if k not in raw]
        raise UserError(f"{path} has an incomplete MeanShift: missing {', '.join(missing)}")
    sub_w, add_w = (raw[f"{n}.weight"].double() for n in ("sub_mean", "add_mean"))
    sub_b, add_b = (raw[f"{n}.bias"].double() for n in ("sub_mean", "add_mean"))
    if sub_w.shape != (3, 3, 1, 1) or add_w.shape != (3, 3, 1, 1) or sub_b.shape != (3,) \
            or add_b.shape != (3,):
        raise UserError(f"{path}: MeanShift tensors have unexpected shapes "
                        f"(sub_mean.weight {shape_str(sub_w)}, sub_mean.bias {shape_str(sub_b)})")
    eye = torch.eye(3, dtype=torch.float64)
    for name, w in (("sub_mean", sub_w), ("add_mean", add_w)):
        if not torch.allclose(w.view(3, 3), eye, atol=1e-6, rtol=0):
            raise UserError(f"{path}: {name}.weight is not the identity (rgb_std != 1); "
                            "srprune's EDSR supports rgb_std = (1, 1, 1) only")
    if not torch.allclose(add_b, -sub_b, rtol=1e-5, atol=1e-6):
        raise UserError(f"{path}: add_mean.bias {add_b.tolist()} is not the negative of "
                        f"sub_mean.bias {sub_b.tolist()}")
    return sub_w, add_w, sub_b, add_b


def meanshift(ctx: ImportContext) -> dict[str, Any]:
    """``img_range`` and ``rgb_mean`` from EDSR-PyTorch's MeanShift convs.

    EDSR-PyTorch builds ``sub_mean`` with weight I/std and bias -rgb_range*mean/std and
    ``add_mean`` with +rgb_range*mean/std. srprune's EDSR needs std = 1. Only the product
    rgb_range*mean is stored, so rgb_range is taken from the ``rgb_range`` option or, when not
    given, from the bias magnitude (255 when any |bias| > 1, else 1), and mean = -bias / rgb_range.
    """
    rgb_range = ctx.options.get("rgb_range")
    tensors = _meanshift_tensors(ctx)
    if tensors is None:
        img_range = float(rgb_range or 255.0)
        ctx.notes.append(f"The checkpoint has no MeanShift tensors: assumed rgb_range "
                         f"{img_range:g} and the DIV2K mean.")
        return {"img_range": img_range, "rgb_mean": DIV2K_RGB_MEAN}
    sub_b = tensors[2]
    if rgb_range is None:
        rgb_range = 255.0 if float(sub_b.abs().max()) > 1.0 else 1.0
        ctx.notes.append(f"rgb_range {rgb_range:g} inferred from the MeanShift bias (override "
                         "with --rgb-range).")
    mean = (-sub_b / rgb_range).tolist()
    if not all(0.0 <= m <= 1.0 for m in mean):
        raise UserError(f"{ctx.path}: MeanShift gives an RGB mean {mean} outside [0, 1] for "
                        f"rgb_range {rgb_range:g}; pass the right --rgb-range")
    if all(abs(m - d) < 1e-6 for m, d in zip(mean, DIV2K_RGB_MEAN, strict=True)):
        rgb_mean = DIV2K_RGB_MEAN  # float32 rounding of the standard DIV2K mean
    else:
        rgb_mean = tuple(float(np.format_float_positional(np.float32(m), unique=True))
                         for m in mean)
        ctx.notes.append(f"RGB mean {rgb_mean} taken from the MeanShift bias.")
    return {"img_range": float(rgb_range), "rgb_mean": rgb_mean}


def _check_body_conv(ctx: ImportContext) -> None:
    """EDSR-PyTorch's plain body conv must be the single, last body entry."""
    body_convs = edsr_pytorch_body_conv_index(ctx.raw)
    last = max_index(list(ctx.raw), r"^body\.(\d+)\.body\.")
    if len(body_convs) > 1 or (body_convs and last is not None and body_convs[0] <= last):
        convs = ", ".join(f"body.{i}" for i in body_convs)
        raise UserError(f"{ctx.path}: the plain body conv ({convs}) must be the single, last "
                        "body entry of an EDSR-PyTorch model")


def infer_config(ctx: ImportContext) -> dict[str, Any]:
    """C from ``conv_first``, B by counting blocks, scale from the upsampler; ``img_range`` and
    ``rgb_mean`` from EDSR-PyTorch's MeanShift (else ``rgb_range`` or 255 and the DIV2K mean);
    ``res_scale`` as stated (1, or 0.1 for the paper's 32 x 256 model)."""
    rgb_range = ctx.options.get("rgb_range")
    shift: dict[str, Any] = {"img_range": float(rgb_range or 255.0), "rgb_mean": DIV2K_RGB_MEAN}
    if ctx.source == "edsr-pytorch":
        _check_body_conv(ctx)
        shift = meanshift(ctx)
    fields = feat_and_blocks(ctx, [("conv_first.weight", 0), ("conv_after_body.weight", 0),
                                   ("conv_last.weight", 1)])
    scale = _scale(ctx, fields["num_feat"])
    res_scale = ctx.options.get("res_scale")
    if res_scale is None:
        res_scale = 1.0
        if (fields["num_feat"], fields["num_block"]) == _EDSR_PAPER_LARGE:
            res_scale = 0.1
            ctx.notes.append("res_scale 0.1 assumed for the EDSR paper's 32 x 256 model (it has "
                             "no weights; override with --res-scale).")
    return {**fields, "scale": scale, "res_scale": float(res_scale),
            "img_range": float(shift["img_range"]),
            "rgb_mean": tuple(float(m) for m in shift["rgb_mean"])}


IMPORTER = ArchImporter(
    key_maps={"edsr-pytorch": edsr_pytorch_key},
    detect=detect,
    infer_config=infer_config,
    priority=30,
    source_hints={"edsr-pytorch": looks_edsr_pytorch},
    options=(ImportOption("res_scale", "--res-scale", ("float", (0.0, 10.0, True)),
                          "EDSR residual scaling",
                          "EDSR residual scaling (default 1; 0.1 for the paper's 32x256 model)"),
             ImportOption("rgb_range", "--rgb-range", ("float", (0.0, 65535.0, True)),
                          "EDSR pixel range",
                          "EDSR pixel range (default: from EDSR-PyTorch's MeanShift, else 255)")),
)
"""The EDSR family's importer (``@register_arch(importer=...)`` in edsr.py)."""

"""Importing SRVGGNetCompact checkpoints (BasicSR / Real-ESRGAN's ``realesr-*`` files): the SRVGG
family's :class:`~srprune.models.import_spec.ArchImporter`.

BasicSR's names are srprune's: ``body.{i}.weight`` / ``.bias`` for the convs (even i) and a
PReLU's slopes ``body.{i}.weight`` (odd i, one per channel); ReLU and LeakyReLU carry no weights,
so a file without slopes has convs at 0, 2, 4, ... only. Detection follows spandrel's "RealESRGAN
Compact" (``body.0.weight`` with ``body.1.weight``) and also takes the slope-free files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from srprune.errors import UserError
from srprune.models.import_spec import ArchImporter, ImportContext, ImportOption, shape_str

_BODY = re.compile(r"^body\.(\d+)\.(weight|bias)$")
NO_SLOPES_DEFAULT = "lrelu"
"""The activation of a file without PReLU slopes unless ``--act`` says ``relu``."""


def detect(keys: Sequence[str]) -> bool:
    """Only ``body.{i}.weight/bias`` keys, ``body.0.weight`` among them (an EDSR also has a
    ``body`` but with ``conv_first`` and ``body.N.conv1`` beside it)."""
    return "body.0.weight" in keys and all(_BODY.match(k) for k in keys)


def infer_config(ctx: ImportContext) -> dict[str, Any]:
    """F from ``body.0``, the convs (4-D weights at even indices 0, 2, ..., 2 N + 2) give
    ``num_conv`` N, the last conv's 3 s^2 filters the scale, PReLU slopes the activation."""
    weights = {int(m[1]): t for k, t in ctx.state.items()
               if (m := _BODY.match(k)) and m[2] == "weight"}
    convs = sorted(i for i, t in weights.items() if t.dim() == 4)
    if convs != list(range(0, 2 * len(convs), 2)) or len(convs) < 2:
        raise UserError(f"{ctx.path}: SRVGGNetCompact convs sit at body.0, body.2, ... up to the "
                        f"last; found convs at {', '.join(f'body.{i}' for i in convs)}")
    first, last = weights[0], weights[convs[-1]]
    if first.shape[1] != 3 or last.shape[0] % 3:
        raise UserError(f"{ctx.path}: body.0.weight {shape_str(first)} and body.{convs[-1]}."
                        f"weight {shape_str(last)}: srprune's SRVGGNetCompact reads and writes "
                        "RGB (3 input channels, 3 s^2 output channels)")
    scale = {1: 1, 4: 2, 9: 3, 16: 4}.get(last.shape[0] // 3)
    if scale is None:
        raise UserError(f"{ctx.path}: the last conv body.{convs[-1]} writes {last.shape[0]} "
                        "channels; an SRVGGNetCompact writes 3 s^2 for a scale s of 1 to 4")
    slopes = any(t.dim() == 1 for t in weights.values())
    act = _act(ctx, slopes)
    return {"num_feat": ctx.pinned.get("num_feat") or int(first.shape[0]),
            "num_conv": ctx.pinned.get("num_conv") or len(convs) - 2, "scale": scale, "act": act}


def _act(ctx: ImportContext, slopes: bool) -> str:
    given = ctx.options.get("act")
    if slopes:
        if given is not None:
            raise UserError(f"{ctx.path} holds PReLU slopes: its activation is prelu, not "
                            f"--act {given}")
        return "prelu"
    act = given or NO_SLOPES_DEFAULT
    ctx.notes.append(f"No PReLU slopes: activation {act} "
                     + ("as stated." if given else "assumed (ReLU and LeakyReLU carry no weights; "
                                                   "pass --act relu for a ReLU model)."))
    return act


IMPORTER = ArchImporter(
    key_maps={},
    detect=detect,
    infer_config=infer_config,
    priority=25,
    options=(ImportOption("act", "--act", ("choice", ("lrelu", "relu")), "the activation",
                          "activation of a BasicVSR (default lrelu; relu for the official SSL "
                          "code) or of an SRVGGNetCompact without PReLU slopes"),),
)
"""The SRVGG family's importer (``@register_arch(importer=...)`` in srvgg.py)."""

"""Importing RRDBNet checkpoints (BasicSR, Real-ESRGAN's ``RealESRGAN_x4plus`` / ``x2plus`` /
``anime_6B``, and the original ESRGAN repository's ``model.*`` layout): the RRDBNet family's
:class:`~srprune.models.import_spec.ArchImporter`.

BasicSR's names are srprune's. The original ESRGAN code (``RRDBNet_arch.py`` of xinntao/ESRGAN's
first release; spandrel's "old arch") is one ``model`` Sequential: ``model.0`` conv_first,
``model.1.sub.{N}.RDB{k}.conv{j}.0`` the dense convs, ``model.1.sub.{B}`` conv_body, then per
x2 upsampling an ``Upsample`` / conv / LeakyReLU triple (convs ``model.3``, ``model.6``),
``model.8`` conv_hr and ``model.10`` conv_last: the same network as BasicSR's x4, so those files
import by renaming. Files of that layout with another number of upsampling stages, BSRGAN /
RealSR's ``RRDB_trunk`` names and ESRGAN+ (``conv1x1`` inside the dense blocks) are refused in
one line naming the layout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from srprune.errors import UserError
from srprune.models.import_spec import ArchImporter, ImportContext, count_blocks, shape_str

_LEGACY_DENSE = re.compile(r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$")
_LEGACY_TRUNK = re.compile(r"^model\.1\.sub\.(\d+)\.(weight|bias)$")
_LEGACY_PLAIN = re.compile(r"^model\.(\d+)\.(weight|bias)$")
_LEGACY_X4 = {0: "conv_first", 3: "conv_up1", 6: "conv_up2", 8: "conv_hr", 10: "conv_last"}
IN_CHANNELS_SCALE = {3: 4, 12: 2, 48: 1}
"""conv_first's input channels -> scale (x2 and x1 pixel-unshuffle the RGB input)."""


def legacy_esrgan_key(key: str) -> str:
    """An original-ESRGAN (``model.*``) key -> the native key; other keys unchanged."""
    m = _LEGACY_DENSE.match(key)
    if m:
        return f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"
    m = _LEGACY_TRUNK.match(key)
    if m:
        return f"conv_body.{m[2]}"
    m = _LEGACY_PLAIN.match(key)
    if m and int(m[1]) in _LEGACY_X4:
        return f"{_LEGACY_X4[int(m[1])]}.{m[2]}"
    return key


def detect(keys: Sequence[str]) -> bool:
    """A dense block (``body.0.rdb1.conv1``, also after the legacy renaming) or the BSRGAN /
    RealSR trunk (``RRDB_trunk.0.RDB1.conv1``), which is then refused by name."""
    return "body.0.rdb1.conv1.weight" in keys or "RRDB_trunk.0.RDB1.conv1.weight" in keys


def _refuse_other_layouts(ctx: ImportContext) -> None:
    raw = list(ctx.raw)
    if any(k.startswith(("RRDB_trunk.", "trunk_conv.", "HRconv.")) for k in raw):
        raise UserError(f"{ctx.path} is in BSRGAN / RealSR's RRDBNet layout (RRDB_trunk, "
                        "trunk_conv, upconv1/2, HRconv); srprune imports BasicSR's names "
                        "(body.N.rdbK, conv_body, conv_up1/2, conv_hr) and the original "
                        "ESRGAN model.* layout")
    if any(".conv1x1." in k for k in raw):
        raise UserError(f"{ctx.path} is an ESRGAN+ model (conv1x1 inside its dense blocks); "
                        "srprune's RRDBNet is ESRGAN's / Real-ESRGAN's")
    plain = sorted({int(m[1]) for k in raw if (m := _LEGACY_PLAIN.match(k))})
    if plain and plain != sorted(_LEGACY_X4):
        ups = (max(plain) - 4) // 3
        listed = ", ".join(f"model.{i}" for i in plain)
        raise UserError(f"{ctx.path} is in the original ESRGAN model.* layout with {ups} "
                        f"upsampling stage{'s' if ups != 1 else ''} ({listed}); srprune reads "
                        "that layout at x4 (two stages), as BasicSR's RRDBNet")
    if plain:
        ctx.notes.append("Read the original ESRGAN model.* layout as BasicSR's RRDBNet x4.")


def infer_config(ctx: ImportContext) -> dict[str, Any]:
    """C and the scale from ``conv_first`` (3, 12 or 48 input channels: x4, x2, x1), the growth
    from ``conv1`` of the first dense block, the blocks by counting."""
    _refuse_other_layouts(ctx)
    first = ctx.state.get("conv_first.weight")
    if first is None or first.dim() != 4:
        raise UserError(f"{ctx.path}: an RRDBNet checkpoint needs conv_first.weight")
    scale = IN_CHANNELS_SCALE.get(int(first.shape[1]))
    if scale is None:
        raise UserError(f"{ctx.path}: conv_first.weight {shape_str(first)} reads "
                        f"{first.shape[1]} channels; an RRDBNet reads 3 (x4), 12 (x2) or 48 (x1)")
    pinned = ctx.pinned.get("scale")
    if pinned is not None and pinned != scale:
        raise UserError(f"{ctx.path} is an x{scale} RRDBNet (conv_first reads "
                        f"{first.shape[1]} channels), not x{pinned}")
    grow = ctx.state["body.0.rdb1.conv1.weight"]
    return {"num_feat": ctx.pinned.get("num_feat") or int(first.shape[0]),
            "num_block": ctx.pinned.get("num_block")
            or count_blocks(list(ctx.state), r"^body\.(\d+)\.rdb1\."),
            "num_grow_ch": int(grow.shape[0]), "scale": scale}


IMPORTER = ArchImporter(
    key_maps={"basicsr": legacy_esrgan_key},
    detect=detect,
    infer_config=infer_config,
    priority=15,
)
"""The RRDBNet family's importer (``@register_arch(importer=...)`` in rrdbnet.py)."""

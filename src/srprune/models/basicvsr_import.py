"""Importing BasicVSR checkpoints (BasicSR, mmagic) and SPyNet-only files: the BasicVSR
family's :class:`~srprune.models.import_spec.ArchImporter`.

mmagic / mmediting (``mmagic/models/editors/basicvsr/basicvsr_net.py``): the trunks are
``backward_resblocks`` / ``forward_resblocks`` (same ``main.{0,2.i.conv1,2.i.conv2}`` inside), the
upconvs are ``PixelShufflePack`` modules (``upsample{1,2}.upsample_conv``) and each SPyNet level
is a Sequential of five ``ConvModule`` (``basic_module.{j}.conv.*``, j = 0..4, the ReLUs live
inside the ConvModules) where BasicSR has ten entries with convs at 0, 2, 4, 6, 8. BasicSR
(``basicsr/archs/basicvsr_arch.py``, ``spynet_arch.py``) is srprune's own layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from srprune.models.blocks import ACTIVATIONS
from srprune.models.import_spec import (
    ArchImporter,
    ImportContext,
    ImportOption,
    PartialImport,
    count_blocks,
    first_dim,
)
from srprune.models.spynet import SpyNet

_MMAGIC_PREFIXES = (
    ("backward_resblocks.", "backward_trunk."),
    ("forward_resblocks.", "forward_trunk."),
    ("upsample1.upsample_conv.", "upconv1."),
    ("upsample2.upsample_conv.", "upconv2."),
)
# ``[spynet.]basic_module.{level}.basic_module.{j}.conv.{weight,bias}``, j = 0..4.
MMAGIC_SPYNET = re.compile(r"^((?:.+\.)?basic_module\.\d+\.basic_module\.)([0-4])\.conv\."
                           r"(weight|bias)$")
_SPYNET_NATIVE = re.compile(r"^basic_module\.\d+\.basic_module\.\d+\.(weight|bias)$")
_TRUNKS = ("forward_trunk.", "backward_trunk.")


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
    m = MMAGIC_SPYNET.match(key)
    if m:
        return f"{m[1]}{2 * int(m[2])}.{m[3]}"
    return key


def looks_mmagic(keys: Sequence[str]) -> bool:
    """Foreign keys in mmagic's BasicVSR / SPyNet names."""
    return any(k.startswith(("backward_resblocks.", "forward_resblocks.",
                             "upsample1.upsample_conv.")) or MMAGIC_SPYNET.match(k) for k in keys)


def is_spynet_only(keys: Iterable[str]) -> bool:
    """True when native ``keys`` are those of a bare SPyNet (levels plus optional mean/std)."""
    keys = list(keys)
    return bool(keys) and any(_SPYNET_NATIVE.match(k) for k in keys) and all(
        _SPYNET_NATIVE.match(k) or k in ("mean", "std") for k in keys)


def detect(keys: Sequence[str]) -> bool:
    """A trunk, or ``upconv1`` without the ``conv_first`` a BasicVSR does not have."""
    return any(k.startswith(_TRUNKS) for k in keys) or (
        any(k.startswith("upconv1.") for k in keys)
        and not any(k.startswith("conv_first.") for k in keys))


def _act(ctx: ImportContext) -> str:
    return ctx.options.get("act") or "lrelu"


def infer_config(ctx: ImportContext) -> dict[str, Any]:
    """C from ``forward_trunk.main.0``, B by counting blocks, bidirectional = a backward trunk
    exists, recon_feat from ``conv_hr`` (``--arch`` pins may fix the first three)."""
    keys = list(ctx.state)
    bidirectional = ctx.pinned.get("bidirectional")
    if bidirectional is None:
        bidirectional = any(k.startswith("backward_trunk.") for k in keys)
    num_feat = ctx.pinned.get("num_feat") or first_dim(ctx, "num_feat", [
        ("forward_trunk.main.0.weight", 0), ("backward_trunk.main.0.weight", 0),
        ("fusion.weight", 0), ("upconv1.weight", 1)])
    num_block = ctx.pinned.get("num_block")
    if num_block is None:
        num_block = count_blocks(keys, r"^(?:forward|backward)_trunk\.main\.2\.(\d+)\.")
    recon_feat = 64
    if "conv_hr.weight" in ctx.state:
        recon_feat = int(ctx.state["conv_hr.weight"].shape[0])
    elif "upconv2.weight" in ctx.state:
        recon_feat = int(ctx.state["upconv2.weight"].shape[0]) // 4
    return {"num_feat": num_feat, "num_block": num_block, "bidirectional": bidirectional,
            "act": _act(ctx), "recon_feat": recon_feat}


def fill_spynet_buffers(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor],
                        prefix: str, notes: list[str]) -> int:
    """SPyNet's ImageNet mean/std are constants BasicSR's SPyNet files leave out: fill them.

    Returns the number of tensors filled in.
    """
    if not any(k.startswith(prefix) for k in state):
        return 0
    filled = [prefix + b for b in ("mean", "std") if prefix + b not in state]
    for k in filled:
        state[k] = expected[k].clone()
    if filled:
        notes.append(f"Filled the SPyNet buffers {' and '.join(filled)} with the ImageNet "
                     "defaults (absent from the checkpoint).")
    return len(filled)


def finish(ctx: ImportContext, expected: dict[str, torch.Tensor]) -> int:
    """Fill SPyNet's buffers; state the activation (it carries no weights)."""
    filled = fill_spynet_buffers(ctx.state, expected, "spynet.", ctx.notes)
    ctx.notes.insert(0, "Activation lrelu by default: activations carry no weights, so pass "
                        "--act relu for checkpoints of the official SSL code."
                     if _act(ctx) == "lrelu" else
                     "Activation relu as stated (activations carry no weights).")
    return filled


def spynet_config(ctx: ImportContext) -> dict[str, Any]:
    """A BasicVSR around an imported SPyNet: the ``--arch`` sizes, else the defaults,
    bidirectional unless ``-uni``."""
    fields: dict[str, Any] = {k: v for k, v in ctx.pinned.items() if v is not None}
    fields.setdefault("bidirectional", True)
    return {**fields, "act": _act(ctx)}


IMPORTER = ArchImporter(
    key_maps={"mmagic": mmagic_key},
    detect=detect,
    infer_config=infer_config,
    priority=10,
    source_hints={"mmagic": looks_mmagic},
    options=(ImportOption("act", "--act", ("choice", ACTIVATIONS), "the BasicVSR activation",
                          "BasicVSR activation (default lrelu; relu for the official SSL code)"),),
    finish=finish,
    partial=PartialImport(
        name="spynet", title="SPyNet", prefix="spynet.", module_cls=SpyNet,
        detect=is_spynet_only,
        hint="pass --arch basicvsr[-uni][-C-B] to start a BasicVSR from them, or import it with "
             "--spynet",
        config=spynet_config, fill=fill_spynet_buffers),
)
"""The BasicVSR family's importer (``@register_arch(importer=...)`` in basicvsr.py)."""

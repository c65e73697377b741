"""Importing BasicVSR++ checkpoints (BasicSR, mmagic): the family's
:class:`~srprune.models.import_spec.ArchImporter`.

BasicSR (``basicsr/archs/basicvsrpp_arch.py``) is srprune's own layout. mmagic's
``BasicVSRPlusPlusNet`` (``mmagic/models/editors/basicvsr_plusplus_net/``) has the same tensors
under the same names except its upconvs, ``PixelShufflePack`` modules
(``upsample{1,2}.upsample_conv``), and its SPyNet levels (``basic_module.{j}.conv``, j = 0..4):
BasicVSR's mmagic map renames both. BasicSR files hold ``params`` (or ``params_ema``), mmagic
files a ``state_dict`` with a ``generator.`` prefix; the driver unwraps both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from srprune.models.basicvsr_import import fill_spynet_buffers, looks_mmagic, mmagic_key
from srprune.models.import_spec import ArchImporter, ImportContext, count_blocks, first_dim

_BRANCH = r"^backbone\.backward_1\.main\.2\.(\d+)\."


def detect(keys: Sequence[str]) -> bool:
    """A deformable alignment or a first backward branch (before BasicVSR's ``upconv1`` rule)."""
    return any(k.startswith(("deform_align.", "backbone.backward_1.")) for k in keys)


def infer_config(ctx: ImportContext) -> dict[str, Any]:
    """C from ``feat_extract.main.0``, blocks per branch and of ``feat_extract`` by counting,
    deformable groups from the last offset conv (27 G filters), ``recon_feat`` from ``conv_hr``
    and SPyNet's width from its first conv (``--arch`` may pin C and the blocks)."""
    keys = list(ctx.state)
    num_feat = ctx.pinned.get("num_feat") or first_dim(ctx, "num_feat", [
        ("feat_extract.main.0.weight", 0), ("upconv1.weight", 1)])
    num_block = ctx.pinned.get("num_block")
    if num_block is None:
        num_block = count_blocks(keys, _BRANCH)
    fields: dict[str, Any] = {
        "num_feat": num_feat, "num_block": num_block,
        "extract_block": count_blocks(keys, r"^feat_extract\.main\.2\.(\d+)\."),
        "deform_groups": first_dim(ctx, "deform_groups", [
            ("deform_align.backward_1.conv_offset.6.weight", 0)]) // 27,
        "recon_feat": first_dim(ctx, "recon_feat", [("conv_hr.weight", 0)])}
    flow = ctx.state.get("spynet.basic_module.0.basic_module.0.weight")
    if flow is not None:
        fields["flow_feat"] = int(flow.shape[0])
    return fields


def finish(ctx: ImportContext, expected: dict[str, torch.Tensor]) -> int:
    """Fill SPyNet's constant buffers if absent; state the offset bound (not in the weights)."""
    ctx.notes.append("max_residue_magnitude 10 (BasicVSR++'s; offsets carry no record of it).")
    return fill_spynet_buffers(ctx.state, expected, "spynet.", ctx.notes)


IMPORTER = ArchImporter(
    key_maps={"mmagic": mmagic_key},
    detect=detect,
    infer_config=infer_config,
    priority=5,
    source_hints={"mmagic": looks_mmagic},
    finish=finish,
)
"""The BasicVSR++ family's importer (``@register_arch(importer=...)`` in basicvsrpp.py)."""

"""What an architecture tells the checkpoint importer: key maps, detection, shape inference.

An :class:`ArchImporter` is the ``importer=`` of a :class:`~srprune.models.spec.ModelSpec`. The
generic driver (:func:`srprune.io.importers.import_checkpoint`) reads and unwraps a file, renames
its keys through every family's ``key_maps[source]``, asks the families' ``detect`` in ``priority``
order which one it is, builds ``config_cls(**infer_config(ctx))``, then ``finish`` and a strict
key/shape check. Everything here is a pure function over names and tensors: no file access, no
import of ``srprune.io``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from srprune.errors import UserError
from srprune.models.spec import Bound

KeyMap = Callable[[str], "str | None"]
"""A foreign (prefix-free) key -> the native key; the key itself when the map does not apply;
None for a tensor the importer consumes itself (EDSR-PyTorch's MeanShift)."""


@dataclass
class ImportContext:
    """What the driver hands an importer's functions.

    Attributes:
        path: the checkpoint (for messages).
        source: its layout, ``basicsr``, ``mmagic`` or ``edsr-pytorch``.
        state: native-named tensors (after the key maps).
        raw: prefix-free tensors as named in the file (consumed ones included).
        pinned: config fields the ``--arch`` name fixes (empty when inferred).
        options: the family's import options (:class:`ImportOption`), None when not given.
        notes: assumptions the import made, for the report (append to it).
    """

    path: Path
    source: str
    state: dict[str, torch.Tensor]
    raw: dict[str, torch.Tensor]
    pinned: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportOption:
    """A statement about a checkpoint that its weights do not carry (``--act``, ``--res-scale``).

    Attributes:
        name: keyword of :func:`~srprune.io.importers.import_checkpoint` (``res_scale``).
        flag: the ``srprune convert`` flag (``--res-scale``).
        bound: its values, as a config bound (``("float", (0.0, 10.0, True))``).
        what: what it is, for messages (``EDSR residual scaling``).
        help: one line for ``--help``.
    """

    name: str
    flag: str
    bound: Bound
    what: str
    help: str


@dataclass(frozen=True)
class PartialImport:
    """A file holding only one sub-module of the family (BasicVSR: a SPyNet).

    Attributes:
        name: what :func:`~srprune.io.importers.detect_family` answers (``spynet``).
        title: its display name (``SPyNet``).
        prefix: its parameters' prefix in the full model (``spynet.``).
        module_cls: the sub-module's class (``load_spynet_into`` targets).
        detect: native keys -> True for such a file.
        hint: what to do instead, when no ``--arch`` names the family.
        config: ``ctx -> config fields`` of the full model (from ``ctx.pinned`` and defaults).
        fill: ``(state, expected, prefix, notes) -> count``: fill constant buffers the files
            leave out (before the strict check); None when nothing is filled.
    """

    name: str
    title: str
    prefix: str
    module_cls: type
    detect: Callable[[Sequence[str]], bool]
    hint: str
    config: Callable[[ImportContext], dict[str, Any]]
    fill: Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor], str, list[str]], int] | \
        None = None


@dataclass(frozen=True)
class ArchImporter:
    """How foreign checkpoints of one family import.

    Attributes:
        key_maps: source (``mmagic``, ``edsr-pytorch``) -> :data:`KeyMap`; a source without one
            (BasicSR: srprune's own names) keeps the names.
        detect: native keys -> True when they are this family's (no ``--arch``).
        infer_config: ``ctx -> config fields`` from the tensor shapes and ``ctx.pinned`` (raise
            UserError naming what cannot be inferred).
        priority: detectors run in increasing priority; a more specific family (RRDBNet before
            EDSR, which both have ``conv_first``) takes a lower number.
        source_hints: source -> foreign keys -> True when a bare state dict looks written by that
            tool for this family (``auto`` source detection).
        options: statements the family accepts (:class:`ImportOption`).
        finish: ``(ctx, expected) -> count`` after the model is built and before the strict
            check: fill constant buffers, add notes; returns the tensors filled in.
        partial: a sub-module-only file of the family (:class:`PartialImport`), or None.
        containers: extra top-level entries of a checkpoint dict that hold the state dict
            (``params`` / ``params_ema`` / ``state_dict`` are always understood).
    """

    key_maps: Mapping[str, KeyMap]
    detect: Callable[[Sequence[str]], bool]
    infer_config: Callable[[ImportContext], dict[str, Any]]
    priority: int = 100
    source_hints: Mapping[str, Callable[[Sequence[str]], bool]] = field(default_factory=dict)
    options: tuple[ImportOption, ...] = ()
    finish: Callable[[ImportContext, dict[str, torch.Tensor]], int] | None = None
    partial: PartialImport | None = None
    containers: tuple[str, ...] = ()


# -- shape inference helpers ----------------------------------------------------------------
def shape_str(t: torch.Tensor) -> str:
    """``(64, 3, 3, 3)``."""
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def max_index(keys: Sequence[str], pattern: str) -> int | None:
    """The largest integer group 1 of ``pattern`` over ``keys`` (None when none match)."""
    found = [int(m[1]) for k in keys if (m := re.match(pattern, k))]
    return max(found) if found else None


def count_blocks(keys: Sequence[str], pattern: str) -> int:
    """Blocks ``0 .. n-1`` numbered by group 1 of ``pattern``: n (0 when none)."""
    last = max_index(keys, pattern)
    return 0 if last is None else last + 1


def first_dim(ctx: ImportContext, field_name: str, candidates: list[tuple[str, int]]) -> int:
    """Dimension ``dim`` of the first present tensor among ``candidates`` ``(key, dim)``.

    Raises:
        UserError: none is present (naming them and ``--arch``).
    """
    for key, dim in candidates:
        t = ctx.state.get(key)
        if t is not None and t.dim() > dim:
            return int(t.shape[dim])
    names = ", ".join(k for k, _ in candidates)
    raise UserError(f"{ctx.path}: cannot infer {field_name} (none of {names} is present); "
                    "name the architecture with --arch")


def feat_and_blocks(ctx: ImportContext, width_from: list[tuple[str, int]],
                    blocks: str = r"^body\.(\d+)\.conv[12]\.") -> dict[str, int]:
    """``num_feat`` and ``num_block`` of a ``body.N.conv1/conv2`` model: as ``--arch`` pins them,
    else the width from the first present tensor of ``width_from`` and the blocks by counting."""
    num_feat = ctx.pinned.get("num_feat") or first_dim(ctx, "num_feat", width_from)
    num_block = ctx.pinned.get("num_block")
    if num_block is None:
        num_block = count_blocks(list(ctx.state), blocks)
    return {"num_feat": num_feat, "num_block": num_block}

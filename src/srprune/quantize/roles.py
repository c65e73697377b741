"""Precision-sensitive graph nodes: a model's declared roles mapped onto ONNX and OpenVINO nodes.

Models declare module-name prefixes by role (``precision_roles()``, models/contract.py), e.g.
``head`` (the convs that read the image), ``tail`` (the convs that write it), ``flow`` (the
flow network). The torch exporter records each ONNX node's module scope in its metadata
(``pkg.torch.onnx.name_scopes``: the dotted module paths from the exported module down to the
node, then the op's own name); a node belongs to a role when one of its scopes is a declared
prefix or lies below one. The SR model sits at some path inside the exported module (the
streaming-cell and window wrappers hold it), found by building the same export module from the
file's metadata on the meta device, so an already exported file maps as a freshly exported one.

OpenVINO names the ops it makes from an ONNX node after that node: ``name`` itself, or
``name/...`` for the pieces of an op it decomposes (a Conv with bias becomes
``name/WithoutBiases`` and the bias ``Add`` ``name``); NNCF's ignored scope matches those names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from srprune.errors import UserError
from srprune.export.metadata import ExportInfo
from srprune.models.contract import VideoSRModel, require
from srprune.models.registry import build_model, config_from_dict

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
MAX_SCOPES_TEXT = 65536  # a node's scope entry longer than this is ignored, not parsed

Roles = Mapping[str, tuple[str, ...]]


def declared_roles(info: ExportInfo) -> dict[str, tuple[str, ...]]:
    """Role -> module prefixes as the exported graph names them (rooted at the export module)."""
    with torch.device("meta"):  # the module tree only: no memory, whatever the widths
        model = build_model(config_from_dict(info.config))
        module = model if info.kind == "image" else \
            require(model, VideoSRModel).export_module(info.kind, info.frames)
    root = next(n for n, m in module.named_modules() if m is model)
    prefix = f"{root}." if root else ""
    roles = require(model).precision_roles()
    return {role: tuple(prefix + p for p in prefixes) for role, prefixes in roles.items()}


def check_roles(wanted: Iterable[str], roles: Roles, what: str) -> list[str]:
    """``wanted`` roles, each one the model declares (UserError naming the declared ones)."""
    wanted = list(dict.fromkeys(wanted))
    unknown = [r for r in wanted if r not in roles]
    if unknown:
        known = ", ".join(roles) or "none"
        raise UserError(f"{what}: this model declares no role {unknown[0]!r} "
                        f"(its roles: {known})")
    return wanted


def node_scopes(node: Any) -> list[str]:
    """The module scopes of an ONNX node (empty when the exporter recorded none)."""
    for entry in node.metadata_props:
        if entry.key != SCOPES_KEY or len(entry.value) > MAX_SCOPES_TEXT:
            continue
        try:
            value = ast.literal_eval(entry.value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return []
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value[:-1]  # the last entry is the op's own name
    return []


def _inside(scope: str, prefixes: tuple[str, ...]) -> bool:
    return any(scope == p or scope.startswith(p + ".") for p in prefixes)


def role_nodes(graph: Any, roles: Roles) -> dict[str, list[str]]:
    """Role -> names of the ONNX nodes inside it (a node may be in several roles)."""
    found: dict[str, list[str]] = {role: [] for role in roles}
    for node in graph.node:
        scopes = node_scopes(node)
        for role, prefixes in roles.items():
            if any(_inside(s, prefixes) for s in scopes):
                found[role].append(node.name)
    return found


def openvino_names(model: Any, onnx_names: Iterable[str]) -> list[str]:
    """Friendly names of the OpenVINO ops made from the named ONNX nodes."""
    wanted = set(onnx_names)
    names = []
    for op in model.get_ops():
        name = op.get_friendly_name()
        if name in wanted or name.split("/", 1)[0] in wanted:
            names.append(name)
    return names

"""The shape of a pruned model: per-conv widths and RSC index buffers.

A compact model is rebuilt from its dense config plus this structure, with no other input: the
dense model is built, every listed conv is resized in place to the recorded widths, and every listed
index buffer is created with the recorded length (its values then come from the weights file).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srprune.pruning.declared import RSCBlock, rsc_block
from srprune.pruning.handlers import handler_for, layer_at, prunable_layers


def _widths(layer: nn.Module) -> tuple[int, int]:
    handler = handler_for(layer)
    assert handler is not None
    return handler.widths(layer)


def describe_structure(model: nn.Module, dense: nn.Module) -> dict[str, Any]:
    """What differs between ``model`` and the ``dense`` model of the same config.

    Returns:
        ``{"convs": {path: [in_channels, out_channels]}, "index": {path.buffer: length}}``
        (``buffer``: a name from the block's ``rsc_buffers``);
        empty dicts for an unpruned model.
    """
    dense_layers = prunable_layers(dense)
    convs = {}
    for path, layer in prunable_layers(model).items():
        widths = _widths(layer)
        if widths != _widths(dense_layers[path]):
            convs[path] = list(widths)
    index = {}
    for path, module in model.named_modules():
        if not isinstance(module, RSCBlock):
            continue
        for side, name in module.rsc_buffers.items():
            buf = module.rsc_index(side)
            if isinstance(buf, torch.Tensor):
                index[f"{path}.{name}"] = int(buf.numel())
    return {"convs": convs, "index": index}


def set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    """Replace the submodule at a dotted ``path``."""
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, module)


def apply_structure(model: nn.Module, structure: dict[str, Any]) -> nn.Module:
    """Reshape a freshly built dense ``model`` in place to a recorded structure."""
    for path, (c_in, c_out) in structure.get("convs", {}).items():
        layer, handler = layer_at(model, path)
        new = handler.resized(layer, c_in, c_out)
        if new is not layer:
            set_submodule(model, path, new)
    for key, length in structure.get("index", {}).items():
        path, _, name = key.rpartition(".")
        owner = rsc_block(model.get_submodule(path) if path else model, path)
        side = next(s for s, n in owner.rsc_buffers.items() if n == name)
        owner.set_rsc_index(side, torch.zeros(length, dtype=torch.long))
    return model

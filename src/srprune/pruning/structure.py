"""The shape of a pruned model: per-conv widths and RSC index buffers.

A compact model is rebuilt from its dense config plus this structure, with no other input: the
dense model is built, every listed conv is replaced by one of the recorded width, and every listed
index buffer is created with the recorded length (its values then come from the weights file).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

INDEX_BUFFERS = ("in_index", "out_index")


def _convs(model: nn.Module) -> dict[str, nn.Conv2d]:
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def describe_structure(model: nn.Module, dense: nn.Module) -> dict[str, Any]:
    """What differs between ``model`` and the ``dense`` model of the same config.

    Returns:
        ``{"convs": {path: [in_channels, out_channels]}, "index": {path.buffer: length}}``;
        empty dicts for an unpruned model.
    """
    dense_convs = _convs(dense)
    convs = {}
    for path, conv in _convs(model).items():
        ref = dense_convs[path]
        if (conv.in_channels, conv.out_channels) != (ref.in_channels, ref.out_channels):
            convs[path] = [conv.in_channels, conv.out_channels]
    index = {}
    for path, module in model.named_modules():
        for name in INDEX_BUFFERS:
            buf = getattr(module, name, None)
            if isinstance(buf, torch.Tensor):
                index[f"{path}.{name}"] = int(buf.numel())
    return {"convs": convs, "index": index}


def resized_conv(conv: nn.Conv2d, c_in: int, c_out: int) -> nn.Conv2d:
    """A new conv like ``conv`` with other channel counts (uninitialised values don't matter)."""
    if conv.groups != 1:
        raise ValueError("grouped convolutions are not prunable")
    new = nn.Conv2d(c_in, c_out, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    bias=conv.bias is not None, padding_mode=conv.padding_mode)
    return new.to(device=conv.weight.device, dtype=conv.weight.dtype)


def set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    """Replace the submodule at a dotted ``path``."""
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, module)


def apply_structure(model: nn.Module, structure: dict[str, Any]) -> nn.Module:
    """Reshape a freshly built dense ``model`` in place to a recorded structure."""
    for path, (c_in, c_out) in structure.get("convs", {}).items():
        set_submodule(model, path, resized_conv(model.get_submodule(path), c_in, c_out))
    for key, length in structure.get("index", {}).items():
        path, _, name = key.rpartition(".")
        owner = model.get_submodule(path) if path else model
        owner.register_buffer(name, torch.zeros(length, dtype=torch.long))
    return model

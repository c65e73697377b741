"""ASSL's sparsity handles: weight-normalised convs, ``W = s * V / ||V||`` per filter.

PyTorch's own ``torch.nn.utils.parametrizations.weight_norm`` (``dim=0``) starts the scale ``s``
at ``||W||`` of each filter and ``V`` at ``W``, so the model computes what it computed before.
Folding (``remove_parametrizations`` with ``leave_parametrized=True``) writes ``s * V / ||V||``
back into a plain ``weight``. Only the producers of the prunable groups are normalised: their
scales are what the growing L2 and the alignment term act on.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from srprune.pruning.groups import Group, Port, conv_at, unit_channels


def producer_convs(groups: list[Group]) -> list[str]:
    """Paths of every conv that produces a group (in first-seen order, no repeats)."""
    return list(dict.fromkeys(p.module for g in groups for p in g.producers))


def attach_weight_norm(model: nn.Module, paths: list[str]) -> None:
    """Weight-normalise the convs at ``paths`` in place (the output stays the same).

    Raises:
        ValueError: a filter is all zero (its direction ``V / ||V||`` is undefined).
    """
    for path in paths:
        conv = conv_at(model, path)
        if parametrize.is_parametrized(conv, "weight"):
            continue
        norms = conv.weight.detach().flatten(1).norm(dim=1)
        if bool((norms == 0).any()):
            raise ValueError(f"{path} has an all-zero filter; weight norm needs non-zero filters")
        weight_norm(conv, name="weight", dim=0)


def fold_weight_norm(model: nn.Module, paths: list[str]) -> None:
    """Turn the weight-normalised convs at ``paths`` back into plain convs, same output."""
    for path in paths:
        conv = conv_at(model, path)
        if parametrize.is_parametrized(conv, "weight"):
            with torch.enable_grad():  # else the folded weight is a plain tensor, no Parameter
                parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)


def wn_scale(model: nn.Module, path: str) -> torch.Tensor:
    """The scale ``s`` (one per filter, a view of the parameter) of a normalised conv."""
    conv = conv_at(model, path)
    if not parametrize.is_parametrized(conv, "weight"):
        raise ValueError(f"{path} is not weight-normalised")
    return conv.parametrizations.weight.original0.view(-1)


def scale_parameters(model: nn.Module, paths: list[str]) -> list[nn.Parameter]:
    """The scale parameters of the normalised convs (for their own optimiser group)."""
    return [conv_at(model, p).parametrizations.weight.original0 for p in paths]


def unit_scale(model: nn.Module, port: Port, units: int) -> torch.Tensor:
    """One magnitude per unit of a producer port: the norm of its channels' scales.

    For a plain filter that is ``|s|``; for a unit of ``s^2`` filters before a pixel shuffle, the
    root of their summed squares. Differentiable (used by the alignment term).
    """
    idx = unit_channels(port, torch.arange(units))
    s = wn_scale(model, port.module)
    return s[idx.to(s.device)].view(units, port.unit).norm(dim=1)

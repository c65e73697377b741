"""Physical removal: turn a model plus removed units per group into a plain, smaller model.

Every conv axis touched by a removal is sliced once, in place (masks are gathered over all groups
first, so offsets into concatenated inputs stay valid; each layer keeps its identity and class,
so a user's Conv2d subclass keeps its ``forward``); RSC blocks record which stream channels their
first conv still reads and which their last conv still writes, in the index buffers each block
declares (:class:`~srprune.pruning.declared.RSCBlock`).
"""

from __future__ import annotations

import torch
from torch import nn

from srprune.pruning.criteria import kept_units
from srprune.pruning.declared import Side, rsc_block
from srprune.pruning.groups import Group, unit_channels
from srprune.pruning.handlers import layer_at
from srprune.pruning.structure import set_submodule


def _compose_index(old: torch.Tensor | None, kept: torch.Tensor, width: int
                   ) -> torch.Tensor | None:
    """New index buffer: positions in the stream of the channels that stay."""
    base = old if old is not None else torch.arange(width)
    new = base.to(kept.device)[kept]
    if old is None and len(new) == width:
        return None
    return new


@torch.no_grad()
def remove_units(model: nn.Module, groups: list[Group], removed: dict[str, torch.Tensor]
                 ) -> nn.Module:
    """Remove the given units from ``model`` in place and return it.

    Args:
        groups: the groups the removal refers to (declared by the model before pruning).
        removed: ``{group name: unit indices}``; groups not named lose nothing.
    """
    keep: dict[tuple[str, str], torch.Tensor] = {}
    index_updates: list[tuple[str, Side, torch.Tensor, int]] = []
    for g in groups:
        units = removed.get(g.name)
        if units is None or len(units) == 0:
            continue
        if len(units) >= g.units:
            raise ValueError(f"group {g.name} would lose all of its {g.units} units")
        for port in (*g.producers, *g.consumers, *g.followers):
            layer, handler = layer_at(model, port.module)
            c_in, c_out = handler.widths(layer)
            width = c_out if port.axis == "out" else c_in
            mask = keep.setdefault((port.module, port.axis), torch.ones(width, dtype=torch.bool))
            mask[unit_channels(port, units)] = False
        kept = kept_units(g, units)
        if g.gather:
            index_updates.append((g.gather, "in", kept, g.units))
        if g.scatter:
            index_updates.append((g.scatter, "out", kept, g.units))

    for path in sorted({p for p, _ in keep}):
        layer, handler = layer_at(model, path)
        c_in, c_out = handler.widths(layer)
        out_mask = keep.get((path, "out"), torch.ones(c_out, dtype=torch.bool))
        in_mask = keep.get((path, "in"), torch.ones(c_in, dtype=torch.bool))
        new = handler.shrink(layer, torch.nonzero(out_mask).flatten(),
                             torch.nonzero(in_mask).flatten())
        if new is not layer:  # a handler that builds a new layer instead of narrowing it
            set_submodule(model, path, new)

    for path, side, kept, width in index_updates:
        module = model.get_submodule(path)
        block = rsc_block(module, path)
        new_index = _compose_index(block.rsc_index(side), kept, width)
        if new_index is not None:
            block.set_rsc_index(side, new_index.to(next(module.parameters()).device))
    return model


def removal_summary(groups: list[Group], removed: dict[str, torch.Tensor]
                    ) -> list[dict[str, object]]:
    """Per-group rows (name, role, layer, units, removed, ratio) for reports and plots."""
    rows = []
    for g in groups:
        n = int(len(removed.get(g.name, ())))
        rows.append({"group": g.name, "role": g.role, "layer": g.layer, "units": g.units,
                     "removed": n, "ratio": n / g.units})
    return rows

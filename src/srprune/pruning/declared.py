"""What the pruning core reads from a model it did not build, with defaults for plain modules.

The pruning core sits below the models (docs/architecture.md, Layers), so the facts it needs are
declared here and the model contract (:mod:`srprune.models.contract`) builds on them:

* :class:`RSCBlock`: a residual block that names the index buffers surgery writes (which stream
  channels its branch reads, and which it adds into);
* :func:`is_video` and :func:`flow_network`: the contract's ``is_video`` and ``flow_net`` of any
  module, False / None for one that declares nothing (the profiler and the trainer also take
  foreign modules, e.g. BasicSR's own for comparison);
* :func:`flow_groups`: the flow network's prunable channel groups a model declares
  (``flow_channel_groups()``, optional: none for a model without it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol, runtime_checkable

import torch
from torch import nn

from srprune.pruning.groups import Group

Side = Literal["in", "out"]
"""``in``: the stream channels a block's branch reads (gather); ``out``: the channels it adds
into (scatter)."""


@runtime_checkable
class RSCBlock(Protocol):
    """A residual block that can run as a Residual Sparsity Connection block.

    ``rsc_buffers`` names the block's index buffer per side (registered on the block, None
    while the branch reads / writes every stream channel). Surgery writes them through
    :meth:`set_rsc_index`; saved structures and model-file checks name them by these names.
    """

    rsc_buffers: Mapping[Side, str]

    def rsc_index(self, side: Side) -> torch.Tensor | None:
        """The stream channels the branch reads (``in``) or adds into (``out``); None: all."""
        ...

    def set_rsc_index(self, side: Side, index: torch.Tensor | None) -> None:
        """Set (or clear, with None) the index buffer of ``side``."""
        ...


def rsc_block(module: nn.Module, path: str) -> RSCBlock:
    """``module`` (the block at ``path``) as an :class:`RSCBlock`; TypeError otherwise."""
    if not isinstance(module, RSCBlock):
        raise TypeError(f"{path} ({type(module).__name__}) is named by a gather / scatter group "
                        "but is not an RSC block (rsc_buffers, rsc_index, set_rsc_index)")
    return module


def is_video(model: nn.Module) -> bool:
    """The contract's ``is_video``; False for a plain module that declares nothing."""
    return bool(getattr(model, "is_video", False))


def flow_network(model: nn.Module) -> nn.Module | None:
    """The contract's ``flow_net``; None for a plain module that declares none."""
    flow = getattr(model, "flow_net", None)
    return flow if isinstance(flow, nn.Module) else None


def flow_groups(model: nn.Module) -> list[Group]:
    """The flow network's prunable groups (the contract's optional ``flow_channel_groups()``,
    role ``flow``); empty for a model that declares none."""
    declare = getattr(model, "flow_channel_groups", None)
    return list(declare()) if callable(declare) else []

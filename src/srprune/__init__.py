"""srprune: structured pruning for video and image super-resolution networks.

The library API (docs/pruning.md, "Library API") is imported lazily, so ``import srprune`` and
the command line stay cheap:

* :class:`Pruner`: prune your own ``nn.Module`` with SSL / L1 / ASSL in your own training loop;
* :func:`trace_groups` / :class:`UnsupportedGraph`: channel groups of a plain module by tracing;
* :class:`Group`, :class:`Port`: the groups a model may declare itself (``channel_groups``);
* :class:`GrowingL2Schedule`: the regularisation's alpha schedule;
* :class:`LayerHandler`, :func:`register_handler`: make another layer type prunable;
* :class:`SizeModel`: params and MACs of any removal without building the compact model;
* :data:`METHODS`: the method recipes by name.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Pruner": "srprune.pruning.api",
    "trace_groups": "srprune.pruning.trace",
    "UnsupportedGraph": "srprune.pruning.trace",
    "Group": "srprune.pruning.groups",
    "Port": "srprune.pruning.groups",
    "GrowingL2Schedule": "srprune.pruning.regularizers",
    "LayerHandler": "srprune.pruning.handlers",
    "register_handler": "srprune.pruning.handlers",
    "SizeModel": "srprune.pruning.sizes",
    "METHODS": "srprune.pruning.methods",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'srprune' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

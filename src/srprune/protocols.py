"""What the trainer and the code that plugs into it agree on, below both of them.

A loss term is any callable ``term(model, batch, output, step) -> dict[str, Tensor]``:

- ``model``: the trained module itself (never the DistributedDataParallel wrapper), e.g. to read
  scaling factors for a sparsity regulariser;
- ``batch``: the batch on the training device (``lq``, ``gt``, ...);
- ``output``: the :class:`ModelOutput` of this step (SR frames and, if asked for, hidden states);
- ``step``: 0-based index of the current iteration (for growing penalties).

It returns named scalar tensors, already weighted; they are summed into the total loss and logged
as ``loss/<name>``. A term that needs a video model's final hidden states sets the attribute
``needs_hidden = True``. A callback ends a run early by raising :class:`StopTraining`.

The pruning core's regularisers and FMP's search implement these without importing the trainer
(:mod:`srprune.train.loop`), which runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn


@dataclass(frozen=True)
class ModelOutput:
    """What the model produced for a batch.

    Attributes:
        sr: Super-resolved output, (B,N,3,H,W) for video models, (B,3,H,W) for image models.
        hidden: Final hidden states, by the names the model declares, when a term asked for
            them.
    """

    sr: torch.Tensor
    hidden: Mapping[str, torch.Tensor] | None = None


@runtime_checkable
class LossTerm(Protocol):
    """``term(model, batch, output, step) -> {name: weighted scalar loss}``."""

    def __call__(self, model: nn.Module, batch: Mapping[str, torch.Tensor],
                 output: ModelOutput, step: int) -> dict[str, torch.Tensor]: ...


def needs_hidden(term: object) -> bool:
    """Whether ``term`` wants the model's final hidden states."""
    return bool(getattr(term, "needs_hidden", False))


class StopTraining(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a callback to end the run after this iteration (e.g. a pruning search that
    reached its budget). The trainer logs and checkpoints that iteration, then returns with
    ``TrainResult.stopped`` set."""

"""The pieces a pruning run is declared with: its context, its stages and their loss sources.

A stage of ``srprune prune`` is a :class:`Stage` row: its name, the inputs it fingerprints, the
function that runs it, the file it leaves (and, for training stages, the folder it checkpoints
in and its :class:`LossSource`). :mod:`srprune.runs.prune` holds the table and the pipeline that
runs it under the rerun rules of :mod:`srprune.runs.stages`.

Extending a training stage with another loss (e.g. distillation from the dense model) needs no
new stage function: give the stage another :class:`LossSource` (its dataset, extra loss terms,
a batch transform such as replacing ``gt`` by a teacher's output, and what it adds to the
stage's fingerprint), e.g. ``with_loss(PRUNE_STAGES, {"finetune": distill})``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from srprune.errors import UserError
from srprune.pruning.config import PruneSettings
from srprune.pruning.methods.recipe import Recipe
from srprune.runs.common import train_dataset
from srprune.runs.fingerprint import file_hash
from srprune.train import distributed
from srprune.train.config import TrainConfig


@dataclass
class PruneRun:
    """What every stage of one pruning run reads.

    Attributes:
        recipe: the method, with the config's overrides applied.
        settings: the ``prune`` section.
        cfg: data and finetuning settings (``model.file`` is the dense model).
        dense: the trained dense model file.
        out: the run folder.
        device: resolved device (``cpu``, ``cuda:N``).
        quiet: no progress output.
        env: the torchrun environment (rank 0 writes every file).
        after: fingerprint of a stage under the current settings (chains the fingerprints).
        uses: whether a stage's output is part of this run (requested now, or finished under
            the current settings).
        say: a line for the user (rank 0, not quiet).
        show_report: print the report table (unless quiet).
    """

    recipe: Recipe
    settings: PruneSettings
    cfg: TrainConfig
    dense: Path
    out: Path
    device: str
    quiet: bool
    env: distributed.DistEnv
    after: Callable[[str], str]
    uses: Callable[[str], bool]
    say: Callable[[str], None]
    show_report: bool = True

    def path(self, name: str) -> Path:
        return self.out / name

    def dense_hash(self) -> str:
        """The dense model file's content hash (UserError when it is gone)."""
        if not self.dense.is_file():
            raise UserError(f"model file not found: {self.dense}")
        return file_hash(self.dense)


Batches = Callable[[PruneRun, nn.Module], Any]
"""``(run, model) -> dataset`` of ``{"lq", "gt"}`` samples for the model being trained."""
Terms = Callable[[PruneRun, nn.Module], list[Any]]
"""``(run, model) -> [LossTerm]`` added to the stage's own terms."""
Prepare = Callable[[PruneRun, nn.Module], Any]
"""``(run, model) -> batch transform or None`` (the Trainer's ``prepare``)."""
Inputs = Callable[[PruneRun], dict[str, Any]]
"""``(run) -> plain values`` a stage's fingerprint depends on."""
Reconstruction = Callable[[PruneRun], Any]
"""``(run) -> (output, gt) -> loss``, or None for the trainer's Charbonnier (``loss.eps``)."""
Scores = Callable[[PruneRun, nn.Module], Any]
"""``(run, dense) -> (scorer, facts) or None``: the report's extra quality columns (a
``scorer(model) -> {column: value}``, e.g. fidelity to the dense model) and what the report
records about them."""


def config_batches(run: PruneRun, model: nn.Module) -> Any:
    """The training set of the config's ``data`` section."""
    return train_dataset(run.cfg, model)


def no_terms(run: PruneRun, model: nn.Module) -> list[Any]:
    return []


def no_prepare(run: PruneRun, model: nn.Module) -> Any:
    return None


def no_inputs(run: PruneRun) -> dict[str, Any]:
    return {}


def no_reconstruction(run: PruneRun) -> Any:
    return None


def no_scores(run: PruneRun, dense: nn.Module) -> Any:
    return None


@dataclass(frozen=True)
class LossSource:
    """Where a training stage's batches and losses come from.

    The default: the config's data, Charbonnier against ``gt`` and nothing else. ``inputs``
    becomes the ``loss`` key of the stage's fingerprint when it returns anything (so the
    default leaves existing fingerprints as they were). ``reconstruction`` replaces the
    trainer's Charbonnier; the report stage reads ``scores`` (extra columns, e.g. fidelity to
    the teacher after distillation, :mod:`srprune.runs.distill`).
    """

    batches: Batches = config_batches
    terms: Terms = no_terms
    prepare: Prepare = no_prepare
    inputs: Inputs = no_inputs
    reconstruction: Reconstruction = no_reconstruction
    scores: Scores = no_scores


DATA = LossSource()


StageFn = Callable[[PruneRun, "Stage"], None]


@dataclass(frozen=True)
class Stage:
    """One row of a staged run's table.

    Attributes:
        name: the stage name (``--stages``).
        inputs: what the stage's fingerprint depends on (use ``run.after`` for the stage whose
            output it reads).
        run: the stage itself, ``run(context, this row)``.
        output: the file it leaves when it finished.
        folder: the run folder a training stage checkpoints in (it resumes from there).
        all_ranks: run on every torchrun rank (DDP training); else rank 0 only.
        loss: a training stage's :class:`LossSource`.
    """

    name: str
    inputs: Inputs
    run: StageFn
    output: str
    folder: str | None = None
    all_ranks: bool = False
    loss: LossSource = field(default=DATA)

    def fingerprinted(self, run: PruneRun) -> dict[str, Any]:
        """``inputs`` plus the loss source's, under ``loss`` when it has any."""
        extra = self.loss.inputs(run)
        return {**self.inputs(run), **({"loss": extra} if extra else {})}


def with_loss(stages: Sequence[Stage], sources: Mapping[str, LossSource]) -> tuple[Stage, ...]:
    """``stages`` with the named ones given another :class:`LossSource`."""
    unknown = set(sources) - {s.name for s in stages}
    if unknown:
        raise ValueError(f"no stage {', '.join(sorted(unknown))}")
    return tuple(dataclasses.replace(s, loss=sources[s.name]) if s.name in sources else s
                 for s in stages)

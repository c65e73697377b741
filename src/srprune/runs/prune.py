"""``srprune prune``: select -> regularize -> remove -> finetune -> report, each stage resumable.

Every stage reads the previous stage's file from the output folder and writes its own, so any
stage can run alone and an interrupted run continues where it stopped:

    run.json               what produced each stage (fingerprints; see runs/stages.py)
    selection.json         units chosen for removal and the scorer (select)
    regularized.safetensors  dense weights with the scales folded in (regularize; ASSL also
                           rewrites the streams' sets in selection.json when it aligns them)
    pruned.safetensors     the compact model before finetuning (remove; from the dense weights
                           when the regularize stage is not run)
    model.safetensors      the finetuned compact model (finetune)
    report.json, report.md, ratios.png (report)

Under torchrun the regularize and finetune stages train on every rank with
DistributedDataParallel (``data.batch_size`` is the global batch; the gammas and weight-norm
scales are parameters of the model, so DDP averages their gradients like any weight); select,
remove and report run on rank 0, which also writes every file (see runs/stages.py).

The stages are rows of :data:`PRUNE_STAGES` (:class:`~srprune.runs.prune_run.Stage`: name,
fingerprinted inputs, function, output); the functions are in runs/prune_stages.py and
runs/prune_training.py, the unit choice in runs/prune_select.py, the selection file in
runs/prune_files.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srprune.errors import UserError
from srprune.pruning.config import PruneSettings, settings_from_dict
from srprune.pruning.methods.recipe import Recipe
from srprune.runs.prune_recipe import (
    effective_recipe,
    prunable_groups,
    recipe_inputs,
    scored_groups,
    size_function,
)
from srprune.runs.prune_run import LossSource, PruneRun, Stage, with_loss
from srprune.runs.prune_stages import (
    remove,
    remove_inputs,
    report,
    report_inputs,
    select,
    select_inputs,
)
from srprune.runs.prune_training import (
    finetune,
    finetune_inputs,
    regularize,
    regularize_inputs,
)
from srprune.runs.stages import StagedRun
from srprune.train import distributed
from srprune.train.config import TrainConfig, apply_overrides, blame, config_from_dict, read_yaml

__all__ = ["PRUNE_STAGES", "STAGES", "LossSource", "PrunePipeline", "Stage", "effective_recipe",
           "load_prune_config", "prunable_groups", "recipe_inputs", "scored_groups",
           "size_function", "with_loss"]

PRUNE_STAGES: tuple[Stage, ...] = (
    Stage("select", select_inputs, select, "selection.json"),
    Stage("regularize", regularize_inputs, regularize, "regularized.safetensors",
          folder="regularize", all_ranks=True),
    Stage("remove", remove_inputs, remove, "pruned.safetensors"),
    Stage("finetune", finetune_inputs, finetune, "model.safetensors", folder="finetune",
          all_ranks=True),
    Stage("report", report_inputs, report, "report.json"),
)
"""``srprune prune``'s stages in order (see :class:`~srprune.runs.prune_run.Stage`)."""

STAGES = tuple(s.name for s in PRUNE_STAGES)


def load_prune_config(path: Path | dict[str, Any], dense: Path, overrides: list[Any],
                      ratio: float | None) -> tuple[PruneSettings, TrainConfig]:
    """(PruneSettings, TrainConfig) from a pruning YAML (or its mapping) plus overrides
    (``KEY=VALUE`` strings or ``(KEY, value)`` pairs) and an optional ratio; ``model`` becomes
    ``{file: dense}``. The ``distill`` section is read by
    :func:`srprune.runs.distill.load_distill_settings`."""
    data = apply_overrides(read_yaml(path) if isinstance(path, Path) else path, overrides)
    data.pop("fmp", None)
    data.pop("distill", None)
    prune = data.pop("prune", None)
    if ratio is not None and (prune is None or isinstance(prune, dict)):
        prune = {**(prune or {}), "ratio": ratio}  # a malformed section is left to the checker
    data["model"] = {"file": str(dense)}
    try:
        return settings_from_dict(prune), config_from_dict(data)
    except UserError as e:
        raise blame(path if isinstance(path, Path) else None, overrides, e) from None


class PrunePipeline(StagedRun):
    """One pruning run in folder ``out``: the rows of ``stages`` under the rerun rules of
    :class:`~srprune.runs.stages.StagedRun`.

    Args:
        recipe: the method.
        settings: the ``prune`` section.
        train_config: data and finetuning settings (``model.file`` is the dense model).
        dense_path: the trained dense model (srprune ``.safetensors``).
        out: output folder.
        device: ``cpu`` / ``cuda``.
        quiet: no progress output.
        on_change: ``refuse`` or ``redo`` a stage whose inputs changed.
        stages: the stage table (default :data:`PRUNE_STAGES`; e.g. :func:`with_loss` of it).
        show_report: print the report table at the end (unless ``quiet``).
    """

    def __init__(self, recipe: Recipe, settings: PruneSettings, train_config: TrainConfig,
                 dense_path: Path, out: Path, device: str = "cpu", quiet: bool = False,
                 on_change: str = "refuse", stages: Sequence[Stage] = PRUNE_STAGES,
                 show_report: bool = True) -> None:
        self.table = {s.name: s for s in stages}
        self.STAGES = tuple(self.table)
        self.DONE = {s.name: s.output for s in stages}
        self.TRAINING = {s.name: s.folder for s in stages if s.folder}
        self.ALL_RANKS = tuple(s.name for s in stages if s.all_ranks)
        self.out = Path(out)
        self.device = device
        self.quiet = quiet
        self.on_change = on_change  # type: ignore[assignment]
        self.requested: list[str] = list(self.STAGES)
        self.env = distributed.detect()
        self.context = PruneRun(
            recipe=effective_recipe(recipe, settings), settings=settings, cfg=train_config,
            dense=Path(dense_path), out=self.out, device=device, quiet=quiet, env=self.env,
            after=self.after, uses=self._uses, say=self._say, show_report=show_report)

    def _uses(self, stage: str) -> bool:
        """Whether ``stage``'s output is part of this run: asked for now, or finished under
        the current settings (else e.g. remove reads the dense weights)."""
        return stage in self.requested or self.is_current(stage)

    def stage_inputs(self, stage: str) -> dict[str, Any]:
        """What ``stage`` depends on; fingerprints chain through ``after``."""
        if stage not in self.table:
            raise ValueError(stage)
        return self.table[stage].fingerprinted(self.context)

    def execute(self, stage: str) -> None:
        row = self.table[stage]
        row.run(self.context, row)

"""The training stages of ``srprune prune``: regularize and finetune, and what each
fingerprints.

Both build a :class:`~srprune.train.loop.Trainer` from the stage's
:class:`~srprune.runs.prune_run.LossSource` (dataset, extra loss terms, batch transform) plus
the method's own terms (the scales' growing L2; Temporal Finetuning). Under torchrun they run on
every rank; rank 0 writes the files.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from srprune.io.model_file import load_model, save_model
from srprune.models.contract import declared_hidden, flow_network, flow_path
from srprune.pruning.config import alignment_iters
from srprune.pruning.handles import gamma_handles, weight_norm_handles
from srprune.pruning.regularizers import GrowingL2Schedule
from srprune.runs.common import one_period, training_inputs, validator
from srprune.runs.prune_files import (
    SELECTION,
    log_scales,
    need,
    read_selection,
    record_alignment,
    removed_sets,
    stream_kept,
)
from srprune.runs.prune_recipe import prunable_groups
from srprune.runs.prune_run import PruneRun, Stage
from srprune.runs.stages import has_checkpoint
from srprune.train.config import TrainConfig
from srprune.train.loop import Trainer, default_param_groups
from srprune.train.terms import FlowDistillTerm, TemporalTerm

REGULARIZE_KEYS = ("delta", "t1", "tau", "t2", "reg_iters", "reg_lr", "scale_lr",
                   "align_iters", "align_weight")


# -- the flow network, when it is pruned too (prune.flow) ------------------------------------
def flow_inputs(run: PruneRun) -> dict[str, Any]:
    """How a training stage treats the flow network, for its fingerprint: nothing when it is
    not pruned (runs made before ``prune.flow`` keep their fingerprints)."""
    s = run.settings
    if not run.recipe.flow:
        return {}
    return {"flow": {"distill": s.flow_distill, "lr_mult": s.flow_lr_mult}}


def flow_config(run: PruneRun, cfg: TrainConfig) -> TrainConfig:
    """``cfg`` for a training stage: with ``prune.flow`` the flow network trains from the
    first step at ``prune.flow_lr_mult`` (no fixed-flow warm-up)."""
    if not run.recipe.flow:
        return cfg
    optim = dataclasses.replace(cfg.optim, flow_lr_mult=run.settings.flow_lr_mult,
                                fix_flow_iters=0)
    return dataclasses.replace(cfg, optim=optim)


def frozen_flow(run: PruneRun, model: nn.Module) -> list[str]:
    """The flow network's path while it is not pruned (frozen in regularize), else none."""
    flow = flow_path(model)
    return [flow] if flow and not run.recipe.flow else []


def flow_terms(run: PruneRun, model: nn.Module) -> list[Any]:
    """Flow distillation against the dense model's flow network, with ``prune.flow`` and a
    positive ``prune.flow_distill``."""
    s = run.settings
    if not (run.recipe.flow and s.flow_distill > 0 and flow_network(model) is not None):
        return []
    teacher = flow_network(load_model(run.dense))
    return [FlowDistillTerm(teacher, s.flow_distill)] if teacher is not None else []


# -- regularize ------------------------------------------------------------------------------
def regularize_inputs(run: PruneRun) -> dict[str, Any]:
    return {"after": run.after("select"), "dense": run.dense_hash(),
            "prune": {k: getattr(run.settings, k) for k in REGULARIZE_KEYS},
            "training": training_inputs(run.cfg), **flow_inputs(run)}


def scale_handles(run: PruneRun, model: nn.Module, schedule: GrowingL2Schedule, resume: bool
                  ) -> tuple[Any, int]:
    """(the scales attached to the selected units, or None when nothing is selected; the
    stage's iterations, ASSL's alignment phase included)."""
    s = run.settings
    iters = s.reg_iters or schedule.total_iters
    groups = prunable_groups(model, run.recipe)
    path = run.path(SELECTION)
    selected = removed_sets(read_selection(path, "regularize"))
    model.train()
    if not any(len(v) for v in selected.values()):
        return None, iters
    if run.recipe.scales != "weight_norm":
        return gamma_handles(model, groups, selected, schedule), iters
    align = alignment_iters(s)

    def on_align(aligned: Any) -> None:  # rank 0 keeps selection.json
        if run.env.is_main:
            record_alignment(path, aligned)

    aligned = removed_sets(read_selection(path, "regularize"), aligned_only=True) \
        if resume else None
    return weight_norm_handles(model, groups, selected, schedule, align, s.align_weight,
                               aligned=aligned, on_align=on_align), iters + align


def scale_param_groups(handles: Any, scale_lr: float | None) -> Any:
    """The trainer's parameter groups, with the scales in their own group at ``scale_lr``."""

    def param_groups(m: nn.Module, optim: Any) -> list[dict[str, Any]]:
        scales = handles.params if handles else []
        ids = {id(p) for p in scales}
        groups = [{**g, "params": [p for p in g["params"] if id(p) not in ids]}
                  for g in default_param_groups(m, optim)]
        extra = [{"name": "scales", "params": scales, "lr": scale_lr or optim.lr}]
        return groups + (extra if scales else [])

    return param_groups


def regularize(run: PruneRun, stage: Stage) -> None:
    """Growing L2 on the selected units' scales (SSL's gammas or ASSL's weight-norm scales,
    with ASSL's alignment phase first), then fold the scales into plain weights.

    With nothing selected (ratio 0: the experiment's "dense + the same iterations" control)
    this is plain training with the same settings and length, with no scales attached.
    """
    model = load_model(run.dense)
    if not run.recipe.regularize:
        if run.env.is_main:
            save_model(run.path(stage.output), model, {"stage": "regularize", "skipped": True})
        run.say("[regularize] not part of this method: dense weights carried over")
        return
    s = run.settings
    schedule = GrowingL2Schedule(s.delta, s.t1, s.tau, s.t2)
    folder = run.path(stage.folder or stage.name)
    resume = has_checkpoint(folder)
    handles, iters = scale_handles(run, model, schedule, resume)
    log: list[dict[str, float]] = []
    every = max(1, run.cfg.train.log_every)

    def record(step: int, logs: dict[str, float]) -> None:
        if handles and (step % every == 0 or step == iters):
            log.append({"step": step, "alpha": schedule.alpha(step - 1),
                        **handles.status(model)})

    trainer = Trainer(model, stage.loss.batches(run, model),
                      flow_config(run, one_period(run.cfg, iters, folder, s.reg_lr)),
                      terms=([handles.term] if handles else []) + flow_terms(run, model)
                      + stage.loss.terms(run, model),
                      param_groups=scale_param_groups(handles, s.scale_lr or s.reg_lr),
                      frozen=frozen_flow(run, model), callbacks=[record],
                      prepare=stage.loss.prepare(run, model),
                      reconstruction=stage.loss.reconstruction(run), device=run.device,
                      quiet=run.quiet, save_final=False, extra={"stage": "regularize"})
    trainer.fit(resume=resume)
    model = trainer.model
    status = handles.status(model) if handles else {}
    if not run.env.is_main:
        return
    log_scales(folder, log)
    if handles:
        handles.fold(model)
    save_model(run.path(stage.output), model.cpu(),
               {"stage": "regularize", "iters": iters, **status})
    shown = ", ".join(f"{k} {v:.4f}" for k, v in status.items())
    run.say(f"[regularize] {iters} iterations" + (f"; {shown}" if shown else ""))


# -- finetune --------------------------------------------------------------------------------
def finetune_inputs(run: PruneRun) -> dict[str, Any]:
    return {"after": run.after("remove"), "dense": run.dense_hash(),
            "lambda_tf": run.settings.lambda_tf,
            "finetune_factor": run.recipe.finetune_factor,
            "temporal_finetune": run.recipe.temporal_finetune,
            "training": training_inputs(run.cfg), **flow_inputs(run)}


def temporal_terms(run: PruneRun, model: nn.Module) -> list[Any]:
    """Temporal Finetuning against the dense model, when the method, the model and
    ``prune.lambda_tf`` ask for it."""
    hidden = declared_hidden(model)
    if not (run.recipe.temporal_finetune and hidden and run.settings.lambda_tf > 0):
        return []
    teacher = load_model(run.dense)
    kept = stream_kept(read_selection(run.path(SELECTION), "finetune"), hidden)
    return [TemporalTerm(teacher, run.settings.lambda_tf, kept=kept)]


def finetune(run: PruneRun, stage: Stage) -> None:
    """Finetune the compact model (Charbonnier, + lambda_tf * L_tf with SSL, + flow
    distillation with ``prune.flow``)."""
    model = load_model(need(run.path("pruned.safetensors"), stage.name)).train()
    terms = temporal_terms(run, model) + flow_terms(run, model) + stage.loss.terms(run, model)
    iters = max(1, round(run.cfg.train.iters * run.recipe.finetune_factor))
    folder = run.path(stage.folder or stage.name)
    cfg = dataclasses.replace(flow_config(run, run.cfg), out=str(folder),
                              train=dataclasses.replace(run.cfg.train, iters=iters))
    facts = {"method": run.recipe.name, "ratio": run.settings.ratio}
    trainer = Trainer(model, stage.loss.batches(run, model), cfg, terms=terms,
                      validate=validator(run.cfg, model, run.device),
                      prepare=stage.loss.prepare(run, model),
                      reconstruction=stage.loss.reconstruction(run), device=run.device,
                      quiet=run.quiet, extra={"stage": "finetune", **facts})
    result = trainer.fit(resume=has_checkpoint(folder))
    if not run.env.is_main:
        return
    final = load_model(result.model_path) if result.model_path else trainer.model
    save_model(run.path(stage.output), final.cpu(),
               {**facts, "finetune_iters": iters, "dense": run.dense.name})
    run.say(f"[finetune] {iters} iterations -> {run.path(stage.output)}")

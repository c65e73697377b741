"""The select, remove and report stages of ``srprune prune`` and what each fingerprints.

Each stage is a function of the run's :class:`~srprune.runs.prune_run.PruneRun` and its own
table row; it reads the previous stage's file from the run folder and writes its own (rank 0).
The training stages (regularize, finetune) are in :mod:`srprune.runs.prune_training`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srprune.data.layouts import load_clip
from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model, save_model
from srprune.models.contract import declared_hidden, is_video
from srprune.models.registry import build_model
from srprune.pruning.latency_target import is_latency
from srprune.pruning.surgery import remove_units
from srprune.runs.common import validator
from srprune.runs.drift import drift_record, long_clip, model_drift
from srprune.runs.propagation import temporal_errors
from srprune.runs.prune_files import SELECTION, need, read_selection, removed_sets, stream_kept
from srprune.runs.prune_latency import latency_inputs, report_latency
from srprune.runs.prune_recipe import prunable_groups, recipe_inputs
from srprune.runs.prune_report import report_markdown, write_report
from srprune.runs.prune_run import PruneRun, Stage
from srprune.runs.prune_select import choose_units, selection_record, selection_summary
from srprune.train.datasets import val_clips
from srprune.typed import to_plain

TEMPORAL_FRAMES = 20
"""Frames of the first validation clip the report's temporal drift covers (at most)."""


# -- select ----------------------------------------------------------------------------------
def select_inputs(run: PruneRun) -> dict[str, Any]:
    s = run.settings
    sized = s.target is not None and not s.target.startswith("ratio")
    inputs = {"method": recipe_inputs(run.recipe), "dense": run.dense_hash(),
              "ratio": s.ratio, "target": s.target, "seed": s.seed, "round_to": s.round_to,
              "target_lr_size": list(s.report_lr_size) if sized else None,
              **({"flow_ratio": s.flow_ratio} if run.recipe.flow else {})}
    if s.target is not None and is_latency(s.target):  # the table, its runtime and threads
        dense = load_model(run.dense)
        inputs["latency"] = latency_inputs(dense, prunable_groups(dense, run.recipe), s)
        inputs["latency_repeats"] = s.latency_repeats
        inputs["latency_frames"] = s.latency_frames
    return inputs


def select(run: PruneRun, stage: Stage) -> None:
    """Score every unit of the dense model and choose the ones to remove."""
    choice = choose_units(load_model(run.dense), run.recipe, run.settings, run.dense.name,
                          run.say)
    record = selection_record(choice, run.recipe, run.settings, run.after(stage.name))
    write_text_atomic(run.path(stage.output), json.dumps(record, indent=1))
    run.say(selection_summary(choice, run.recipe, run.settings))


# -- remove ----------------------------------------------------------------------------------
def remove_inputs(run: PruneRun) -> dict[str, Any]:
    source = ({"after": run.after("regularize")} if run.uses("regularize")
              else {"weights": "dense (regularize not run)", "dense": run.dense_hash(),
                    "selection": run.after("select")})
    reinit = run.recipe.reinit
    return {**source, "reinit": reinit, "seed": run.settings.seed if reinit else None}


def remove(run: PruneRun, stage: Stage) -> None:
    """Physically remove the selected units (Scratch: from fresh random weights).

    Reads the regularize stage's weights, or the dense weights when that stage is not run
    (``--stages select,remove``: one-shot removal without regularisation)."""
    if run.uses("regularize"):
        model = load_model(need(run.path("regularized.safetensors"), stage.name))
    else:
        model = load_model(run.dense)
        run.say("[remove] regularize not run: removing from the dense weights")
    if run.recipe.reinit:
        torch.manual_seed(run.settings.seed)
        model = build_model(model.config)
    groups = prunable_groups(model, run.recipe)
    removed = removed_sets(read_selection(run.path(SELECTION), stage.name))
    remove_units(model, groups, removed)
    save_model(run.path(stage.output), model,
               {"stage": "remove", "method": run.recipe.name, "ratio": run.settings.ratio})
    n = sum(p.numel() for p in model.parameters())
    run.say(f"[remove] compact model: {n:,} parameters")


# -- report ----------------------------------------------------------------------------------
def report_inputs(run: PruneRun) -> dict[str, Any]:
    s = run.settings
    inputs = {"after": run.after("finetune" if run.uses("finetune") else "remove"),
              "lr_size": list(s.report_lr_size),
              "latency": [s.latency_frames, s.latency_repeats] if s.latency else "off",
              "val": to_plain(run.cfg.data.val), "device": run.device}
    if s.latency and s.latency_lr_size is not None:
        inputs["latency_lr_size"] = list(s.latency_lr_size)
    inputs["drift"] = ([s.drift_frames, list(s.drift_lr_size) if s.drift_lr_size else None]
                       if s.drift_frames else "off")
    return inputs


def report(run: PruneRun, stage: Stage) -> None:
    """Params, MACs, latency and PSNR/SSIM before and after; per-layer ratio plot."""
    s = run.settings
    selection = read_selection(run.path(SELECTION), stage.name)
    final = run.path("model.safetensors")
    compact = final if final.exists() else need(run.path("pruned.safetensors"), stage.name)
    before = run.path("pruned.safetensors") if final.exists() else None
    dense = load_model(run.dense)
    scores = stage.loss.scores(run, dense)
    scorer, facts = scores if scores is not None else (None, None)
    result = write_report(
        run.out, selection, run.dense, compact, before,
        lr_size=tuple(s.report_lr_size), device=run.device,
        latency_frames=s.latency_frames, latency_repeats=s.latency_repeats,
        latency=s.latency,
        latency_lr_size=tuple(s.latency_lr_size) if s.latency_lr_size else None,
        validate=validator(run.cfg, dense, run.device),
        temporal=temporal_drift(run, selection, dense, compact, before),
        fidelity=scorer, distill=facts, drift=long_drift(run, dense, compact),
        latency_target=target_latency(selection, compact, s))
    if run.show_report and not run.quiet:
        print(report_markdown(result), flush=True)


def target_latency(selection: dict[str, Any], compact: Path, s: Any) -> dict[str, Any] | None:
    """The latency target's row (budget, predicted, measured) or None without one."""
    target = selection.get("target") or {}
    if "latency" not in target:
        return None
    return report_latency(target, load_model(compact), s)


def temporal_drift(run: PruneRun, selection: dict[str, Any], dense: nn.Module, compact: Path,
                   before: Path | None) -> dict[str, Any] | None:
    """Per-frame drift from the dense model on the first validation clip (video models
    with validation data only)."""
    hidden = declared_hidden(dense)
    val = run.cfg.data.val
    if not hidden or val is None:
        return None
    clips, _ = val_clips(val, dense.config.scale, True)
    clip = clips[0]
    n = min(len(clip), val.max_frames or TEMPORAL_FRAMES, TEMPORAL_FRAMES)
    lr, gt = load_clip(clip, dense.config.scale, list(range(n)))
    models = {} if before is None else {"pruned (before finetune)": load_model(before)}
    models["compact"] = load_model(compact)
    errors = temporal_errors(dense, models, lr, gt, stream_kept(selection, hidden))
    return {"clip": clip.name, **errors}


def long_drift(run: PruneRun, dense: nn.Module, compact: Path) -> dict[str, Any] | None:
    """Per-frame PSNR of the compact model against the dense one over a long clip (the first
    validation clip played ping-pong to ``prune.drift_frames`` frames; video models with
    validation data only, ``drift_frames: 0`` switches it off)."""
    s, val = run.settings, run.cfg.data.val
    if not s.drift_frames or val is None or not is_video(dense):
        return None
    scale = dense.config.scale
    clip = val_clips(val, scale, True)[0][0]
    frames = long_clip(clip, scale, s.drift_frames, s.drift_lr_size)
    run.say(f"[report] temporal drift over {len(frames)} frames of {clip.name} (ping-pong)")
    start = time.perf_counter()
    result = model_drift(dense, load_model(compact), frames, run.device)
    return {**drift_record(clip.name, frames, result, "compact vs dense, PyTorch fp32"),
            "seconds": round(time.perf_counter() - start, 2)}

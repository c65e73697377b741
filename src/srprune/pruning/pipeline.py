"""``srprune prune``: select -> regularize -> remove -> finetune -> report, each stage resumable.

Every stage reads the previous stage's file from the output folder and writes its own, so any
stage can run alone and an interrupted run continues where it stopped:

    selection.json         units chosen for removal (select)
    regularized.safetensors  dense weights with the scales folded in (regularize; ASSL also
                           rewrites the streams' sets in selection.json when it aligns them)
    pruned.safetensors     the compact model before finetuning (remove)
    model.safetensors      the finetuned compact model (finetune)
    report.json, report.md, ratios.png (report)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srprune.errors import UserError
from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model, save_model
from srprune.models.registry import build_model
from srprune.pruning.config import PruneSettings, alignment_iters
from srprune.pruning.criteria import round_kept_units, score_groups, select_units
from srprune.pruning.groups import Group
from srprune.pruning.handles import gamma_handles, weight_norm_handles
from srprune.pruning.methods.recipe import Recipe
from srprune.pruning.regularizers import GrowingL2Schedule
from srprune.pruning.stages import StagedRun, has_checkpoint
from srprune.pruning.surgery import remove_units
from srprune.train.config import TrainConfig

STAGES = ("select", "regularize", "remove", "finetune", "report")


def effective_recipe(recipe: Recipe, s: PruneSettings) -> Recipe:
    """The recipe with the config's overrides applied."""
    changes: dict[str, Any] = {}
    for key in ("scope", "order", "residual", "pixel_shuffle", "temporal_finetune"):
        value = getattr(s, key)
        if value is not None:
            changes[key] = value
    return recipe.but(**changes)


def prunable_groups(model: nn.Module, recipe: Recipe) -> list[Group]:
    """The model's groups in the recipe's residual mode, minus switched-off roles."""
    groups = model.channel_groups(recipe.residual)
    if not recipe.pixel_shuffle:
        groups = [g for g in groups if g.role != "pixel_shuffle"]
    return groups


class PrunePipeline(StagedRun):
    """One pruning run in folder ``out``.

    Args:
        recipe: the method.
        settings: the ``prune`` section.
        train_config: data and finetuning settings (``model.file`` is the dense model).
        dense_path: the trained dense model (srprune ``.safetensors``).
        out: output folder.
        device: ``cpu`` / ``cuda``.
        quiet: no progress bars.
    """

    STAGES = STAGES
    DONE = {"select": "selection.json", "regularize": "regularized.safetensors",
            "remove": "pruned.safetensors", "finetune": "model.safetensors",
            "report": "report.json"}

    def __init__(self, recipe: Recipe, settings: PruneSettings, train_config: TrainConfig,
                 dense_path: Path, out: Path, device: str = "cpu", quiet: bool = False) -> None:
        self.recipe = effective_recipe(recipe, settings)
        self.s = settings
        self.cfg = train_config
        self.dense_path = Path(dense_path)
        self.out = Path(out)
        self.device = device
        self.quiet = quiet

    # -- files -------------------------------------------------------------------------------
    def _need(self, name: str, stage: str) -> Path:
        p = self.path(name)
        if not p.is_file():
            raise UserError(f"stage {stage} needs {p}; run the earlier stages first")
        return p

    def load_selection(self) -> dict[str, torch.Tensor]:
        data = json.loads(self._need("selection.json", "remove").read_text())
        return {g["group"]: torch.tensor(g["removed"], dtype=torch.long)
                for g in data["groups"]}

    # -- stages ------------------------------------------------------------------------------
    def select(self) -> None:
        """Score every unit of the dense model and choose the ones to remove."""
        model = load_model(self.dense_path)
        groups = prunable_groups(model, self.recipe)
        if not groups:
            raise UserError(f"{self.dense_path.name}: the model declares nothing to prune")
        scores = score_groups(model, groups, self.recipe.scorer)
        removed = round_kept_units(groups, scores, select_units(
            groups, scores, self.s.ratio, self.recipe.scope, self.recipe.order, self.s.seed),
            self.s.round_to)
        rows = [{"group": g.name, "role": g.role, "layer": g.layer, "units": g.units,
                 "removed": removed[g.name].tolist()} for g in groups]
        total = sum(g.units for g in groups)
        n = sum(len(v) for v in removed.values())
        payload = {"method": self.recipe.name, "ratio": self.s.ratio,
                   "recipe": {k: v for k, v in dataclasses.asdict(self.recipe).items()
                              if k != "scorer"},
                   "units": total, "removed": n, "groups": rows}
        write_text_atomic(self.path("selection.json"), json.dumps(payload, indent=1))
        self._say(f"[select] {n} of {total} units selected ({len(groups)} groups, "
                  f"{self.recipe.scope} {self.recipe.order})")

    def _trainer_config(self, iters: int, lr: float | None, out: Path) -> TrainConfig:
        """The regularisation run: ``iters`` at ``lr``, one cosine period, no EMA or flow
        warm-up (SPyNet is frozen there)."""
        cfg = self.cfg
        optim = cfg.optim if lr is None else dataclasses.replace(cfg.optim, lr=lr)
        loop = dataclasses.replace(cfg.train, iters=iters, ema=None)
        sched = dataclasses.replace(optim.scheduler, periods=None, restart_weights=None)
        optim = dataclasses.replace(optim, scheduler=sched, fix_flow_iters=0)
        return dataclasses.replace(cfg, optim=optim, train=loop, out=str(out))

    def _dataset(self, model: nn.Module) -> Any:
        from srprune.train.datasets import build_train_dataset

        return build_train_dataset(self.cfg.data, model.config.scale, model.is_video,
                                   self.cfg.train.seed)

    def _validator(self, model: nn.Module) -> Any:
        from srprune.train.validate import make_validator

        if self.cfg.data.val is None:
            return None
        return make_validator(self.cfg.data.val, model.config.scale, model.is_video,
                              self.device)

    def regularize(self) -> None:
        """Growing L2 on the selected units' scales (SSL's gammas or ASSL's weight-norm scales,
        with ASSL's alignment phase first), then fold the scales into plain weights.

        With nothing selected (ratio 0: the experiment's "dense + the same iterations" control)
        this is plain training with the same settings and length, with no scales attached.
        """
        model = load_model(self.dense_path)
        if not self.recipe.regularize:
            save_model(self.path("regularized.safetensors"), model,
                       {"stage": "regularize", "skipped": True})
            self._say("[regularize] not part of this method: dense weights carried over")
            return
        from srprune.train.loop import Trainer

        groups = prunable_groups(model, self.recipe)
        selected = self.load_selection()
        model.train()
        schedule = GrowingL2Schedule(self.s.delta, self.s.t1, self.s.tau, self.s.t2)
        iters = self.s.reg_iters or schedule.total_iters
        handles = None
        folder = self.path("regularize")
        resume = has_checkpoint(folder)
        if any(len(v) for v in selected.values()):
            if self.recipe.scales == "weight_norm":
                align = alignment_iters(self.s)
                iters += align
                handles = weight_norm_handles(
                    model, groups, selected, schedule, align, self.s.align_weight,
                    aligned=self._aligned_sets() if resume else None,
                    on_align=self._record_alignment)
            else:
                handles = gamma_handles(model, groups, selected, schedule)
        log: list[dict[str, float]] = []

        def record(step: int, logs: dict[str, float]) -> None:
            if handles and (step % max(1, self.cfg.train.log_every) == 0 or step == iters):
                log.append({"step": step, "alpha": schedule.alpha(step - 1),
                            **handles.status(model)})

        frozen = ["spynet"] if hasattr(model, "spynet") else []
        scale_lr = self.s.scale_lr or self.s.reg_lr

        def param_groups(m: nn.Module, optim: Any) -> list[dict[str, Any]]:
            """The usual groups, with the scales in their own group at ``scale_lr``."""
            from srprune.train.loop import default_param_groups

            scales = handles.params if handles else []
            ids = {id(p) for p in scales}
            groups = [{**g, "params": [p for p in g["params"] if id(p) not in ids]}
                      for g in default_param_groups(m, optim)]
            extra = [{"name": "scales", "params": scales, "lr": scale_lr or optim.lr}]
            return groups + (extra if scales else [])

        trainer = Trainer(model, self._dataset(model),
                          self._trainer_config(iters, self.s.reg_lr, folder),
                          terms=[handles.term] if handles else [], param_groups=param_groups,
                          frozen=frozen, callbacks=[record], device=self.device,
                          quiet=self.quiet, extra={"stage": "regularize"})
        trainer.fit(resume=resume)
        _log_gammas(folder, log)
        model = trainer.model
        status = handles.status(model) if handles else {}
        if handles:
            handles.fold(model)
        save_model(self.path("regularized.safetensors"), model.cpu(),
                   {"stage": "regularize", "iters": iters, **status})
        shown = ", ".join(f"{k} {v:.4f}" for k, v in status.items())
        self._say(f"[regularize] {iters} iterations" + (f"; {shown}" if shown else ""))

    def _aligned_sets(self) -> dict[str, torch.Tensor]:
        """Stream index sets an interrupted ASSL run already fixed (from selection.json)."""
        data = json.loads(self.path("selection.json").read_text())
        return {g["group"]: torch.tensor(g["removed"], dtype=torch.long)
                for g in data["groups"] if "aligned_to" in g}

    def _record_alignment(self, aligned: dict[str, torch.Tensor]) -> None:
        """Write the streams' shared index sets into selection.json (the per-layer choice
        before alignment is kept as ``removed_before_alignment``)."""
        path = self.path("selection.json")
        data = json.loads(path.read_text())
        for row in data["groups"]:
            if row["group"] in aligned:
                row.setdefault("removed_before_alignment", row["removed"])
                row["removed"] = aligned[row["group"]].tolist()
                row["aligned_to"] = "first writer"
        write_text_atomic(path, json.dumps(data, indent=1))

    def remove(self) -> None:
        """Physically remove the selected units (Scratch: from fresh random weights)."""
        model = load_model(self._need("regularized.safetensors", "remove"))
        if self.recipe.reinit:
            torch.manual_seed(self.s.seed)
            model = build_model(model.config)
        groups = prunable_groups(model, self.recipe)
        removed = self.load_selection()
        remove_units(model, groups, removed)
        save_model(self.path("pruned.safetensors"), model,
                   {"stage": "remove", "method": self.recipe.name, "ratio": self.s.ratio})
        n = sum(p.numel() for p in model.parameters())
        self._say(f"[remove] compact model: {n:,} parameters")

    def finetune(self) -> None:
        """Finetune the compact model (Charbonnier, + lambda_tf * L_tf with SSL)."""
        from srprune.train.loop import Trainer
        from srprune.train.terms import TemporalTerm

        model = load_model(self._need("pruned.safetensors", "finetune")).train()
        terms = []
        if self.recipe.temporal_finetune and getattr(model, "is_video", False) \
                and self.s.lambda_tf > 0:
            teacher = load_model(self.dense_path)
            terms.append(TemporalTerm(teacher, self.s.lambda_tf,
                                      kept=self._stream_kept(model)))
        iters = max(1, round(self.cfg.train.iters * self.recipe.finetune_factor))
        cfg = dataclasses.replace(self.cfg, out=str(self.path("finetune")),
                                  train=dataclasses.replace(self.cfg.train, iters=iters))
        trainer = Trainer(model, self._dataset(model), cfg, terms=terms,
                          validate=self._validator(model), device=self.device, quiet=self.quiet,
                          extra={"stage": "finetune", "method": self.recipe.name,
                                 "ratio": self.s.ratio})
        result = trainer.fit(resume=has_checkpoint(self.path("finetune")))
        final = load_model(result.model_path) if result.model_path else trainer.model
        save_model(self.path("model.safetensors"), final.cpu(),
                   {"method": self.recipe.name, "ratio": self.s.ratio, "finetune_iters": iters,
                    "dense": self.dense_path.name})
        self._say(f"[finetune] {iters} iterations -> {self.path('model.safetensors')}")

    def _stream_kept(self, model: nn.Module) -> dict[str, torch.Tensor] | None:
        """Kept hidden-state channels per direction when the recipe shrinks the streams."""
        if self.recipe.residual != "coupled":
            return None
        data = json.loads(self.path("selection.json").read_text())
        kept = {}
        for g in data["groups"]:
            if g["role"] == "stream":
                direction = "backward" if g["group"].startswith("backward") else "forward"
                keep = torch.ones(g["units"], dtype=torch.bool)
                keep[torch.tensor(g["removed"], dtype=torch.long)] = False
                kept[direction] = torch.nonzero(keep).flatten()
        return kept or None

    def report(self) -> None:
        """Params, MACs, latency and PSNR/SSIM before and after; per-layer ratio plot."""
        from srprune.pruning.report import write_report

        write_report(self)


def _log_gammas(folder: Path, log: list[dict[str, float]]) -> None:
    """Mean relative scale of selected vs kept units (and alpha, ASSL's mask agreement) over
    time, also to TensorBoard."""
    if not log:
        return
    write_text_atomic(folder / "gammas.json", json.dumps(log))
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # pragma: no cover - tensorboard is a dependency
        return
    with SummaryWriter(str(folder / "tb")) as w:
        for row in log:
            for key, value in row.items():
                if key != "step":
                    w.add_scalar(f"prune/{key}", value, row["step"])

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
from srprune.models.contract import flow_path, require
from srprune.models.registry import build_model
from srprune.pruning.config import PruneSettings, alignment_iters, settings_from_dict
from srprune.pruning.criteria import round_kept_units, score_groups, select_units
from srprune.pruning.groups import Group
from srprune.pruning.handles import gamma_handles, weight_norm_handles
from srprune.pruning.methods.recipe import Recipe
from srprune.pruning.regularizers import GrowingL2Schedule
from srprune.pruning.sizes import SizeModel
from srprune.pruning.surgery import remove_units
from srprune.pruning.targets import SizeTarget, fit_selection
from srprune.runs.common import one_period, train_dataset, training_inputs, validator
from srprune.runs.fingerprint import file_hash
from srprune.runs.stages import StagedRun, has_checkpoint
from srprune.train import distributed
from srprune.train.config import TrainConfig, apply_overrides, config_from_dict, read_yaml
from srprune.typed import to_plain

STAGES = ("select", "regularize", "remove", "finetune", "report")


def load_prune_config(path: Path, dense: Path, overrides: list[Any], ratio: float | None
                      ) -> tuple[PruneSettings, TrainConfig]:
    """(PruneSettings, TrainConfig) from a pruning YAML plus overrides (``KEY=VALUE`` strings
    or ``(KEY, value)`` pairs) and an optional ratio; ``model`` becomes ``{file: dense}``."""
    data = apply_overrides(read_yaml(path), overrides)
    data.pop("fmp", None)
    prune = data.pop("prune", None)
    if ratio is not None and (prune is None or isinstance(prune, dict)):
        prune = {**(prune or {}), "ratio": ratio}  # a malformed section is left to the checker
    data["model"] = {"file": str(dense)}
    try:
        return settings_from_dict(prune), config_from_dict(data)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def size_function(model: nn.Module, groups: list[Group], kind: str,
                  lr_size: tuple[int, int]) -> Any:
    """``removed -> size`` of the compact model: params, or MACs per frame at ``lr_size``
    (``macs``: without the flow network; ``macs+flow``: with one pass of it per frame)."""
    from srprune.profile import count_macs, flow_child

    sizes = SizeModel(model, lr_size)
    flow = 0.0
    if kind == "macs+flow":
        _, parts = count_macs(model, lr_size)
        flow = parts.get(flow_child(model), 0.0)

    def size(removed: dict[str, torch.Tensor]) -> float:
        if kind == "params":
            return sizes.params(groups, removed)
        return sizes.macs(groups, removed) + flow

    return size


def recipe_inputs(recipe: Recipe) -> dict[str, Any]:
    """The recipe as plain values (the scorer by its name)."""
    fields = {k: v for k, v in dataclasses.asdict(recipe).items() if k != "scorer"}
    return {**fields, "scorer": getattr(recipe.scorer, "__name__", repr(recipe.scorer))}


def effective_recipe(recipe: Recipe, s: PruneSettings) -> Recipe:
    """The recipe with the config's overrides applied."""
    changes: dict[str, Any] = {}
    for key in ("scope", "order", "residual", "pixel_shuffle", "temporal_finetune",
                "score_norm"):
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


def scored_groups(model: nn.Module, recipe: Recipe
                  ) -> tuple[list[Group], dict[str, torch.Tensor]]:
    """The recipe's groups of ``model`` and every unit's score under the recipe's scorer."""
    groups = prunable_groups(model, recipe)
    return groups, score_groups(model, groups, recipe.scorer, recipe.score_norm)


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
    TRAINING = {"regularize": "regularize", "finetune": "finetune"}
    ALL_RANKS = ("regularize", "finetune")

    def __init__(self, recipe: Recipe, settings: PruneSettings, train_config: TrainConfig,
                 dense_path: Path, out: Path, device: str = "cpu", quiet: bool = False,
                 on_change: str = "refuse") -> None:
        self.recipe = effective_recipe(recipe, settings)
        self.s = settings
        self.cfg = train_config
        self.dense_path = Path(dense_path)
        self.out = Path(out)
        self.device = device
        self.quiet = quiet
        self.on_change = on_change  # type: ignore[assignment]
        self.requested: list[str] = list(STAGES)
        self.env = distributed.detect()

    # -- fingerprints ------------------------------------------------------------------------
    def _dense_hash(self) -> str:
        if not self.dense_path.is_file():
            raise UserError(f"model file not found: {self.dense_path}")
        return file_hash(self.dense_path)

    def _removes_from_regularized(self) -> bool:
        """Whether remove reads regularize's output (else the dense weights: the regularize
        stage is neither asked for now nor finished under the current settings)."""
        return "regularize" in self.requested or self.is_current("regularize")

    def _finetuned(self) -> bool:
        return "finetune" in self.requested or self.is_current("finetune")

    def stage_inputs(self, stage: str) -> dict[str, Any]:
        """What each stage depends on; fingerprints chain through ``after``."""
        s = self.s
        if stage == "select":
            sized = s.target is not None and not s.target.startswith("ratio")
            return {"method": recipe_inputs(self.recipe), "dense": self._dense_hash(),
                    "ratio": s.ratio, "target": s.target, "seed": s.seed,
                    "round_to": s.round_to,
                    "target_lr_size": list(s.report_lr_size) if sized else None}
        if stage == "regularize":
            keys = ("delta", "t1", "tau", "t2", "reg_iters", "reg_lr", "scale_lr",
                    "align_iters", "align_weight")
            return {"after": self.after("select"), "dense": self._dense_hash(),
                    "prune": {k: getattr(s, k) for k in keys},
                    "training": training_inputs(self.cfg)}
        if stage == "remove":
            source = ({"after": self.after("regularize")} if self._removes_from_regularized()
                      else {"weights": "dense (regularize not run)",
                            "dense": self._dense_hash(), "selection": self.after("select")})
            return {**source, "reinit": self.recipe.reinit,
                    "seed": s.seed if self.recipe.reinit else None}
        if stage == "finetune":
            return {"after": self.after("remove"), "dense": self._dense_hash(),
                    "lambda_tf": s.lambda_tf, "finetune_factor": self.recipe.finetune_factor,
                    "temporal_finetune": self.recipe.temporal_finetune,
                    "training": training_inputs(self.cfg)}
        if stage == "report":
            inputs = {"after": self.after("finetune" if self._finetuned() else "remove"),
                      "lr_size": list(s.report_lr_size),
                      "latency": [s.latency_frames, s.latency_repeats] if s.latency else "off",
                      "val": to_plain(self.cfg.data.val), "device": self.device}
            if s.latency and s.latency_lr_size is not None:
                inputs["latency_lr_size"] = list(s.latency_lr_size)
            return inputs
        raise ValueError(stage)

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
        groups, scores = scored_groups(model, self.recipe)
        if not groups:
            raise UserError(f"{self.dense_path.name}: the model declares nothing to prune")
        total = sum(g.units for g in groups)

        def select(ratio: float) -> dict[str, torch.Tensor]:
            return select_units(groups, scores, ratio, self.recipe.scope, self.recipe.order,
                                self.s.seed)

        ratio, fit = self.s.ratio, None
        if self.s.target is not None:
            target = SizeTarget.parse(self.s.target)
            if target.kind == "ratio":
                ratio = target.value
            else:
                base = size_function(model, groups, target.kind, tuple(self.s.report_lr_size))

                def size(removed: dict[str, torch.Tensor]) -> float:  # sized as rounded
                    return base(round_kept_units(groups, scores, removed, self.s.round_to))

                fit = fit_selection(groups, scores, self.recipe.scope, self.recipe.order,
                                    self.s.seed, size, target.value)
                ratio = fit.ratio
        removed = select(ratio) if fit is None else fit.removed
        removed = round_kept_units(groups, scores, removed, self.s.round_to)
        rows = [{"group": g.name, "role": g.role, "layer": g.layer, "units": g.units,
                 "removed": removed[g.name].tolist()} for g in groups]
        n = sum(len(v) for v in removed.values())
        target_row = None if fit is None else {
            "target": self.s.target, "lr_size": list(self.s.report_lr_size),
            "achieved": fit.size, "relative_error": fit.relative_error}
        recipe = recipe_inputs(self.recipe)
        payload = {"method": self.recipe.name, "ratio": ratio, "target": target_row,
                   "recipe": recipe,
                   "scorer": {"name": recipe["scorer"], "norm": self.recipe.score_norm},
                   "fingerprint": self.fingerprint_of("select"),
                   "units": total, "removed": n, "groups": rows}
        write_text_atomic(self.path("selection.json"), json.dumps(payload, indent=1))
        self._say(f"[select] {n} of {total} units selected ({len(groups)} groups, "
                  f"{self.recipe.scope} {self.recipe.order})" + (
                      "" if fit is None else f"; target {self.s.target}: {fit.size:.4g} "
                      f"({100 * fit.relative_error:.2f} % off) at p = {ratio:.4f}"))

    def _dataset(self, model: nn.Module) -> Any:
        return train_dataset(self.cfg, model)

    def _validator(self, model: nn.Module) -> Any:
        return validator(self.cfg, model, self.device)

    def regularize(self) -> None:
        """Growing L2 on the selected units' scales (SSL's gammas or ASSL's weight-norm scales,
        with ASSL's alignment phase first), then fold the scales into plain weights.

        With nothing selected (ratio 0: the experiment's "dense + the same iterations" control)
        this is plain training with the same settings and length, with no scales attached.
        """
        model = load_model(self.dense_path)
        main = self.env.is_main
        if not self.recipe.regularize:
            if main:
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

        flow = flow_path(model)
        frozen = [flow] if flow else []
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
                          one_period(self.cfg, iters, folder, self.s.reg_lr),
                          terms=[handles.term] if handles else [], param_groups=param_groups,
                          frozen=frozen, callbacks=[record], device=self.device,
                          quiet=self.quiet, save_final=False, extra={"stage": "regularize"})
        trainer.fit(resume=resume)
        model = trainer.model
        status = handles.status(model) if handles else {}
        if not main:
            return
        _log_gammas(folder, log)
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
        before alignment is kept as ``removed_before_alignment``); rank 0 only."""
        if not self.env.is_main:
            return
        path = self.path("selection.json")
        data = json.loads(path.read_text())
        for row in data["groups"]:
            if row["group"] in aligned:
                row.setdefault("removed_before_alignment", row["removed"])
                row["removed"] = aligned[row["group"]].tolist()
                row["aligned_to"] = "first writer"
        write_text_atomic(path, json.dumps(data, indent=1))

    def remove(self) -> None:
        """Physically remove the selected units (Scratch: from fresh random weights).

        Reads the regularize stage's weights, or the dense weights when that stage is not run
        (``--stages select,remove``: one-shot removal without regularisation)."""
        if self._removes_from_regularized():
            model = load_model(self._need("regularized.safetensors", "remove"))
        else:
            model = load_model(self.dense_path)
            self._say("[remove] regularize not run: removing from the dense weights")
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
        if self.recipe.temporal_finetune and require(model).hidden_states \
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
        if not self.env.is_main:
            return
        final = load_model(result.model_path) if result.model_path else trainer.model
        save_model(self.path("model.safetensors"), final.cpu(),
                   {"method": self.recipe.name, "ratio": self.s.ratio, "finetune_iters": iters,
                    "dense": self.dense_path.name})
        self._say(f"[finetune] {iters} iterations -> {self.path('model.safetensors')}")

    def _stream_kept(self, model: nn.Module) -> dict[str, torch.Tensor] | None:
        """Kept channels of each hidden state whose width a pruned group sets (the model's
        ``hidden_states`` contract names the group)."""
        data = json.loads(self.path("selection.json").read_text())
        rows = {g["group"]: g for g in data["groups"]}
        kept = {}
        for state, group in require(model).hidden_states.items():
            g = rows.get(group) if group else None
            if g and g["removed"]:
                keep = torch.ones(g["units"], dtype=torch.bool)
                keep[torch.tensor(g["removed"], dtype=torch.long)] = False
                kept[state] = torch.nonzero(keep).flatten()
        return kept or None

    def report(self) -> None:
        """Params, MACs, latency and PSNR/SSIM before and after; per-layer ratio plot."""
        from srprune.runs.prune_report import write_report

        selection = json.loads(self._need("selection.json", "report").read_text())
        final = self.path("model.safetensors")
        compact = final if final.exists() else self._need("pruned.safetensors", "report")
        before = self.path("pruned.safetensors") if final.exists() else None
        dense = load_model(self.dense_path)
        report = write_report(
            self.out, selection, self.dense_path, compact, before,
            lr_size=tuple(self.s.report_lr_size), device=self.device,
            latency_frames=self.s.latency_frames, latency_repeats=self.s.latency_repeats,
            latency=self.s.latency,
            latency_lr_size=tuple(self.s.latency_lr_size) if self.s.latency_lr_size else None,
            validate=self._validator(dense), temporal=self._temporal(dense, compact, before))
        if not self.quiet:
            from srprune.runs.prune_report import report_markdown

            print(report_markdown(report), flush=True)


    TEMPORAL_FRAMES = 20

    def _temporal(self, dense: nn.Module, compact: Path, before: Path | None
                  ) -> dict[str, Any] | None:
        """Per-frame drift from the dense model on the first validation clip (video models
        with validation data only)."""
        if not require(dense).hidden_states or self.cfg.data.val is None:
            return None
        from srprune.data.layouts import load_clip
        from srprune.runs.propagation import temporal_errors
        from srprune.train.datasets import val_clips

        clips, _ = val_clips(self.cfg.data.val, dense.config.scale, True)
        clip = clips[0]
        n = min(len(clip), self.cfg.data.val.max_frames or self.TEMPORAL_FRAMES,
                self.TEMPORAL_FRAMES)
        lr, gt = load_clip(clip, dense.config.scale, list(range(n)))
        models = {} if before is None else {"pruned (before finetune)": load_model(before)}
        models["compact"] = load_model(compact)
        errors = temporal_errors(dense, models, lr, gt, self._stream_kept(dense))
        return {"clip": clip.name, **errors}


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

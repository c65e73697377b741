"""``srprune prune --method fmp``: search -> finetune -> report, each stage resumable.

FMP starts from an untrained network (the config's ``model.name``, or the architecture of
``--model``, whose trained weights then serve only as the report's reference row). Files in the
output folder:

    run.json                what produced each stage (fingerprints; see runs/stages.py)
    search/                 the search run (checkpoints, logs, TensorBoard) and history.json
    selection.json          removed units per group, weight densities, budgets reached
    pruned.safetensors      the extracted compact model (zeros stored sparsely)
    finetune/               the finetuning run
    model.safetensors       the finetuned compact model (zeros stored sparsely)
    report.json, report.md, ratios.png
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
from srprune.models.contract import require
from srprune.models.registry import build_model, config_from_name
from srprune.pruning.fmp.search import FMPSearch
from srprune.pruning.fmp.settings import FMPSettings
from srprune.runs.common import one_period, train_dataset, training_inputs, validator
from srprune.runs.fingerprint import file_hash
from srprune.runs.fmp_report import fmp_report_markdown, write_fmp_report
from srprune.runs.stages import StagedRun, has_checkpoint
from srprune.train.config import TrainConfig
from srprune.train.loop import Trainer
from srprune.typed import to_plain

STAGES = ("search", "finetune", "report")
DONE = {"search": "pruned.safetensors", "finetune": "model.safetensors", "report": "report.json"}


class ZeroProjection:
    """Trainer callback that keeps pruned weights exactly zero while finetuning."""

    def __init__(self, model: nn.Module) -> None:
        self.masks = {name: p != 0 for name, p in model.named_parameters()
                      if name.endswith("weight") and p.dim() > 1 and bool((p == 0).any())}
        self.params = dict(model.named_parameters())

    @torch.no_grad()
    def __call__(self, done: int, logs: dict[str, float]) -> None:
        for name, mask in self.masks.items():
            p = self.params[name]
            p.mul_(mask.to(p.device))


class FMPPipeline(StagedRun):
    """One FMP run in folder ``out`` (see the module docstring).

    Args:
        settings: the ``fmp`` section.
        train_config: data, optimiser and the finetuning run (``train.iters``).
        out: output folder.
        device: ``cpu`` / ``cuda``.
        quiet: no progress output.
    """

    STAGES = STAGES
    DONE = DONE
    TRAINING = {"search": "search", "finetune": "finetune"}

    def __init__(self, settings: FMPSettings, train_config: TrainConfig, out: Path,
                 device: str = "cpu", quiet: bool = False, on_change: str = "refuse") -> None:
        self.s = settings
        self.cfg = train_config
        self.out = Path(out)
        self.device = device
        self.quiet = quiet
        self.on_change = on_change  # type: ignore[assignment]
        self.requested: list[str] = list(STAGES)
        m = train_config.model
        if m.file is not None:
            self.reference_path: Path | None = Path(m.file)
            self.arch = load_model(m.file).config
        else:
            self.reference_path = None
            self.arch = config_from_name(m.name, m.scale)
        self.probe = require(build_model(self.arch))
        if self.probe.is_video or not self.probe.channel_groups(settings.residual):
            raise UserError(f"FMP prunes image-SR models with prunable channels; "
                            f"{self.arch.arch} is not one")

    # -- shared pieces -----------------------------------------------------------------------
    def _dataset(self) -> Any:
        return train_dataset(self.cfg, self.probe)

    def _validator(self) -> Any:
        return validator(self.cfg, self.probe, self.device)

    def stage_inputs(self, stage: str) -> dict[str, Any]:
        """What each stage depends on; fingerprints chain through ``after``."""
        if stage == "search":
            ref = self.cfg.model.file
            return {"method": "fmp", "fmp": to_plain(self.s),
                    "architecture": to_plain(self.arch),
                    "reference": file_hash(ref) if ref and Path(ref).is_file() else None,
                    "training": training_inputs(self.cfg)}
        if stage == "finetune":
            return {"after": self.after("search"), "training": training_inputs(self.cfg)}
        if stage == "report":
            finetuned = "finetune" in self.requested or self.is_current("finetune")
            return {"after": self.after("finetune" if finetuned else "search"),
                    "lr_size": list(self.lr_size()), "latency_repeats": self.s.latency_repeats,
                    "val": to_plain(self.cfg.data.val), "device": self.device}
        raise ValueError(stage)

    def lr_size(self) -> tuple[int, int]:
        return self.s.report_size(self.arch.scale)

    # -- stages ------------------------------------------------------------------------------
    def search(self) -> None:
        """Train through the hypernetwork until the budget is met, then extract."""
        torch.manual_seed(self.s.seed)
        model = build_model(self.arch)
        search = FMPSearch(model, self.s, self.lr_size())
        folder = self.path("search")
        history_file = folder / "history.json"
        resume = has_checkpoint(folder)
        if resume and history_file.is_file():
            search.history = json.loads(history_file.read_text())

        def keep_history(done: int, logs: dict[str, float]) -> None:
            n = len(search.history)
            try:
                search.after_step(done, logs)
            finally:
                if len(search.history) != n:
                    write_text_atomic(history_file, json.dumps(search.history))

        run_cfg = one_period(self.cfg, self.s.search_iters, folder, val_every=0)
        terms = [search.indicator_penalty] if self.s.weight_reg == "l2" else []
        trainer = Trainer(model, self._dataset(), run_cfg, terms=terms,
                          param_groups=lambda m, optim: search.param_groups(m, optim.lr),
                          callbacks=[keep_history],
                          device=self.device, quiet=self.quiet, save_final=False,
                          extra={"stage": "fmp-search"})
        result = trainer.fit(resume=resume)
        if history_file.is_file():
            search.history = json.loads(history_file.read_text())
        model.cpu()
        forced = not search.converged(search.ratios())
        if forced:
            search.complete()
            self._say(f"[search] budget not reached in {result.iters_done} iterations: "
                      "completed by removing the smallest latents/indicators (raise "
                      "fmp.lambda_c / fmp.lambda_w or fmp.search_iters to avoid this)")
        states = search.conv_states()
        achieved = {m: dataclasses.asdict(search.accountant.ratios(states, m))
                    for m in ("params", "flops")}
        dense, chan, nonzero = search.accountant.counts(states)
        selection = {
            "method": "fmp", "ratio": self.s.gamma_c + self.s.gamma_w,
            "settings": dataclasses.asdict(self.s), "architecture": dataclasses.asdict(self.arch),
            "fingerprint": self.fingerprint_of("search"),
            "search_iters_done": result.iters_done,
            "converged_at": None if forced else result.iters_done,
            "completed_by_force": forced, "achieved": achieved,
            "counts": {"dense": dataclasses.asdict(dense),
                       "channel_pruned": dataclasses.asdict(chan),
                       "nonzero": dataclasses.asdict(nonzero)},
            "lr_size": list(self.lr_size()), **search.selection()}
        compact = search.extract()
        write_text_atomic(self.path("selection.json"), json.dumps(selection, indent=1))
        _save_sparse(self.path("pruned.safetensors"), compact,
                     {"stage": "fmp-search", "method": "fmp"})
        r = achieved[self.s.metric]
        self._say(f"[search] {result.iters_done} iterations; {self.s.metric}: channel "
                  f"{r['channel']:.3f} + weight {r['weight']:.3f} pruned "
                  f"(target {self.s.criterion}: {self.s.gamma_c} + {self.s.gamma_w})")

    def finetune(self) -> None:
        """Finetune the compact model; removed weights stay exactly zero."""
        pruned = self.path("pruned.safetensors")
        if not pruned.is_file():
            raise UserError(f"stage finetune needs {pruned}; run the search stage first")
        model = load_model(pruned).train()
        folder = self.path("finetune")
        cfg = dataclasses.replace(self.cfg, out=str(folder))
        trainer = Trainer(model, self._dataset(), cfg, callbacks=[ZeroProjection(model)],
                          validate=self._validator(), device=self.device, quiet=self.quiet,
                          extra={"stage": "fmp-finetune", "method": "fmp"})
        result = trainer.fit(resume=has_checkpoint(folder))
        final = load_model(result.model_path) if result.model_path else trainer.model
        _save_sparse(self.path("model.safetensors"), final.cpu(),
                     {"method": "fmp", "finetune_iters": self.cfg.train.iters})
        self._say(f"[finetune] {self.cfg.train.iters} iterations -> "
                  f"{self.path('model.safetensors')}")

    def report(self) -> None:
        """Params, MACs (all and non-zero), latency, file size, PSNR/SSIM; budgets reached."""
        final = self.path("model.safetensors")
        compact = final if final.exists() else self.path("pruned.safetensors")
        if not compact.exists():
            raise UserError(f"stage report needs {compact}; run the search stage first")
        selection = json.loads(self.path("selection.json").read_text())
        report = write_fmp_report(
            self.out, selection, self.arch, self.reference_path, compact,
            self.path("pruned.safetensors") if final.exists() else None,
            lr_size=self.lr_size(), device=self.device, latency_repeats=self.s.latency_repeats,
            validate=self._validator())
        self._say(fmp_report_markdown(report))


def _save_sparse(path: Path, model: nn.Module, extra: dict[str, Any]) -> None:
    """Save with zeros stored sparsely."""
    save_model(path, model, extra, sparse=True)

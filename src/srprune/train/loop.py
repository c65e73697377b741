"""The training loop, shared by ``srprune train`` and by pruning methods' stages.

Everything a stage changes is passed in, not subclassed: the model and dataset, extra
:mod:`loss terms <srprune.train.terms>`, the parameter groups or frozen modules, callbacks and a
validation function. The trainer owns the optimiser (Adam), the learning-rate schedule, the
fixed-flow warm-up, EMA, gradient clipping, checkpoints (``out/checkpoints/last.pt``), logs
(``out/train_log.jsonl`` and TensorBoard under ``out/tb``) and the final ``out/model.safetensors``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from srprune.devices import resolve_device
from srprune.errors import UserError
from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import save_model
from srprune.models.contract import flow_network, is_video
from srprune.precision import autocast, check_precision, grad_scaler
from srprune.progress import Ticker, on_terminal
from srprune.protocols import LossTerm, ModelOutput, StopTraining, needs_hidden
from srprune.train import distributed
from srprune.train.batches import StepBatchSampler, StepKeyedDataset
from srprune.train.checkpoint import (
    LAST,
    capture_rng,
    checkpoint_dir,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from srprune.train.config import OptimConfig, TrainConfig, config_from_dict
from srprune.train.losses import charbonnier
from srprune.train.schedule import ConstantLR, CosineRestartLR, FlowWarmup

Callback = Callable[[int, dict[str, float]], None]
"""``on_step_end(iters_done, logs)``, right after each optimiser update, before the EMA update,
logging and the checkpoint (so weight changes it makes, e.g. a proximal step, are saved and
resumed). ``iters_done`` counts completed iterations (1 after the first update), the number in
``logs["iter"]``, the log files and checkpoints; ``logs`` has this rank's losses and the learning
rates. Loss terms, by contrast, receive the 0-based index of the iteration being computed."""
Validator = Callable[[nn.Module], dict[str, float]]
"""``validate(model) -> {"psnr": ..., "ssim": ...}``; called in eval mode without gradients."""
ParamGroupsFn = Callable[[nn.Module, OptimConfig], list[dict[str, Any]]]
"""Builds Adam parameter groups (each with ``params``, ``lr`` and optionally ``name``)."""
ReconstructionLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
BatchTransform = Callable[[dict[str, Any]], dict[str, Any]]
"""``prepare(batch) -> batch`` on the training device before the forward pass, e.g. a teacher's
output in place of ``gt`` (distillation); it runs without gradients."""



LOG_FILE = "train_log.jsonl"
MODEL_FILE = "model.safetensors"


def default_param_groups(model: nn.Module, optim: OptimConfig) -> list[dict[str, Any]]:
    """Two groups: ``main`` at ``optim.lr`` and, if the model has one, ``flow`` (its declared
    ``flow_net``) at ``optim.lr * optim.flow_lr_mult``. A multiplier of 0 leaves the flow
    network out of the optimiser altogether (a cosine schedule's ``eta_min`` would otherwise move
    it)."""
    flow = flow_network(model)
    flow_params = list(flow.parameters()) if isinstance(flow, nn.Module) else []
    flow_ids = {id(p) for p in flow_params}
    main = [p for p in model.parameters() if id(p) not in flow_ids]
    groups = [{"name": "main", "params": main, "lr": optim.lr}]
    if flow_params and optim.flow_lr_mult > 0:
        groups.append({"name": "flow", "params": flow_params,
                       "lr": optim.lr * optim.flow_lr_mult})
    return groups


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` leaves behind."""

    iters_done: int
    model_path: Path | None
    last_logs: dict[str, float] = field(default_factory=dict)
    last_val: dict[str, float] = field(default_factory=dict)
    stopped: bool = False


class Trainer:
    """Trains ``model`` on ``dataset`` as ``config`` says.

    Args:
        model: The module to train (moved to the device). Video models (``is_video``) receive
            ``batch["lq"]`` of shape (B,N,3,p,p), image models (B,3,p,p).
        dataset: Map-style dataset of dicts with ``lq`` and ``gt`` tensors (one sample each);
            with ``set_epoch`` it is called as ``set_epoch(step)`` before each item
            (see :mod:`srprune.train.batches`).
        config: The run's :class:`TrainConfig` (uses ``optim``, ``loss``, ``train``,
            ``data.batch_size``/``num_workers`` and ``out``).
        terms: Extra :class:`~srprune.train.terms.LossTerm` callables added to the loss.
        param_groups: Builder of Adam groups; default :func:`default_param_groups`.
        frozen: Submodules never trained here, by dotted name or as modules (e.g. the model's
            ``flow_net``).
        callbacks: ``on_step_end(iters_done, logs)`` after every update, on all ranks (see
            :data:`Callback`).
        validate: Scores a model on held-out data; run every ``train.val_every`` steps and at
            the end, on rank 0, on the EMA weights when EMA is on.
        reconstruction: Loss between output and ``gt``; default Charbonnier(``loss.eps``).
        prepare: Transforms each batch on the device before the forward pass (see
            :data:`BatchTransform`); the batch it returns needs ``lq`` and ``gt``.
        out: Run folder; default ``config.out``.
        device: Overrides ``config.train.device`` (already resolved: ``cpu``, ``cuda:N``).
        quiet: No progress bar and no log lines on stdout.
        env: Distributed environment; default from the torchrun variables.
        find_unused_parameters: Passed to DDP (for models with branches unused by the loss).
        extra: JSON facts stored in the final model file.
        save_final: Write ``out/model.safetensors`` at the end (off for models that are not
            srprune architectures, such as a hypernetwork-parametrised search model).
    """

    def __init__(self, model: nn.Module, dataset: Any, config: TrainConfig, *,
                 terms: Sequence[LossTerm] = (), param_groups: ParamGroupsFn | None = None,
                 frozen: Sequence[str | nn.Module] = (), callbacks: Sequence[Callback] = (),
                 validate: Validator | None = None,
                 reconstruction: ReconstructionLoss | None = None,
                 prepare: BatchTransform | None = None,
                 out: str | Path | None = None, device: str | None = None, quiet: bool = False,
                 env: distributed.DistEnv | None = None, find_unused_parameters: bool = False,
                 extra: Mapping[str, Any] | None = None, save_final: bool = True) -> None:
        self.config = config
        self.save_final = save_final
        self.model = model
        self.dataset = dataset
        self.terms = list(terms)
        self.param_groups = param_groups or default_param_groups
        self.frozen = list(frozen)
        self.callbacks = list(callbacks)
        self.validate = validate
        eps = config.loss.eps
        self.reconstruction = reconstruction or (lambda sr, gt: charbonnier(sr, gt, eps))
        self.prepare = prepare
        self.out = Path(out if out is not None else config.out)
        self.env = env or distributed.detect()
        self.device = device or _resolve_device(config.train.device)
        self.device = distributed.device_for(self.env, self.device)
        self.precision = config.train.precision
        check_precision(self.precision, self.device)
        self.scaler: torch.amp.GradScaler | None = None
        self.quiet = quiet
        self.find_unused_parameters = find_unused_parameters
        self.extra = dict(extra or {})
        self.ema: AveragedModel | None = None
        self._wrapped: nn.Module | None = None
        self._clock = (0.0, 0)  # (time, iteration) of the last log line

    # -- setup -------------------------------------------------------------------------------
    def _freeze(self) -> set[int]:
        frozen_ids: set[int] = set()
        for name in self.frozen:
            if isinstance(name, nn.Module):
                name.requires_grad_(False)
                frozen_ids |= {id(p) for p in name.parameters()}
                continue
            try:
                sub = self.model.get_submodule(name)
            except AttributeError:
                names = ", ".join(n for n, _ in self.model.named_children())
                raise UserError(f"cannot freeze {name!r}: no such submodule (top level: "
                                f"{names})") from None
            sub.requires_grad_(False)
            frozen_ids |= {id(p) for p in sub.parameters()}
        return frozen_ids

    def _optimizer(self, frozen_ids: set[int]) -> torch.optim.Optimizer:
        optim = self.config.optim
        groups = []
        for group in self.param_groups(self.model, optim):
            params = [p for p in group["params"] if id(p) not in frozen_ids]
            if params:
                groups.append({**group, "params": params})
        if not groups:
            raise UserError("nothing to train: every parameter is frozen")
        return torch.optim.Adam(groups, lr=optim.lr, betas=optim.betas,
                                weight_decay=optim.weight_decay)

    def _scheduler(self, optimizer: torch.optim.Optimizer) -> CosineRestartLR:
        sched = self.config.optim.scheduler
        if sched.name == "constant":
            return ConstantLR(optimizer)
        return CosineRestartLR(optimizer, self.config.periods, self.config.restart_weights,
                               sched.eta_min)

    def _flow_warmup(self, frozen_ids: set[int]) -> FlowWarmup:
        flow = flow_network(self.model)
        iters = self.config.optim.fix_flow_iters
        if not isinstance(flow, nn.Module) or iters == 0 or \
                any(id(p) in frozen_ids for p in flow.parameters()):
            return FlowWarmup(None, 0)
        return FlowWarmup(flow, iters)

    def _ema_model(self) -> nn.Module:
        """The weights that are validated and saved: EMA (buffers synced) or the live model."""
        if self.ema is None:
            return self.model
        with torch.no_grad():
            for b_ema, b in zip(self.ema.module.buffers(), self.model.buffers(), strict=True):
                b_ema.copy_(b)
        return self.ema.module

    # -- files -------------------------------------------------------------------------------
    def _open_log(self, start: int) -> None:
        path = self.out / LOG_FILE
        if not self.env.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        kept: list[str] = []
        if start > 0 and path.is_file():  # drop records past the checkpoint we resume from
            for line in path.read_text().splitlines():
                try:
                    if int(json.loads(line).get("iter", 0)) <= start:
                        kept.append(line)
                except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                    continue
        write_text_atomic(path, "".join(line + "\n" for line in kept))

    def _append_log(self, record: Mapping[str, Any]) -> None:
        if self.env.is_main:
            with open(self.out / LOG_FILE, "a") as f:
                f.write(json.dumps(record) + "\n")

    def _writer(self, start: int) -> Any:
        if not (self.env.is_main and self.config.train.tensorboard):
            return None
        from torch.utils.tensorboard import SummaryWriter  # slow import; only when used

        return SummaryWriter(str(self.out / "tb"), purge_step=start if start > 0 else None)

    def _state(self, optimizer: torch.optim.Optimizer, scheduler: CosineRestartLR,
               iters_done: int) -> dict[str, Any]:
        return {"iters_done": iters_done, "model": self.model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "ema": None if self.ema is None else self.ema.state_dict(),
                "scaler": None if self.scaler is None else self.scaler.state_dict(),
                "rng": capture_rng(), "config": self.config.to_dict()}

    # -- one step ------------------------------------------------------------------------------
    def _forward(self, lq: torch.Tensor, want_hidden: bool) -> ModelOutput:
        """The model's output under the run's autocast, cast back to fp32 for the losses."""
        assert self._wrapped is not None
        with autocast(self.precision, self.device):
            if want_hidden:
                sr, hidden = self._wrapped(lq, return_hidden=True)
            else:
                sr, hidden = self._wrapped(lq), None
        if hidden is not None:
            hidden = {k: v.float() for k, v in hidden.items()}
        return ModelOutput(sr.float(), hidden)

    def _check_batch(self, batch: Mapping[str, Any]) -> None:
        for key in ("lq", "gt"):
            if key not in batch:
                raise UserError(f"training batches need {key!r}; got keys {sorted(batch)}")
        video = is_video(self.model)
        if video and batch["lq"].dim() != 5:
            raise UserError(f"a video model needs (B,N,3,h,w) LR batches, got "
                            f"{tuple(batch['lq'].shape)}")
        if not video and batch["lq"].dim() != 4:
            raise UserError(f"an image model needs (B,3,h,w) LR batches, got "
                            f"{tuple(batch['lq'].shape)}")

    # -- the run -----------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        """Train to ``config.train.iters`` steps, from scratch or from ``out/checkpoints``.

        Args:
            resume: Continue from ``out/checkpoints/last.pt`` (UserError if absent). Without it,
                an existing checkpoint in ``out`` is an error rather than overwritten.

        Returns:
            A :class:`TrainResult`.
        """
        cfg, env = self.config, self.env
        ckpt = checkpoint_dir(self.out) / LAST
        if not resume and ckpt.is_file():
            raise UserError(f"{self.out} already holds a training checkpoint; pass --resume to "
                            "continue it or choose another output folder")
        if cfg.data.batch_size % env.world_size:
            raise UserError(f"data.batch_size {cfg.data.batch_size} must be divisible by the "
                            f"number of processes ({env.world_size})")
        distributed.init(env, self.device)
        self.model.to(self.device)
        if self.device.startswith("cuda"):  # NHWC weights: cuDNN's faster layout
            self.model.to(memory_format=torch.channels_last)
        self.scaler = grad_scaler(self.precision, self.device)
        frozen_ids = self._freeze()
        optimizer = self._optimizer(frozen_ids)
        scheduler = self._scheduler(optimizer)
        warmup = self._flow_warmup(frozen_ids)
        if cfg.train.ema is not None:
            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.train.ema),
                                     use_buffers=False)
        start = 0
        if resume:
            state = load_checkpoint(ckpt, map_location=self.device)
            try:
                self.model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                if self.ema is not None and state["ema"] is not None:
                    self.ema.load_state_dict(state["ema"])
                if self.scaler is not None and state.get("scaler") is not None:
                    self.scaler.load_state_dict(state["scaler"])
            except (RuntimeError, ValueError, KeyError) as e:
                raise UserError(f"{ckpt} does not match this model/optimiser setup "
                                f"({str(e).splitlines()[0]})") from None
            scheduler.load_state_dict(state["scheduler"])
            restore_rng(state["rng"])
            start = int(state["iters_done"])
            changed = config_changes(state.get("config"), cfg)
            if changed and env.is_main and not self.quiet:
                print(f"note: resuming at iteration {start} with changed settings "
                      f"({', '.join(changed)}); the run will differ from an uninterrupted one",
                      file=sys.stderr)
        self._open_log(start)
        writer = self._writer(start)
        try:
            result = self._run(start, optimizer, scheduler, warmup, writer)
        finally:
            if writer is not None:
                writer.close()
            self._wrapped = None
        distributed.barrier(env)
        return result

    def _loader(self, start: int) -> DataLoader:
        cfg, env = self.config, self.env
        sampler = StepBatchSampler(len(self.dataset), cfg.data.batch_size, cfg.train.seed,
                                   start, cfg.train.iters, env.rank, env.world_size)
        return DataLoader(StepKeyedDataset(self.dataset, cfg.train.seed), batch_sampler=sampler,
                          num_workers=cfg.data.num_workers,
                          pin_memory=self.device.startswith("cuda"))

    def _run(self, start: int, optimizer: torch.optim.Optimizer, scheduler: CosineRestartLR,
             warmup: FlowWarmup, writer: Any) -> TrainResult:
        """The iterations from ``start`` on: step, log, validate and checkpoint; then the final
        model file."""
        loop = self.config.train
        want_hidden = any(needs_hidden(t) for t in self.terms) and is_video(self.model)
        result = TrainResult(iters_done=start, model_path=None)
        bar = self._bar(start)
        ticker = None if bar is not None or self.quiet or not self.env.is_main \
            else Ticker(loop.iters, start)
        self._clock = (time.perf_counter(), start)
        try:
            for step, batch in zip(range(start, loop.iters), self._loader(start), strict=False):
                if warmup.apply(step) or self._wrapped is None:
                    self._wrapped = None  # drop the old DDP reducer before wrapping again
                    self._wrapped = distributed.wrap(self.model, self.env, self.device,
                                                     self.find_unused_parameters)
                logs = self._step(step, batch, optimizer, scheduler, want_hidden,
                                  check=step == start)
                done = step + 1
                # callbacks may change the weights (e.g. a proximal step): before EMA/checkpoint
                result.stopped = self._callbacks(done, logs)
                last = done == loop.iters or result.stopped
                if self.ema is not None:
                    self.ema.update_parameters(self.model)
                result.iters_done = done
                if done % loop.log_every == 0 or last:
                    result.last_logs = self._log(done, logs, writer, bar)
                    if ticker is not None:
                        self._say_progress(done, ticker, result.last_logs)
                elif ticker is not None and ticker.due(done):
                    self._say_progress(done, ticker, None)
                self._validate_and_checkpoint(done, last, optimizer, scheduler, writer, result)
                if bar is not None:
                    bar.update(1)
                if result.stopped:
                    break
        finally:
            if bar is not None:
                bar.close()
        finished = result.iters_done >= loop.iters or result.stopped
        if finished and self.save_final and self.env.is_main:
            result.model_path = self.out / MODEL_FILE
            extra = {"trained_iters": result.iters_done, "ema": self.ema is not None,
                     **({"val": result.last_val} if result.last_val else {}), **self.extra}
            save_model(result.model_path, self._ema_model(), extra=extra)
        return result

    def _bar(self, start: int) -> Any:
        """A tqdm bar on a terminal (rank 0, not quiet), else None (then progress lines)."""
        if self.quiet or not self.env.is_main or not on_terminal():
            return None
        from tqdm import tqdm

        return tqdm(total=self.config.train.iters, initial=start, dynamic_ncols=True,
                    desc=str(self.extra.get("stage", "train")))

    def _say_progress(self, done: int, ticker: Ticker, record: Mapping[str, Any] | None
                      ) -> None:
        """A progress line on stdout (no terminal): the iteration, the logged losses when
        ``record`` is this step's log record, the time elapsed and the time left."""
        stage = self.extra.get("stage")
        head = f"[{stage}] " if stage else ""
        logged = "" if record is None else (
            f"  loss {record['loss']:.5f}  lr {record['lr']:.3g}  "
            f"{record['sec_per_iter']:.2f} s/it")
        print(f"{head}iter {done}/{self.config.train.iters}{logged}  {ticker.timing(done)}",
              flush=True)

    def _losses(self, batch: Mapping[str, Any], output: ModelOutput, step: int
                ) -> dict[str, torch.Tensor]:
        """The named losses of one step: the reconstruction loss against ``batch["gt"]``, then
        every term's."""
        losses = {"charbonnier": self.reconstruction(output.sr, batch["gt"])}
        for term in self.terms:
            for name, value in term(self.model, batch, output, step).items():
                if name in losses:
                    raise ValueError(f"two loss terms are both named {name!r}")
                losses[name] = value
        return losses

    def _step(self, step: int, batch: Mapping[str, Any], optimizer: torch.optim.Optimizer,
              scheduler: CosineRestartLR, want_hidden: bool, check: bool = False
              ) -> dict[str, float]:
        """One optimiser update on ``batch`` (checked first with ``check``); its logs (losses,
        learning rates, grad norm)."""
        loop = self.config.train
        batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v
                 for k, v in batch.items()}
        if self.prepare is not None:
            with torch.no_grad():
                batch = self.prepare(batch)
        if check:
            self._check_batch(batch)
        self.model.train()
        output = self._forward(batch["lq"], want_hidden)
        losses = self._losses(batch, output, step)
        total = torch.stack([v.reshape(()) for v in losses.values()]).sum()
        optimizer.zero_grad(set_to_none=True)
        scaler = self.scaler
        (scaler.scale(total) if scaler is not None else total).backward()
        logs: dict[str, float] = {}
        if loop.grad_clip is not None:
            if scaler is not None:
                scaler.unscale_(optimizer)
            params = [p for g in optimizer.param_groups for p in g["params"]
                      if p.grad is not None]
            logs["grad_norm"] = float(nn.utils.clip_grad_norm_(params, loop.grad_clip))
        if scaler is not None:  # fp16: skips the step when the gradients overflowed
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        for i, group in enumerate(optimizer.param_groups):
            logs[f"lr/{group.get('name', f'group{i}')}"] = float(group["lr"])
        scheduler.step()
        logs["loss"] = float(total.detach())
        logs.update({f"loss/{k}": float(v.detach()) for k, v in losses.items()})
        if not math.isfinite(logs["loss"]):
            raise UserError(f"training diverged: loss is {logs['loss']} at iteration "
                            f"{step + 1}; lower optim.lr or set train.grad_clip")
        return logs

    def _callbacks(self, done: int, logs: dict[str, float]) -> bool:
        """Run the callbacks; whether one asked to stop (:class:`StopTraining`)."""
        stopped = False
        for callback in self.callbacks:
            try:
                callback(done, {"iter": done, **logs})
            except StopTraining:
                stopped = True
        return stopped

    def _log(self, done: int, logs: dict[str, float], writer: Any, bar: Any
             ) -> dict[str, float]:
        """Average ``logs`` over the ranks and write them (log file, TensorBoard, the bar); the
        record written."""
        logs = distributed.mean_over_ranks(logs, self.env)
        now = time.perf_counter()
        tic, last_logged = self._clock
        logs["sec_per_iter"] = (now - tic) / max(1, done - last_logged)
        self._clock = (now, done)
        lr = next(v for k, v in logs.items() if k.startswith("lr/"))
        record = {"iter": done, "loss": logs.pop("loss"), "lr": lr, **logs}
        self._append_log(record)
        if writer is not None:
            for key, value in record.items():
                if key != "iter":
                    writer.add_scalar(key, value, done)
        if bar is not None:
            bar.set_postfix(loss=f"{record['loss']:.4f}")
        return record

    def _validate_and_checkpoint(self, done: int, last: bool, optimizer: torch.optim.Optimizer,
                                 scheduler: CosineRestartLR, writer: Any,
                                 result: TrainResult) -> None:
        """Validation (rank 0) and the checkpoint at their cadence and after the last step."""
        loop, env = self.config.train, self.env
        if self.validate is not None and env.is_main and (
                last or (loop.val_every and done % loop.val_every == 0)):
            result.last_val = self._run_validation(done, writer)
        if last or (loop.ckpt_every and done % loop.ckpt_every == 0):
            if env.is_main:
                save_checkpoint(self.out, self._state(optimizer, scheduler, done),
                                keep_copy=loop.keep_ckpts)
            distributed.barrier(env)

    def _run_validation(self, done: int, writer: Any) -> dict[str, float]:
        assert self.validate is not None
        model = self._ema_model()
        was_training = model.training
        model.eval()
        with torch.no_grad():
            val = {k: float(v) for k, v in self.validate(model).items()}
        model.train(was_training)
        self._append_log({"iter": done, **{f"val/{k}": v for k, v in val.items()}})
        if writer is not None:
            for key, value in val.items():
                writer.add_scalar(f"val/{key}", value, done)
        if not self.quiet:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in val.items())
            print(f"iter {done}: validation {shown}", flush=True)
        return val


# Settings that do not change what is trained when they differ on resume.
_NEUTRAL = ("out", "train.iters", "train.device", "train.val_every", "train.ckpt_every",
            "train.log_every", "train.tensorboard", "train.keep_ckpts", "data.num_workers",
            "data.cache", "data.val")


def config_changes(saved: Mapping[str, Any] | None, current: TrainConfig) -> list[str]:
    """Dotted keys whose values differ between a checkpoint's config and ``current`` (ignoring
    cadence, device and output settings); the resolved scheduler periods count as well."""
    if not isinstance(saved, Mapping):
        return []

    def flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            key = f"{prefix}{k}"
            if any(key == n or key.startswith(n + ".") for n in _NEUTRAL):
                continue
            out.update(flat(v, key + ".") if isinstance(v, Mapping) else {key: v})
        return out

    old, new = flat(saved), flat(current.to_dict())
    old.setdefault("train.precision", "fp32")  # checkpoints from before the key
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    try:
        old_cfg = config_from_dict(saved)
        if old_cfg.periods != current.periods and "optim.scheduler.periods" not in changed:
            changed.append("optim.scheduler.periods (follows train.iters)")
    except UserError:
        pass
    return changed


def _resolve_device(name: str) -> str:
    return resolve_device(name)

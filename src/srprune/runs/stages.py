"""What every staged run shares: an output folder, a record of what produced each stage, and
the rules for reruns.

Each stage's inputs (settings, recipe, input-file hashes, the fingerprint of the stage it reads
from, srprune's version) are hashed into a fingerprint and recorded in ``OUT/run.json`` when the
stage finishes (and, for training stages, when they start, so an interrupted stage resumes only
under the same settings). Fingerprints chain, so a change anywhere reaches every later stage.

Rules for a requested stage:

* recorded with the same fingerprint and its output present: skipped ("done already");
* never run: run;
* recorded with another fingerprint, or its output present with no record: **refused** with
  one line naming what changed, unless ``force`` (redo every requested stage) or
  ``on_change="redo"`` (redo exactly the stages whose inputs changed; the experiment runner's
  mode). A redone training stage starts over: its old checkpoints are removed.

Under torchrun (several processes) rank 0 makes every decision above, keeps ``run.json`` and
runs the stages that are not in ``ALL_RANKS``; it broadcasts what it decided and whether its
stage succeeded, and the stages in ``ALL_RANKS`` (training, with DistributedDataParallel) run
on every rank. ``OUT`` must be one folder that every rank sees (a shared filesystem across
machines).

A run that fails or is refused leaves in ``OUT`` only what a rerun resumes from: the outputs
of the stages it finished, training folders holding a checkpoint, and ``run.json`` recording
them; everything else it created there is removed (``OUT`` too, when it made it and keeps
nothing).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from srprune import __version__
from srprune.errors import UserError
from srprune.io.atomic import write_text_atomic
from srprune.io.bounded_json import read_json
from srprune.io.leftovers import cleaned_on_failure
from srprune.progress import clock_text
from srprune.runs.fingerprint import changes, fingerprint
from srprune.train import distributed
from srprune.train.checkpoint import LAST, checkpoint_dir

MANIFEST = "run.json"
OnChange = Literal["refuse", "redo"]


class StagedRun:
    """Base of :class:`~srprune.runs.prune.PrunePipeline` and FMP's pipeline.

    Subclasses set ``STAGES`` (in order), ``DONE`` (``{stage: the file it leaves}``),
    ``TRAINING`` (``{stage: its run folder}`` for stages that checkpoint), ``out`` and
    ``quiet``, give each stage a method of its name (or override :meth:`execute`), and say
    what each stage depends on in :meth:`stage_inputs`.
    """

    STAGES: tuple[str, ...] = ()
    DONE: dict[str, str] = {}
    TRAINING: dict[str, str] = {}
    ALL_RANKS: tuple[str, ...] = ()
    """Stages every torchrun rank runs (DDP training); the others run on rank 0 only."""
    env: distributed.DistEnv = distributed.DistEnv()
    out: Path
    quiet: bool
    on_change: OnChange = "refuse"

    # -- what subclasses provide ---------------------------------------------------------------
    def stage_inputs(self, stage: str) -> dict[str, Any]:
        """Everything ``stage`` depends on (plain JSON values). Use :meth:`after` for the stage
        whose output it reads."""
        raise NotImplementedError

    def execute(self, stage: str) -> None:
        """Run ``stage`` itself (default: the method of its name)."""
        getattr(self, stage)()

    # -- records -------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.out / name

    def _say(self, text: str) -> None:
        if not self.quiet and self.env.is_main:
            print(text, flush=True)

    def _manifest(self) -> dict[str, Any]:
        path = self.path(MANIFEST)
        if not path.is_file():
            return {"format": "srprune-run", "stages": {}}
        try:
            data = read_json(path)
            if not isinstance(data.get("stages"), dict):
                raise ValueError("no stages")
            return data
        except (ValueError, AttributeError, OSError) as e:
            raise UserError(f"{path} is damaged ({e}); remove it or choose another "
                            "--out") from None

    def _write_manifest(self, data: dict[str, Any]) -> None:
        write_text_atomic(self.path(MANIFEST), json.dumps(data, indent=1))

    def record(self, stage: str) -> dict[str, Any] | None:
        """The recorded entry of ``stage`` (None if never run here)."""
        return self._manifest()["stages"].get(stage)

    def _store(self, stage: str, inputs: dict[str, Any], state: str) -> None:
        data = self._manifest()
        data["stages"][stage] = {"fingerprint": fingerprint(inputs), "state": state,
                                 "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                 "inputs": inputs}
        self._write_manifest(data)

    def fingerprint_of(self, stage: str) -> str:
        """The fingerprint ``stage`` has under the current settings."""
        return fingerprint(self.full_inputs(stage))

    def full_inputs(self, stage: str) -> dict[str, Any]:
        """``stage_inputs`` plus the stage name and srprune's version."""
        return {"stage": stage, "srprune": __version__, **self.stage_inputs(stage)}

    def after(self, stage: str) -> str:
        """Fingerprint of the upstream ``stage`` under the current settings (chains reruns)."""
        return self.fingerprint_of(stage)

    def is_current(self, stage: str) -> bool:
        """Whether ``stage`` finished under the current settings and its output is present."""
        rec = self.record(stage)
        return bool(rec and rec.get("state") == "done"
                    and rec.get("fingerprint") == self.fingerprint_of(stage)
                    and self.path(self.DONE[stage]).exists())

    # -- running -------------------------------------------------------------------------------
    def run(self, stages: Sequence[str] | None = None, force: bool = False) -> None:
        """Run the requested stages (default: all) in order, under the rules above."""
        stages = list(self.STAGES if stages is None else stages)
        unknown = [s for s in stages if s not in self.STAGES]
        if unknown:
            raise UserError(f"unknown stage(s) {', '.join(unknown)}; stages: "
                            f"{', '.join(self.STAGES)}")
        if not stages:
            raise UserError(f"no stage given; stages: {', '.join(self.STAGES)}")
        if self.out.exists() and not self.out.is_dir():
            raise UserError(f"--out {self.out} is a file, not a folder")
        if self.env.enabled:  # join the process group (gloo on CPU, nccl on CUDA)
            distributed.init(self.env, distributed.device_for(
                self.env, getattr(self, "device", "cpu")))
        with cleaned_on_failure(self.out, self._resumable, enabled=self.env.is_main):
            if self.env.is_main:
                self.out.mkdir(parents=True, exist_ok=True)
            self.requested = stages
            self._started = time.monotonic()
            for stage in self.STAGES:
                if stage in stages:
                    if self.env.enabled:
                        self._run_stage_distributed(stage, force)
                    else:
                        self._run_stage(stage, force)

    def _resumable(self, entry: Path) -> bool:
        """Whether ``entry``, new in OUT when a run failed, is state a rerun resumes from (and
        so stays): a finished stage's output, a training stage's folder holding a checkpoint,
        or ``run.json`` recording either (see the module docstring)."""
        try:
            stages = self._manifest()["stages"]
        except UserError:
            return False
        done = {self.DONE[s] for s, rec in stages.items()
                if s in self.DONE and isinstance(rec, dict) and rec.get("state") == "done"}
        folders = {f for f in self.TRAINING.values() if has_checkpoint(self.path(f))}
        if entry.name == MANIFEST:
            return bool(done or folders)
        return entry.name in done or entry.name in folders

    def _announce(self, stage: str) -> None:
        """``[stage] running (2 of 5 requested; 0:00:12 since the run started)``."""
        order = [s for s in self.STAGES if s in self.requested]
        since = clock_text(time.monotonic() - getattr(self, "_started", time.monotonic()))
        self._say(f"[{stage}] running ({order.index(stage) + 1} of {len(order)} requested; "
                  f"{since} since the run started)")

    def _run_stage_distributed(self, stage: str, force: bool) -> None:
        """One stage under torchrun: rank 0 decides and keeps the records (see the module
        docstring); an error on rank 0 is raised on every rank instead of hanging them."""
        env = self.env
        started: dict[str, Any] | None = None
        decision: tuple[str, str] = ("run", "")
        if env.is_main:
            try:
                started = self._start_stage(stage, force)
                decision = ("run", "") if started is not None else ("skip", "")
            except UserError as e:
                decision = ("error", str(e))
        decision = distributed.broadcast_from_main(decision, env)
        if decision[0] == "error":
            raise UserError(decision[1])
        if decision[0] == "skip":
            return
        outcome: tuple[str, str] = ("ok", "")
        self._announce(stage)
        if stage in self.ALL_RANKS:
            self.execute(stage)
        elif env.is_main:
            try:
                self.execute(stage)
            except UserError as e:
                outcome = ("error", str(e))
            except BaseException as e:  # a bug: tell the other ranks, keep the traceback here
                distributed.broadcast_from_main(("error", f"rank 0 failed in stage {stage}: "
                                                 f"{type(e).__name__}"), env)
                raise
        outcome = distributed.broadcast_from_main(outcome, env)
        if outcome[0] == "error":
            raise UserError(outcome[1])
        if env.is_main and started is not None:
            self._store(stage, started, "done")
        distributed.barrier(env)

    def _run_stage(self, stage: str, force: bool) -> None:
        inputs = self._start_stage(stage, force)
        if inputs is None:
            return
        self._announce(stage)
        self.execute(stage)
        self._store(stage, inputs, "done")

    def _start_stage(self, stage: str, force: bool) -> dict[str, Any] | None:
        """Apply the rerun rules: None to skip ``stage``, else its inputs (recorded as started;
        a redone training stage's folder removed)."""
        inputs = self.full_inputs(stage)
        fp = fingerprint(inputs)
        rec = self.record(stage)
        output = self.path(self.DONE[stage])
        folder = self.path(self.TRAINING[stage]) if stage in self.TRAINING else None
        if rec and rec.get("fingerprint") == fp:
            if rec.get("state") == "done" and output.exists() and not force:
                self._say(f"[{stage}] done already ({self.DONE[stage]}, "
                          f"fingerprint {fp[:12]})")
                return None
        elif (rec or output.exists() or (folder and folder.exists())) and not force:
            what = (changes(rec.get("inputs", {}), inputs) if rec else
                    f"{output.name if output.exists() else folder} exists with no record of "
                    "what produced it")
            if self.on_change == "refuse":
                raise UserError(f"{self.out}: stage {stage} was made with other settings "
                                f"({what}); use --force to redo it and the stages after it, "
                                "or another --out")
            self._say(f"[{stage}] settings changed ({what}): redoing it")
            force = True
        if force and folder is not None and folder.exists():
            shutil.rmtree(folder)  # a redone training stage starts over, never resumes
        self._store(stage, inputs, "started")
        return inputs


def has_checkpoint(folder: Path) -> bool:
    """Whether a training stage was interrupted in ``folder`` (then it resumes)."""
    return (checkpoint_dir(folder) / LAST).is_file()

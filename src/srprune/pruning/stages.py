"""What every staged pruning run shares: an output folder, stages skipped once their file
exists, progress lines, and resuming an interrupted training stage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from srprune.errors import UserError


class StagedRun:
    """Base of :class:`~srprune.pruning.pipeline.PrunePipeline` and FMP's pipeline.

    Subclasses set ``STAGES`` (in order), ``DONE`` (``{stage: the file it leaves}``), and
    ``out`` / ``quiet``, and give each stage a method of its name.
    """

    STAGES: tuple[str, ...] = ()
    DONE: dict[str, str] = {}
    out: Path
    quiet: bool

    def path(self, name: str) -> Path:
        return self.out / name

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def run(self, stages: Sequence[str] | None = None, force: bool = False) -> None:
        """Run the given stages (default: all) in order; finished stages are skipped unless
        ``force``."""
        stages = self.STAGES if stages is None else stages
        unknown = [s for s in stages if s not in self.STAGES]
        if unknown:
            raise UserError(f"unknown stage(s) {', '.join(unknown)}; stages: "
                            f"{', '.join(self.STAGES)}")
        self.out.mkdir(parents=True, exist_ok=True)
        for stage in self.STAGES:
            if stage not in stages:
                continue
            if not force and self.path(self.DONE[stage]).exists():
                self._say(f"[{stage}] done already ({self.DONE[stage]})")
                continue
            getattr(self, stage)()


def has_checkpoint(folder: Path) -> bool:
    """Whether a training stage was interrupted in ``folder`` (then it resumes)."""
    from srprune.train.checkpoint import LAST, checkpoint_dir

    return (checkpoint_dir(folder) / LAST).is_file()

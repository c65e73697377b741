"""Progress a user sees when stderr is no terminal (issue 21): lines with the elapsed time and
an ETA from train, the prune stages, the experiment and the demo's stated duration."""

from __future__ import annotations

import re
from pathlib import Path

from srprune.cli import main
from srprune.demo import DemoOptions, expected_duration
from srprune.progress import Ticker, clock_text

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TIMING = re.compile(r"elapsed \d+:\d\d:\d\d  ETA (\d+:\d\d:\d\d|unknown)")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ticker_is_due_first_then_every_interval_and_at_the_end() -> None:
    clock = FakeClock()
    t = Ticker(total=10, done=2, interval=30.0, clock=clock)
    assert t.due(3)
    clock.now += 10
    assert t.timing(3) == "elapsed 0:00:10  ETA 0:01:10"  # 10 s per step, 7 steps left
    clock.now += 29
    assert not t.due(4)
    clock.now += 1
    assert t.due(4)
    assert t.timing(4) == "elapsed 0:00:40  ETA 0:02:00"  # 20 s per step, 6 left
    assert t.due(10) and t.timing(10).endswith("ETA 0:00:00")
    assert clock_text(3725) == "1:02:05"


def test_train_prints_progress_lines_when_stderr_is_no_terminal(tmp_path: Path, capsys) -> None:
    # log_every beyond the run: only the progress lines speak (the demo's old silence)
    code = main(["train", "--config", str(CONFIGS / "tiny_edsr.yaml"), "--out",
                 str(tmp_path / "run"), "--iters", "3", "--device", "cpu", "--set",
                 "train.log_every=1000", "--set", "data.val=null", "--set",
                 "model.name=edsr-1-4", "--set", "data.batch_size=1"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    lines = [line for line in out if line.startswith("iter ")]
    assert lines[0].startswith("iter 1/3") and TIMING.search(lines[0]), out
    assert lines[-1].startswith("iter 3/3") and lines[-1].endswith("ETA 0:00:00"), out


def test_prune_stages_say_when_they_run_and_how_far_training_is(tmp_path: Path,
                                                                 capsys) -> None:
    from srprune.io.model_file import save_model
    from srprune.models.registry import create_model

    dense = save_model(tmp_path / "dense.safetensors", create_model("edsr-1-4", 2))
    config = tmp_path / "p.yaml"
    config.write_text("prune: {ratio: 0.5, t1: 1, t2: 1, report_lr_size: [16, 16]}\n"
                      "data: {layout: sisr, root: default, lr_patch: 16, batch_size: 1, "
                      "val: null}\ntrain: {iters: 2, log_every: 1000, device: cpu, "
                      "tensorboard: false}\n")
    assert main(["prune", "--method", "l1", "--model", str(dense), "--config", str(config),
                 "--out", str(tmp_path / "out"), "--stages", "select,remove,finetune",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("[finetune] running (3 of 3 requested; 0:") for line in out)
    fine = [line for line in out if line.startswith("[finetune] iter ")]
    assert fine[0].startswith("[finetune] iter 1/2") and TIMING.search(fine[0]), out
    assert fine[-1].startswith("[finetune] iter 2/2"), out


def test_the_demo_states_its_expected_duration() -> None:
    text = expected_duration(DemoOptions())
    assert "about 4 minutes" in text and "at least every 30 s" in text
    other = expected_duration(DemoOptions(reg_iters=10, finetune_iters=10, train=True))
    assert "20 pruning iterations instead of 190" in other and "800 dense training" in other

"""The prune stage table: rows, and a training stage given another loss source (the extension
point distillation uses): its dataset, terms, batch transform and fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from srprune.io.model_file import load_model, save_model
from srprune.models.registry import create_model
from srprune.pruning.methods import get_recipe
from srprune.runs.prune import (
    PRUNE_STAGES,
    STAGES,
    LossSource,
    PrunePipeline,
    load_prune_config,
    with_loss,
)
from srprune.runs.prune_run import config_batches

CONFIG = """
prune: {ratio: 0.5, delta: 0.05, t1: 1, tau: 0.1, t2: 2, report_lr_size: [16, 16]}
data: {layout: sisr, root: default, lr_patch: 16, batch_size: 1, val: null}
train: {iters: 2, log_every: 1, ckpt_every: 1, device: cpu, tensorboard: false}
"""


def test_table_rows() -> None:
    assert STAGES == ("select", "regularize", "remove", "finetune", "report")
    assert [s.name for s in PRUNE_STAGES if s.all_ranks] == ["regularize", "finetune"]
    assert {s.name: s.folder for s in PRUNE_STAGES if s.folder} == {
        "regularize": "regularize", "finetune": "finetune"}


class _NoGT:
    """The config's dataset with ``gt`` dropped: the loss source must supply the target."""

    def __init__(self, data) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        return {"lq": self.data[i]["lq"]}


def test_a_finetune_loss_source_replaces_the_target_and_adds_terms(tmp_path: Path) -> None:
    torch.manual_seed(0)
    dense = save_model(tmp_path / "dense.safetensors", create_model("edsr-1-4", 2))
    config = tmp_path / "p.yaml"
    config.write_text(CONFIG)
    settings, cfg = load_prune_config(config, dense, [], None)
    calls = {"prepare": 0}

    def prepare(run, model):
        teacher = load_model(run.dense).eval()

        def distill(batch):
            calls["prepare"] += 1
            return {**batch, "gt": teacher(batch["lq"])}

        return distill

    def terms(run, model):
        return [lambda m, batch, output, step: {"extra": 0.0 * output.sr.mean()}]

    source = LossSource(batches=lambda run, model: _NoGT(config_batches(run, model)),
                        terms=terms, prepare=prepare, inputs=lambda run: {"teacher": "dense"})
    stages = ["select", "remove", "finetune"]
    plain = PrunePipeline(get_recipe("l1"), settings, cfg, dense, tmp_path / "plain",
                          quiet=True)
    plain.run(stages)
    pipe = PrunePipeline(get_recipe("l1"), settings, cfg, dense, tmp_path / "distill",
                         quiet=True, stages=with_loss(PRUNE_STAGES, {"finetune": source}))
    pipe.run(stages)
    assert calls["prepare"] == 2  # every finetuning batch got the teacher's target
    log = [json.loads(line) for line in
           (tmp_path / "distill" / "finetune" / "train_log.jsonl").read_text().splitlines()]
    assert "loss/extra" in log[-1]
    run = json.loads((tmp_path / "distill" / "run.json").read_text())["stages"]
    plain_run = json.loads((tmp_path / "plain" / "run.json").read_text())["stages"]
    assert run["finetune"]["inputs"]["loss"] == {"teacher": "dense"}
    assert "loss" not in plain_run["finetune"]["inputs"]  # the default changes no fingerprint
    assert run["select"]["fingerprint"] == plain_run["select"]["fingerprint"]
    assert run["finetune"]["fingerprint"] != plain_run["finetune"]["fingerprint"]
    def params(path: Path) -> int:
        return sum(p.numel() for p in load_model(path).parameters())

    assert params(tmp_path / "distill" / "model.safetensors") < params(dense)

"""Every YAML section goes through one converter: a wrong type, an out-of-range value or an
unknown key is one line naming the dotted key, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.io.model_file import save_model
from srprune.models.registry import create_model

BASE = "data: {layout: frames, root: default, num_frames: 3, lr_patch: 16, batch_size: 1}\n" \
       "train: {iters: 1, device: cpu}\n"


@pytest.fixture(scope="module")
def dense(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_model(tmp_path_factory.mktemp("d") / "d.safetensors",
                      create_model("basicvsr-uni-4-1"))


@pytest.mark.parametrize("section,message", [
    ("prune: {delta: fast}", "prune.delta: expected a (finite) number, got 'fast'"),
    ("prune: {delta: 1e-4}", None),  # YAML 1.1 reads 1e-4 as a string: accepted as a number
    ("prune: {pixel_shuffle: 'yes'}", "prune.pixel_shuffle: expected true/false"),
    ("prune: {t1: 5.0}", "prune.t1: expected an integer, got 5.0"),
    ("prune: {seed: 1e30}", "prune.seed: must be <= 4294967295"),
    ("prune: {ratio: 1.5}", "prune.ratio: must be in [0, 1)"),
    ("prune: {scope: everywhere}", "prune.scope: 'everywhere' is not one of global, local"),
    ("prune: {report_lr_size: [0, 5]}", "prune.report_lr_size[0]: must be >= 4"),
    ("prune: {target: flops=3G}", "prune.target: size target 'flops=3G'"),
    ("prune: [1, 2]", "prune: expected a mapping of keys, got list"),
    ("prune: just a string", "prune: expected a mapping of keys, got str"),
    ("prune: {colour: red}", "unknown config key prune.colour"),
    ("data: {batch_size: 1e9}", "data.batch_size: must be <= 4096"),
    ("data: {num_frames: 100000}", "data.num_frames: must be <= 1000"),
    ("train: {iters: 0}", "train.iters: must be >= 1"),
])
def test_prune_config_errors_are_one_line(dense: Path, tmp_path: Path, capsys, section: str,
                                          message: str | None) -> None:
    cfg = tmp_path / "p.yaml"
    key = section.split(":")[0]
    base = "".join(line + "\n" for line in BASE.splitlines() if not line.startswith(key))
    cfg.write_text(base + section + "\n")
    code = main(["prune", "--method", "l1", "--model", str(dense), "--config", str(cfg),
                 "--out", str(tmp_path / "o"), "--stages", "select", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    if message is None:
        assert code == 0, err
        return
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o" / "selection.json").exists()


@pytest.mark.parametrize("section,message", [
    ("fmp: {gamma_c: lots}", "fmp.gamma_c: expected a (finite) number"),
    ("fmp: {criterion: best}", "fmp.criterion: 'best' is not one of"),
    ("fmp: {search_iters: 2.5}", "fmp.search_iters: expected an integer"),
    ("fmp: [1]", "fmp: expected a mapping of keys"),
])
def test_fmp_config_errors_are_one_line(tmp_path: Path, capsys, section: str,
                                        message: str) -> None:
    cfg = tmp_path / "f.yaml"
    cfg.write_text("model: {name: edsr-1-4, scale: 2}\n"
                   "data: {layout: sisr, root: default, lr_patch: 16, batch_size: 1}\n"
                   "train: {iters: 1, device: cpu}\n" + section + "\n")
    code = main(["prune", "--method", "fmp", "--config", str(cfg), "--out", str(tmp_path / "o"),
                 "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


def test_set_with_broken_yaml_is_one_line(dense: Path, tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text(BASE)
    code = main(["prune", "--method", "l1", "--model", str(dense), "--config", str(cfg),
                 "--out", str(tmp_path / "o"), "--set", "prune.ratio=[0.5", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not valid YAML" in err[0], err

"""Training configs: YAML loading, overrides, validation errors, the shipped configs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from srprune.errors import UserError
from srprune.train.config import TrainConfig, apply_overrides, config_from_dict, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_defaults_and_yaml_numbers(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "model: {name: edsr-1-8, scale: 2}\n"
                                       "optim: {lr: 2e-4, betas: [0.9, 0.999]}\n"))
    assert cfg.optim.lr == pytest.approx(2e-4)  # YAML 1.1 reads 2e-4 as a string
    assert cfg.optim.betas == (0.9, 0.999)
    assert cfg.optim.flow_lr_mult == 0.125
    assert cfg.periods == (cfg.train.iters,) and cfg.restart_weights == (1.0,)
    assert cfg.data.val is None


@pytest.mark.parametrize("text, key", [
    ("model: {name: x}\ntrain: {iterz: 3}\n", "train.iterz"),
    ("model: {name: x}\noptim: {scheduler: {period: [3]}}\n", "optim.scheduler.period"),
    ("model: {name: x}\ndata: {val: {roots: a}}\n", "data.val.roots"),
    ("model: {name: x}\nepochs: 3\n", "epochs"),
])
def test_unknown_key_is_named(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(UserError, match=f"unknown config key {key}"):
        load_config(_write(tmp_path, text))


@pytest.mark.parametrize("text, message", [
    ("model: {name: x}\ntrain: {iters: 0}\n", "train.iters: must be >= 1"),
    ("model: {name: x}\ntrain: {iters: ten}\n", "train.iters: expected an integer"),
    ("model: {name: x}\noptim: {lr: fast}\n", "optim.lr: expected a \\(finite\\) number"),
    ("model: {name: x}\noptim: {betas: [0.9]}\n", "optim.betas: expected 2 values"),
    ("model: {name: x}\ntrain: {ema: 1.5}\n", "train.ema: must be a decay"),
    ("model: {name: x}\ntrain: {device: tpu}\n", "train.device"),
    ("model: {name: x, file: y}\n", "exactly one of"),
    ("model: {name: x}\ndata: {cache: 3}\n", "data.cache: expected true/false"),
    ("model: {name: x}\noptim: {scheduler: {name: step}}\n", "optim.scheduler.name"),
    ("model: {name: x}\noptim: {scheduler: {periods: [5, 5], restart_weights: [1]}}\n",
     "restart_weights: needs one weight per period"),
    ("data: {}\n", "missing config key model"),
    ("- 1\n- 2\n", "mapping"),
])
def test_bad_values(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_config(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path, "model: {name: edsr-1-8}\ntrain: {iters: 5}\n")
    cfg = load_config(path, ["train.iters=7", "optim.lr=1e-3", "data.val.root=somewhere",
                             "optim.scheduler.periods=[3, 4]", ("out", "a: b/c")])
    assert cfg.train.iters == 7 and cfg.optim.lr == pytest.approx(1e-3)
    assert cfg.data.val is not None and cfg.data.val.root == "somewhere"
    assert cfg.optim.scheduler.periods == (3, 4) and cfg.out == "a: b/c"
    with pytest.raises(UserError, match="unknown config key train.nope"):
        load_config(path, ["train.nope=1"])
    with pytest.raises(UserError, match="KEY=VALUE"):
        load_config(path, ["train.iters"])
    with pytest.raises(UserError, match="is not a section"):
        apply_overrides({"out": "x"}, ["out.y=1"])


def test_frozen_and_round_trip() -> None:
    cfg = config_from_dict({"model": {"name": "edsr-1-8"}, "optim": {"scheduler": {
        "periods": [10, 20], "restart_weights": [1, 0.5]}}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.out = "x"  # type: ignore[misc]
    changed = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, iters=3))
    assert changed.train.iters == 3 and cfg.train.iters != 3
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, TrainConfig)
    from srprune.models.registry import config_from_name

    assert cfg.model.name is not None
    config_from_name(cfg.model.name, cfg.model.scale)  # the model name is valid


def test_shipped_configs_present() -> None:
    names = {p.name for p in CONFIGS}
    assert {"basicvsr_reds.yaml", "basicvsr_vimeo.yaml", "demo_basicvsr.yaml",
            "tiny_edsr.yaml"} <= names


def test_paper_setups() -> None:
    reds = load_config(CONFIGS[0].parent / "basicvsr_reds.yaml")
    vimeo = load_config(CONFIGS[0].parent / "basicvsr_vimeo.yaml")
    for cfg in (reds, vimeo):
        assert cfg.train.iters == 300_000 and cfg.data.batch_size == 8
        assert cfg.data.lr_patch == 64 and cfg.optim.lr == pytest.approx(2e-4)
        assert cfg.optim.betas == (0.9, 0.99) and cfg.optim.flow_lr_mult == 0.125
        assert cfg.optim.fix_flow_iters == 5000 and cfg.periods == (300_000,)
        assert cfg.optim.scheduler.eta_min == pytest.approx(1e-7)
    assert reds.data.num_frames == 15 and vimeo.data.num_frames == 14

"""Every config the repository ships parses, and every experiment plans its runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from srprune.runs.experiment import load_experiment, plan
from srprune.runs.prune import load_prune_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("path", sorted((CONFIGS / "experiments").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_experiment_configs_plan(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CONFIGS.parent)
    cfg = load_experiment(path)
    specs = plan(cfg)
    assert specs and Path(cfg.prune_config).is_file()
    if cfg.dense and not cfg.dense.startswith("runs/"):
        assert Path(cfg.dense).is_file(), cfg.dense  # shipped dense models exist


@pytest.mark.parametrize("path", sorted(p for p in (CONFIGS / "prune").glob("*.yaml")
                                        if "fmp" not in p.name), ids=lambda p: p.name)
def test_prune_configs_parse(path: Path) -> None:
    settings, train = load_prune_config(path, Path("dense.safetensors"), [], None)
    assert 0.0 <= settings.ratio < 1.0 and train.train.iters > 0

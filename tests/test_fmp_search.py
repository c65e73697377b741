"""FMP's search on toy runs: each convergence criterion stops where it should, Total Fixed
freezes a met budget, the completion fallback meets a budget, and the trainer stops early."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from srprune.models.esrb import ESRB, ESRBConfig
from srprune.pruning.fmp.budget import Ratios, active, converged
from srprune.pruning.fmp.search import FMPSearch
from srprune.pruning.fmp.settings import FMPSettings
from srprune.train.config import config_from_dict
from srprune.train.loop import Trainer

LR = (8, 8)


class _Patches(Dataset):
    """Random (3,p,p) LR patches with (3,4p,4p) GT."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(index)
        return {"lq": torch.rand(3, 8, 8, generator=g), "gt": torch.rand(3, 32, 32, generator=g)}


def _model() -> ESRB:
    torch.manual_seed(0)
    return ESRB(ESRBConfig(num_feat=8, num_block=1, scale=4, esa_feat=4))


def _search(tmp_path: Path, **fmp) -> tuple[FMPSearch, int, bool]:
    settings = FMPSettings(**{"check_every": 2, "search_iters": 60, "lambda_c": 20.0,
                              "lambda_w": 60.0, "tolerance": 0.0, **fmp})
    model = _model()
    search = FMPSearch(model, settings, LR)
    cfg = config_from_dict({"model": {"name": "esrb-1-8"}, "data": {"batch_size": 2},
                            "optim": {"lr": 1e-3}, "out": str(tmp_path),
                            "train": {"iters": settings.search_iters, "log_every": 100,
                                      "ckpt_every": 0, "device": "cpu", "ema": None}})
    trainer = Trainer(model, _Patches(), cfg,
                      param_groups=lambda m, optim: search.param_groups(m, optim.lr),
                      callbacks=[search.after_step], quiet=True, save_final=False)
    result = trainer.fit()
    return search, result.iters_done, result.stopped


def _met(criterion: str, row: dict, gc: float, gw: float) -> bool:
    return converged(criterion, Ratios(row["channel"], row["weight"]), gc, gw)  # type: ignore[arg-type]


@pytest.mark.parametrize("criterion", ["channel", "weight", "total_fixed", "total"])
def test_each_criterion_stops_at_the_first_check_that_meets_it(tmp_path: Path,
                                                               criterion: str) -> None:
    gc, gw = 0.2, 0.1
    search, done, stopped = _search(tmp_path, criterion=criterion, gamma_c=gc, gamma_w=gw)
    assert stopped and done < 60 and search.converged_at == done
    history = search.history
    assert history[-1]["iter"] == done and _met(criterion, history[-1], gc, gw)
    assert not any(_met(criterion, row, gc, gw) for row in history[:-1])
    assert all(row["iter"] % 2 == 0 for row in history)
    r = search.ratios()
    assert (r.channel, r.weight) == (history[-1]["channel"], history[-1]["weight"])


def test_total_fixed_freezes_the_budget_it_has_met(tmp_path: Path) -> None:
    # a slow weight budget: channels meet theirs first and must then stop moving
    search, _, stopped = _search(tmp_path, criterion="total_fixed", gamma_c=0.15, gamma_w=0.2,
                                 lambda_w=25.0, search_iters=120)
    assert stopped
    met = [row for row in search.history if row["channel"] >= 0.15]
    assert len(met) >= 2, "the weight budget should take longer than the channel budget"
    assert len({row["channel"] for row in met}) == 1
    assert active("total_fixed", Ratios(0.2, 0.0), 0.15, 0.2) == (False, True)
    assert active("total", Ratios(0.2, 0.0), 0.15, 0.2) == (True, True)


def test_a_search_out_of_iterations_is_completed_to_its_budget(tmp_path: Path) -> None:
    search, done, stopped = _search(tmp_path, criterion="total_fixed", gamma_c=0.3,
                                    gamma_w=0.2, lambda_c=0.0, lambda_w=0.0, search_iters=4,
                                    threshold_c=0.0, threshold_w=0.0)
    assert not stopped and done == 4
    r = search.ratios()
    assert r.channel == 0 and r.weight == 0
    r = search.complete()
    assert r.channel >= 0.3 and r.weight >= 0.2
    assert r.weight < 0.2 + 0.01  # the fewest weights that meet it
    for g in search.groups:
        assert int(search.bank.alive(g.name).sum()) >= search.s.min_units


def test_removed_latents_and_indicators_stay_zero(tmp_path: Path) -> None:
    search, _, _ = _search(tmp_path, criterion="total", gamma_c=0.3, gamma_w=0.2)
    for g in search.groups:
        z, alive = search.bank.latent(g.name), search.bank.alive(g.name)
        assert torch.all(z[~alive] == 0) and int(alive.sum()) >= search.s.min_units
    for h in search.hypers.values():
        assert torch.all(h.indicator[~h.weight_alive] == 0)


def test_image_convs_keep_all_their_weights_by_default(tmp_path: Path) -> None:
    search, _, _ = _search(tmp_path, criterion="weight", gamma_c=0.1, gamma_w=0.2)
    image = {p for p, ok in search.weight_prunable.items() if not ok}
    assert image == {"conv_first", "conv_up"}
    for path in image:
        assert bool(search.hypers[path].weight_alive.all())
    assert search.ratios().weight > 0  # the other convs did lose weights

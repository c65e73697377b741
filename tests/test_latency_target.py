"""``--target latency=40ms@RUNTIME:HxW``: parsing, the latency table and its cache, the search
against the table, the correction by measurement, and what the run records.

Timings are noisy, so the machinery is tested with an injected timer whose "latency" is a
deterministic function of the widths (MACs); no test asserts a speed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from srprune.cli import main
from srprune.commands.prune import check_size_flags
from srprune.errors import UserError
from srprune.io.model_file import load_model, save_model
from srprune.latency import cache as latency_cache
from srprune.latency.calls import layer_uses
from srprune.latency.fit import CORRECTIONS, Searcher, fit_latency
from srprune.latency.grid import axis_grid, interpolate, monotone
from srprune.latency.table import LatencyTable, plan_table
from srprune.latency.timers import TorchTimer
from srprune.models.registry import create_model
from srprune.profile import count_macs, flow_child
from srprune.pruning.config import PruneSettings
from srprune.pruning.criteria import score_groups
from srprune.pruning.handlers import prunable_layers
from srprune.pruning.latency_target import LatencyTarget, parse_target
from srprune.pruning.methods import get_recipe
from srprune.pruning.sizes import layer_widths
from srprune.pruning.surgery import remove_units
from srprune.runs import prune_latency
from srprune.runs.prune_recipe import prunable_groups
from srprune.runs.prune_report import report_markdown
from srprune.typed import FieldError

LR = (16, 24)
CONFIG = f"""
prune: {{report_lr_size: [{LR[0]}, {LR[1]}], latency: false, latency_frames: 2}}
data: {{layout: frames, root: default, num_frames: 3, lr_patch: 16, batch_size: 1}}
train: {{iters: 1, device: cpu, tensorboard: false}}
"""
OVERHEAD_MS = 5.0


_MACS: dict[str, float] = {}


def _sr_macs(model: nn.Module, lr_size: tuple[int, int], frames: int) -> float:
    """MACs without the flow network (counted once per structure, size and clip length)."""
    key = f"{model}{lr_size}{frames}"
    if key not in _MACS:
        macs, parts = count_macs(model, lr_size, frames)
        _MACS[key] = macs - parts.get(flow_child(model), 0.0)
    return _MACS[key]


class FakeTimer:
    """Latency = MACs x 1e-6 ms (+ a fixed overhead for a whole model), times ``slow`` for
    whole models: a table calibrated on two whole models then predicts any model exactly."""

    def __init__(self, runtime: str = "torch", repeats: int = 3, slow: float = 1.0,
                 version: str = "fake 1") -> None:
        self.runtime, self.repeats, self.slow, self._version = runtime, repeats, slow, version
        self.layer_calls = self.model_calls = 0

    def version(self) -> str:
        return self._version

    def layer(self, layer: nn.Module, use, points: list[tuple[int, int]]) -> list[float]:
        self.layer_calls += 1
        kh, kw = layer.kernel_size
        return [ci * co * kh * kw * use.height * use.width * 1e-6 for ci, co in points]

    def model(self, model: nn.Module, lr_size: tuple[int, int], frames: int) -> float:
        self.model_calls += 1
        return self.slow * (_sr_macs(model, lr_size, frames) * 1e-6 + OVERHEAD_MS)

    def models(self, models: dict[str, nn.Module], lr_size: tuple[int, int], frames: int
               ) -> dict[str, float]:
        return {k: self.model(m, lr_size, frames) for k, m in models.items()}


# -- parsing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text,budget,runtime,size", [
    ("latency=40ms@openvino:180x320", 40.0, "openvino", (180, 320)),
    ("latency=40ms", 40.0, "torch", None),
    ("latency = 0.05s @onnxruntime", 50.0, "onnxruntime", None),
    ("latency=2500us:90x160", 2.5, "torch", (90, 160)),
])
def test_parse(text: str, budget: float, runtime: str, size) -> None:
    t = parse_target(text)
    assert isinstance(t, LatencyTarget)
    assert (t.budget_ms, t.runtime, t.lr_size) == (pytest.approx(budget), runtime, size)
    assert LatencyTarget.parse(str(t)) == t


@pytest.mark.parametrize("text,words", [
    ("latency=40", "is not latency=40ms"), ("latency=40ms@tensorrt", "unknown runtime"),
    ("latency=0ms", "must be > 0"), ("latency=40ms:2x320", "each side"),
    ("latency=40ms@torch:180", "is not latency=40ms"),
])
def test_parse_refuses_in_one_line(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        LatencyTarget.parse(text)
    with pytest.raises(UserError) as e:
        check_size_flags(None, text)
    assert "\n" not in str(e.value) and str(e.value).startswith("--target")
    with pytest.raises(FieldError):
        PruneSettings(target=text)


def test_settings_accept_a_latency_target() -> None:
    assert PruneSettings(target="latency=40ms@openvino").target == "latency=40ms@openvino"


# -- grid ------------------------------------------------------------------------------------
def test_grid_interpolates_and_is_monotone() -> None:
    assert axis_grid(1, 32) == [1, 8, 16, 24, 32]
    assert axis_grid(4, 128) == [4, 32, 64, 96, 128]
    assert axis_grid(5, 5) == [5]
    ins, outs = [1, 8, 16], [2, 4]
    values = monotone([[1.0, 3.0], [2.0, 1.0], [9.0, 8.0]])  # noise: 1.0 < 3.0 / 2.0
    assert values == [[1.0, 3.0], [2.0, 3.0], [9.0, 9.0]]
    assert interpolate(ins, outs, values, 8, 4) == 3.0
    assert interpolate(ins, outs, values, 12, 3) == pytest.approx(0.5 * 2.5 + 0.5 * 9.0)
    assert interpolate(ins, outs, values, 40, 1) == 9.0  # clamped


def test_layer_uses_find_the_activation_and_the_calls() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 8, 3, padding=1)
            self.b = nn.Conv2d(8, 8, 3, padding=1)
            self.act = nn.LeakyReLU(0.2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.act(self.a(x))
            return self.b(torch.relu(self.b(x)))

    uses = layer_uses(Net(), torch.empty(1, 3, 10, 12), 1)
    assert uses["a"][0].activation == "leaky_relu:0.2" and uses["a"][1] == 1
    assert uses["b"][0].activation == "relu" and uses["b"][1] == 2
    assert (uses["b"][0].height, uses["b"][0].width) == (10, 12)


# -- table and cache -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    torch.manual_seed(0)
    return create_model("basicvsr-uni-16-3").eval()


@pytest.fixture(scope="module")
def measured(tiny, tmp_path_factory):
    """(cache folder, groups, plan, table, timer) of one table measured with the fake timer;
    the cache folder stays the latency cache for the whole module."""
    folder = tmp_path_factory.mktemp("latency-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(latency_cache.ENV, str(folder))
        recipe = get_recipe("ssl")
        groups = prunable_groups(tiny, recipe)
        scores = score_groups(tiny, groups, recipe.scorer, recipe.score_norm)
        plan = plan_table(tiny, groups, LR, 2)
        timer = FakeTimer()
        table, path, hit = latency_cache.cached_table(tiny, plan, timer, LR, 2)
        assert not hit and path.parent == folder and path.is_file()
        yield folder, (recipe, groups, scores), plan, table, timer


def test_table_predicts_the_dense_model_and_is_cached(tiny, measured) -> None:
    _, _, plan, table, timer = measured
    assert table.predict(plan.full) == pytest.approx(table.dense_ms)
    assert table.remainder_ms >= OVERHEAD_MS  # + the layers no group narrows
    assert table.scale == pytest.approx(1.0)
    assert table.predict(plan.reference_widths) == pytest.approx(table.reference_ms)
    calls = (timer.layer_calls, timer.model_calls)
    again, _, hit = latency_cache.cached_table(tiny, plan, timer, LR, 2)
    assert hit and (timer.layer_calls, timer.model_calls) == calls
    assert again.to_dict() == table.to_dict()


@pytest.mark.parametrize("change", ["version", "threads", "lr_size"])
def test_a_changed_fingerprint_measures_again(change: str, tiny, measured, monkeypatch
                                              ) -> None:
    folder, (_, groups, _), plan, _, _ = measured
    before = set(folder.glob("*.json"))
    timer, lr = FakeTimer(), LR
    if change == "version":
        timer = FakeTimer(version="fake 2")
    elif change == "lr_size":
        lr = (16, 32)
        plan = plan_table(tiny, groups, lr, 2)
    else:
        monkeypatch.setattr(torch, "get_num_threads", lambda: 7)
    _, path, hit = latency_cache.cached_table(tiny, plan, timer, lr, 2)
    assert not hit and timer.model_calls == 2 and path not in before


def test_a_damaged_table_is_measured_again(tiny, measured, tmp_path, monkeypatch) -> None:
    folder, _, plan, _, _ = measured
    monkeypatch.setenv(latency_cache.ENV, str(tmp_path))
    _, path, _ = latency_cache.cached_table(tiny, plan, FakeTimer(), LR, 2)
    path.write_text('{"fingerprint": ')
    lines: list[str] = []
    timer = FakeTimer()
    _, _, hit = latency_cache.cached_table(tiny, plan, timer, LR, 2, lines.append)
    assert not hit and timer.model_calls == 2 and any("damaged" in line for line in lines)
    json.loads(path.read_text())


def test_whole_models_calibrate_the_layer_timings(tiny, measured, tmp_path, monkeypatch
                                                  ) -> None:
    """Whole models 3x slower than their layers timed alone: the calibration finds the factor
    and the table predicts any selection exactly (the fake timer is linear in MACs)."""
    _, (_, groups, _), plan, _, _ = measured
    monkeypatch.setenv(latency_cache.ENV, str(tmp_path))
    timer = FakeTimer(slow=3.0)
    table, _, _ = latency_cache.cached_table(tiny, plan, timer, LR, 2)
    assert table.scale == pytest.approx(3.0)
    layers = prunable_layers(tiny)
    removed = {g.name: torch.arange(g.units // 3) for g in groups}
    compact = remove_units(copy.deepcopy(tiny), groups, removed)
    assert table.predict(layer_widths(layers, groups, removed)) == pytest.approx(
        timer.model(compact, LR, 2))


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(latency_cache.ENV, str(tmp_path / "x"))
    assert latency_cache.cache_dir() == tmp_path / "x"
    monkeypatch.delenv(latency_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert latency_cache.cache_dir() == tmp_path / "srprune" / "latency"


def test_torch_timer_times_a_layer_and_a_model(tiny) -> None:
    conv = nn.Conv2d(8, 8, 3, padding=1)
    use = layer_uses(nn.Sequential(conv, nn.ReLU()), torch.empty(1, 8, 8, 8), 1)["0"][0]
    ms = TorchTimer(repeats=1).layer(conv, use, [(8, 8), (4, 8), (8, 2)])
    assert len(ms) == 3 and all(v > 0 for v in ms)
    assert TorchTimer(repeats=1).model(tiny, (8, 8), 2) > 0


# -- search ----------------------------------------------------------------------------------
def _searcher(tiny, measured, method: str = "ssl") -> tuple[Searcher, LatencyTable]:
    _, (recipe, groups, scores), _, table, _ = measured
    if method != "ssl":
        recipe = get_recipe(method)
        groups = prunable_groups(tiny, recipe)  # a subset of ssl's layers: same table
        scores = score_groups(tiny, groups, recipe.scorer, recipe.score_norm)
    layers = prunable_layers(tiny)
    searcher = Searcher(groups, scores, recipe.scope, recipe.order, 0,
                        lambda removed: table.predict(layer_widths(layers, groups, removed)))
    return searcher, table


@pytest.mark.parametrize("method", ["ssl", "l1"])
def test_search_picks_the_largest_selection_within_the_budget(method, tiny, measured) -> None:
    searcher, _ = _searcher(tiny, measured, method)
    smallest, dense = searcher.range_ms()
    assert smallest < dense
    for budget in (0.9 * dense, 0.7 * dense, smallest + 0.5 * (dense - smallest)):
        n = searcher.search(budget)
        assert searcher.predict(n) <= budget
        assert n == 0 or searcher.predict(n - 1) > budget


def _measure_by(searcher: Searcher, slow: float):
    """A measurement ``slow`` x the table's prediction of a selection."""
    def measure(removed) -> float:
        return slow * searcher.predict(sum(len(v) for v in removed.values()))
    return measure


def test_an_exact_table_needs_one_measurement(tiny, measured) -> None:
    searcher, table = _searcher(tiny, measured)
    budget = 0.7 * table.dense_ms
    fit = fit_latency(searcher, budget, _measure_by(searcher, 1.0), "here", table.dense_ms)
    assert len(fit.attempts) == 1
    assert fit.measured_ms == pytest.approx(fit.predicted_ms) and fit.measured_ms <= budget
    assert abs(fit.relative_error) <= 0.10


def test_a_wrong_table_is_corrected_by_measurement(tiny, measured) -> None:
    searcher, table = _searcher(tiny, measured)
    budget = 0.75 * table.dense_ms
    lines: list[str] = []
    fit = fit_latency(searcher, budget, _measure_by(searcher, 1.25), "here",
                      1.25 * table.dense_ms, lines.append)
    assert 2 <= len(fit.attempts) <= 1 + CORRECTIONS
    first = fit.attempts[0]
    assert abs(first["measured_ms"] - budget) / budget > 0.10
    assert abs(fit.measured_ms - budget) < abs(first["measured_ms"] - budget)
    assert abs(fit.relative_error) <= 0.10
    assert len(lines) == len(fit.attempts)


@pytest.mark.parametrize("factor,words", [(0.01, "below the smallest model"),
                                          (3.0, "above the dense model")])
def test_unreachable_budgets_are_refused(factor, words, tiny, measured) -> None:
    searcher, table = _searcher(tiny, measured)
    calls: list = []
    with pytest.raises(UserError, match=words) as e:
        fit_latency(searcher, factor * table.dense_ms, calls.append, "in torch at 16x24")
    assert "\n" not in str(e.value) and "reachable:" in str(e.value) and not calls


# -- the run ---------------------------------------------------------------------------------
@pytest.fixture
def run_setup(tiny, measured, tmp_path, monkeypatch) -> tuple[Path, Path, FakeTimer]:
    monkeypatch.setenv(latency_cache.ENV, str(measured[0]))
    timer = FakeTimer()
    monkeypatch.setitem(prune_latency.TIMERS, "torch", lambda rt, n: timer)
    dense = save_model(tmp_path / "dense.safetensors", tiny)
    cfg = tmp_path / "p.yaml"
    cfg.write_text(CONFIG)
    return dense, cfg, timer


def _prune(dense: Path, cfg: Path, out: Path, target: str, *extra: str) -> int:
    return main(["prune", "--method", "ssl", "--model", str(dense), "--config", str(cfg),
                 "--out", str(out), "--target", target, "--quiet", *extra])


def test_prune_records_and_reports_budget_prediction_and_measurement(run_setup, tmp_path
                                                                    ) -> None:
    dense, cfg, timer = run_setup
    full = FakeTimer().model(load_model(dense), LR, 2)
    budget = round(0.7 * full, 3)
    out = tmp_path / "out"
    target = f"latency={budget}ms@torch:16x24"
    assert _prune(dense, cfg, out, target, "--stages", "select,remove,report") == 0
    assert timer.layer_calls == 0  # the module's table, from the cache
    t = json.loads((out / "selection.json").read_text())["target"]["latency"]
    assert t["budget_ms"] == budget and t["runtime"] == "torch" and t["lr_size"] == list(LR)
    assert t["predicted_ms"] <= budget and abs(t["relative_error"]) <= 0.10
    assert t["table_from_cache"] and len(t["attempts"]) == 1
    compact = load_model(out / "pruned.safetensors")
    assert FakeTimer().model(compact, LR, 2) == pytest.approx(t["measured_ms"])
    report = json.loads((out / "report.json").read_text())
    row = report["latency_target"]
    assert row["target"] == target and row["within_tolerance"]
    assert row["budget_ms"] == budget and row["predicted_ms"] == t["predicted_ms"]
    assert row["measured_ms"] == pytest.approx(t["measured_ms"])
    assert row["relative_error"] == pytest.approx((row["measured_ms"] - budget) / budget)
    md = (out / "report.md").read_text()
    assert f"Latency target `{target}`" in md and "measured **" in md
    assert report_markdown(report) == md
    # a changed budget changes the select stage's fingerprint: refused without --force
    assert _prune(dense, cfg, out, f"latency={budget * 0.9:.3f}ms@torch:16x24", "--stages",
                  "select") == 2


def test_an_unreachable_budget_stops_before_anything_is_written(run_setup, tmp_path,
                                                                capsys) -> None:
    dense, cfg, _ = run_setup
    out = tmp_path / "out"
    assert _prune(dense, cfg, out, "latency=0.001ms@torch") == 2
    err = capsys.readouterr().err.strip()
    assert "below the smallest model" in err and len(err.splitlines()) == 1
    assert not (out / "selection.json").exists()

"""``srprune experiment``: one dense model, every method at every ratio, the paper's tables.

A run is a (method, ratio, overrides, seed) tuple executed by :class:`PrunePipeline` in its own
folder, so an interrupted experiment resumes where it stopped and finished runs are skipped.
Every run's stages are fingerprinted with the whole effective config (prune settings, training
config, the dense model's hash, srprune's version): when the experiment or its pruning YAML
changes, exactly the affected stages of the affected runs are redone, never reused.
Tables shaped like the SSL paper's are written to ``out``:

* ``table3.md``: method x ratio (params, MACs, PSNR/SSIM, mean ± std over seeds), with
  bicubic, the dense model and the control: the dense model trained on for as many iterations
  as an SSL run gets (regularisation + finetuning), which separates the effect of pruning from
  that of continued training;
* ``table2.md``: SSL ablations at one ratio (aligned pruning, no pixel-shuffle pruning, no TF);
* ``table4.md``: pruning criteria (min/max x global/local, random) x ratio;
* ``psnr_vs_macs.png`` and ``experiment.json`` (every run's report).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from srprune.devices import resolve_device
from srprune.errors import UserError
from srprune.io.atomic import atomic_path, write_text_atomic
from srprune.io.leftovers import cleaned_on_failure
from srprune.io.model_file import load_model, read_header
from srprune.progress import Ticker
from srprune.pruning.criteria import select_units
from srprune.pruning.methods import METHODS, get_recipe
from srprune.runs.common import training_inputs
from srprune.runs.fingerprint import changes, fingerprint
from srprune.runs.prune import (
    PrunePipeline,
    effective_recipe,
    load_prune_config,
    scored_groups,
    size_function,
)
from srprune.train.checkpoint import LAST, checkpoint_dir
from srprune.train.config import load_config
from srprune.train.run import run_training
from srprune.typed import SEED_MAX, build_section, check, check_range, read_yaml_file, to_plain

ABLATIONS: dict[str, dict[str, Any]] = {
    "aligned pruning": {"residual": "coupled", "pixel_shuffle": True, "temporal_finetune": False},
    "RSC w/o pixel-shuffle pruning": {"pixel_shuffle": False, "temporal_finetune": False},
    "RSC + pixel-shuffle": {"temporal_finetune": False},
    "RSC + pixel-shuffle + TF (SSL)": {},
}
CRITERIA: dict[str, dict[str, Any]] = {
    "Min + Global": {},  # SSL's own rule: the same run (and folder) as Table 3's SSL run
    "Max + Global": {"scope": "global", "order": "max"},
    "Min + Local": {"scope": "local", "order": "min"},
    "Max + Local": {"scope": "local", "order": "max"},
    "Random": {"scope": "global", "order": "random"},
}


def _check_ratios(ratios: tuple[float, ...], key: str) -> None:
    for i, r in enumerate(ratios):
        check(0.0 <= r < 1.0, f"{key}[{i}]", f"must be in [0, 1), got {r}")


def _check_seeds(seeds: tuple[int, ...] | None, key: str) -> None:
    for i, seed in enumerate(seeds or ()):
        check_range(seed, f"{key}[{i}]", 0, SEED_MAX)


def _check_method(method: str, key: str) -> None:
    check(method in METHODS, key, f"unknown method {method!r}; choose one of "
                                  f"{', '.join(METHODS)}")


@dataclass(frozen=True)
class ExtraCell:
    """A Table 3 cell outside the grid: one method at some ratios and seeds."""

    method: str
    ratios: tuple[float, ...]
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_method(self.method, "method")
        _check_ratios(self.ratios, "ratios")
        _check_seeds(self.seeds, "seeds")


@dataclass(frozen=True)
class ExperimentConfig:
    """What to run.

    Attributes:
        prune_config: the pruning YAML every run starts from (data, finetuning, ``prune``).
        dense: a trained dense model file, or ``train_config`` to train one first.
        train_config: a training YAML for the dense model (used when ``dense`` is absent).
        methods, ratios, seeds: Table 3's grid.
        extra: further Table 3 cells outside the grid, each ``{method, ratios, seeds}``.
        control: add the control row (per seed): the dense model trained on, unpruned, for
            as many iterations as an SSL run gets.
        control_seeds: seeds of the control row (null: ``seeds``).
        ablation_ratio: ratio of Table 2 (null: no Table 2).
        ablation_seeds, criteria_seeds: seeds of Tables 2 and 4 (null: ``seeds``).
        criteria_ratios: ratios of Table 4 (empty: no Table 4).
        out: output folder.
    """

    prune_config: str
    dense: str | None = None
    train_config: str | None = None
    methods: tuple[str, ...] = ("ssl", "assl", "l1", "scratch")
    ratios: tuple[float, ...] = (0.3, 0.5, 0.7)
    seeds: tuple[int, ...] = (0,)
    extra: tuple[ExtraCell, ...] = ()
    control: bool = False
    control_seeds: tuple[int, ...] | None = None
    ablation_ratio: float | None = 0.5
    ablation_seeds: tuple[int, ...] | None = None
    criteria_ratios: tuple[float, ...] = ()
    criteria_seeds: tuple[int, ...] | None = None
    out: str = "runs/experiment"
    device: str = "auto"
    size: Literal["macs", "macs+flow", "params", "ratio"] = "macs"
    size_reference: str = "ssl"

    def __post_init__(self) -> None:
        _check_method(self.size_reference, "size_reference")
        check((self.dense is None) != (self.train_config is None), "dense",
              "give exactly one of dense (a model file) and train_config")
        for i, method in enumerate(self.methods):
            _check_method(method, f"methods[{i}]")
        _check_ratios(self.ratios, "ratios")
        _check_ratios(self.criteria_ratios, "criteria_ratios")
        if self.ablation_ratio is not None:
            _check_ratios((self.ablation_ratio,), "ablation_ratio")
        for key in ("seeds", "control_seeds", "ablation_seeds", "criteria_seeds"):
            _check_seeds(getattr(self, key), key)
        check(len(self.seeds) > 0, "seeds", "needs at least one seed")


@dataclass(frozen=True)
class RunSpec:
    """One pruning run of the experiment."""

    table: str
    row: str
    method: str
    ratio: float
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        extra = "".join(f"_{k}-{v}" for k, v in sorted(self.overrides.items()))
        return f"{self.method}_p{self.ratio}_s{self.seed}{extra}".replace(" ", "")


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML (types, ranges and unknown keys by dotted name)."""
    path = Path(path)
    data = read_yaml_file(path, "experiment config")
    try:
        return build_section(ExperimentConfig, data, "")
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


CONTROL_OVERRIDES: dict[str, Any] = {"temporal_finetune": False}
"""The control is SSL's pipeline at ratio 0 without L_tf: nothing is selected, so the
regularisation stage is plain training of the same length and settings, then the same
finetuning (``srprune prune --method ssl --ratio 0 --set prune.temporal_finetune=false``)."""


def plan(cfg: ExperimentConfig) -> list[RunSpec]:
    """Every run. Identical runs share a folder (Table 2's SSL row is Table 3's SSL run at that
    ratio), so the second is found finished and costs nothing."""
    specs: dict[str, RunSpec] = {}

    def add(spec: RunSpec) -> None:
        specs.setdefault(f"{spec.table}|{spec.row}|{spec.ratio}|{spec.seed}", spec)

    for seed in cfg.seeds:
        for method in cfg.methods:
            for ratio in cfg.ratios:
                add(RunSpec("table3", method, method, ratio, seed))
    if cfg.control:
        for seed in cfg.control_seeds if cfg.control_seeds is not None else cfg.seeds:
            add(RunSpec("control", "dense, trained on", "ssl", 0.0, seed, CONTROL_OVERRIDES))
    for cell in cfg.extra:
        for seed in cell.seeds:
            for ratio in cell.ratios:
                add(RunSpec("table3", cell.method, cell.method, ratio, seed))
    if cfg.ablation_ratio is not None:
        for seed in cfg.ablation_seeds if cfg.ablation_seeds is not None else cfg.seeds:
            for row, over in ABLATIONS.items():
                add(RunSpec("table2", row, "ssl", cfg.ablation_ratio, seed, over))
    for seed in cfg.criteria_seeds if cfg.criteria_seeds is not None else cfg.seeds:
        for ratio in cfg.criteria_ratios:
            for row, over in CRITERIA.items():
                add(RunSpec("table4", row, "ssl", ratio, seed, over))
    return list(specs.values())


def run_experiment(cfg: ExperimentConfig, quiet: bool = False,
                   shard: tuple[int, int] | None = None) -> dict[str, Any]:
    """Train (or take) the dense model, run every planned run, write the tables.

    ``shard=(i, n)`` runs only every n-th planned run starting at the i-th (1-based) and writes
    no tables: start n shards side by side (one per core or GPU), then run once without a shard
    to collect; the finished runs are then skipped (same fingerprints) and the tables written.

    A failed experiment removes what it created in ``out`` that no rerun uses (a dense model's
    folder with neither model nor checkpoint, emptied folders); each run's folder is cleaned
    by its pipeline (runs/stages.py).
    """
    out = Path(cfg.out)
    with cleaned_on_failure(out, _worth_keeping):
        return _run_experiment(cfg, out, quiet, shard)


def _worth_keeping(entry: Path) -> bool:
    """Files (tables, experiment.json: written after finished runs) and folders holding any
    file but the dense model's training record."""
    if not entry.is_dir():
        return True
    return any(p.is_file() and p.name != "fingerprint.json" for p in entry.rglob("*"))


def _run_experiment(cfg: ExperimentConfig, out: Path, quiet: bool,
                    shard: tuple[int, int] | None) -> dict[str, Any]:
    device = resolve_device(cfg.device)
    if shard is not None and cfg.dense is None:
        # n shards must not train the same dense model side by side
        raise UserError("--shard needs `dense: FILE`; with train_config, train the dense model "
                        "first (run once without --shard, or `srprune train`)")
    dense = Path(cfg.dense) if cfg.dense else _train_dense(cfg, out, quiet)
    if not dense.is_file():
        raise UserError(f"dense model not found: {dense}")
    results = []
    specs = plan(cfg)
    targets = column_targets(cfg, dense, {s.ratio for s in specs if s.table != "control"})
    todo, label = specs, "run"
    if shard is not None:
        # one spec per folder (Table 2's SSL row is Table 3's SSL run): two shards must
        # never run the same folder at once
        unique: dict[str, RunSpec] = {}
        for spec in specs:
            unique.setdefault(spec.folder, spec)
        todo = list(unique.values())[shard[0] - 1::shard[1]]
        label = f"shard {shard[0]}/{shard[1]} run"
    ticker = Ticker(len(todo))
    for i, spec in enumerate(todo, 1):
        if not quiet:
            print(f"[experiment] {label} {i}/{len(todo)}: {spec.table} {spec.row} "
                  f"p={spec.ratio} seed {spec.seed} ({ticker.timing(i - 1)})", flush=True)
        folder, pipe = _run_spec(cfg, spec, dense, targets, device, out, quiet)
        if shard is not None:
            continue  # a shard writes no tables: the plain run collects them
        report = json.loads((folder / "report.json").read_text())
        results.append({"spec": dataclasses.asdict(spec), "folder": str(folder),
                        "fingerprint": pipe.fingerprint_of("report"),
                        "iters": _trained_iters(folder), "report": report})
        summary = {"config": to_plain(cfg), "dense": str(dense), "runs": results,
                   "complete": i == len(specs)}
        write_text_atomic(out / "experiment.json", json.dumps(summary, indent=1))
        summary["written"] = [str(p) for p in write_tables(summary, out)]  # partial tables
    if shard is not None:
        return {"written": [], "runs": [dataclasses.asdict(s) for s in todo]}
    return summary


def _run_spec(cfg: ExperimentConfig, spec: RunSpec, dense: Path, targets: dict[float, str],
              device: Any, out: Path, quiet: bool = True) -> tuple[Path, Any]:
    """Run (or skip, when its fingerprints match) one planned run; its folder and pipeline
    (its stage and progress lines unless ``quiet``; its report table is never printed)."""
    prune = {**spec.overrides, "seed": spec.seed}
    if spec.table != "control" and spec.ratio in targets:
        prune["target"] = targets[spec.ratio]
    overrides = [(f"prune.{k}", v) for k, v in prune.items()]
    settings, train_cfg = load_prune_config(Path(cfg.prune_config), dense, overrides, spec.ratio)
    train_cfg = dataclasses.replace(
        train_cfg, train=dataclasses.replace(train_cfg.train, seed=spec.seed))
    folder = out / "runs" / spec.folder
    pipe = PrunePipeline(get_recipe(spec.method), settings, train_cfg, dense, folder, device,
                         quiet=quiet, on_change="redo", show_report=False)
    pipe.run()
    return folder, pipe


def column_targets(cfg: ExperimentConfig, dense: Path, ratios: set[float]) -> dict[float, str]:
    """``{p: "macs=..."}``: the size ``cfg.size_reference``'s compact model has at each p (its
    selection on the dense model; no training), which every method is then pruned to."""
    if cfg.size == "ratio":
        return {}
    settings, _ = load_prune_config(Path(cfg.prune_config), dense, [], None)
    recipe = effective_recipe(get_recipe(cfg.size_reference), settings)
    model = load_model(dense)
    groups, scores = scored_groups(model, recipe)
    size = size_function(model, groups, cfg.size, tuple(settings.report_lr_size))
    targets = {}
    for p in sorted(r for r in ratios if r > 0):
        removed = select_units(groups, scores, p, recipe.scope, recipe.order, settings.seed)
        targets[p] = f"{cfg.size}={size(removed):.10g}"
    return targets


def _trained_iters(folder: Path) -> int:
    """Training iterations a run gave its model: regularisation plus finetuning."""
    reg = read_header(folder / "regularized.safetensors")["extra"]
    fine = read_header(folder / "model.safetensors")["extra"]
    return int(reg.get("iters", 0)) + int(fine.get("finetune_iters", 0))


def _train_dense(cfg: ExperimentConfig, out: Path, quiet: bool) -> Path:
    """Train the dense model into ``out/dense`` (or take the one there, when it was trained
    from the same effective config; a changed config retrains it)."""
    folder = out / "dense"
    model = folder / "model.safetensors"
    train = load_config(cfg.train_config, [("out", str(folder))])
    inputs = {"training": training_inputs(train), "model": to_plain(train.model)}
    record = folder / "fingerprint.json"
    old = json.loads(record.read_text()) if record.is_file() else None
    if old is not None and old.get("fingerprint") != fingerprint(inputs):
        if not quiet:
            print(f"[experiment] dense training config changed "
                  f"({changes(old.get('inputs', {}), inputs)}): retraining", flush=True)
        shutil.rmtree(folder)
    elif old is None and folder.exists():
        shutil.rmtree(folder)  # no record of what trained it: never reuse it
    elif model.is_file():
        return model
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(record, json.dumps({"fingerprint": fingerprint(inputs),
                                          "inputs": inputs}, indent=1))
    result = run_training(train, resume=(checkpoint_dir(folder) / LAST).is_file(), quiet=quiet)
    return Path(result.model_path or model)


def _spread(values: list[float], digits: int) -> str:
    """Mean, and ``± std`` (sample) when there are several values."""
    text = f"{statistics.fmean(values):.{digits}f}"
    return text + (f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else "")


def _cell(rows: list[dict[str, Any]]) -> str:
    """PSNR / SSIM of the compact models of some runs (one per seed): mean ± std."""
    psnr = [r["report"]["rows"]["compact"]["psnr"] for r in rows]
    ssim = [r["report"]["rows"]["compact"]["ssim"] for r in rows]
    text = f"{_spread(psnr, 2)} / {_spread(ssim, 4)}"
    return text + (f" (n={len(rows)})" if len(rows) > 1 else "")


def _size(row: dict[str, Any]) -> str:
    return (f"{row['params'] / 1e6:.3f} M, {row.get('macs_per_frame_excl_flow', 0) / 1e9:.2f}"
            f" / {row['macs_per_frame'] / 1e9:.2f} G")


def _reference_rows(runs: list[dict[str, Any]], base: dict[str, Any]) -> list[str]:
    """Bicubic, the dense model and the control (dense, trained on) as table rows."""
    bicubic = base.get("bicubic", {})
    lines = [f"| bicubic | {bicubic.get('psnr', float('nan')):.2f} / "
             f"{bicubic.get('ssim', float('nan')):.4f} |",
             f"| dense ({_size(base['dense'])}) | {base['dense'].get('psnr', 0):.2f} / "
             f"{base['dense'].get('ssim', 0):.4f} |"]
    control = [r for r in runs if r["spec"]["table"] == "control"]
    if control:
        iters = sorted({r.get("iters", 0) for r in control})
        lines.append(f"| dense + {'/'.join(map(str, iters))} more iterations, unpruned "
                     f"(control: SSL's regularisation + finetuning length) | {_cell(control)} |")
    return lines


def write_tables(summary: dict[str, Any], out: Path) -> list[Path]:
    """table2/3/4.md and psnr_vs_macs.png from the runs in ``summary``; returns the files
    written."""
    runs = summary["runs"]
    written: list[Path] = []
    if not runs:
        return written
    first = runs[0]["report"]
    base = first["rows"]
    h, w = first["lr_size"]
    config = summary.get("config", {})
    size = config.get("size", "ratio")
    column = ("p = the fraction of units removed" if size == "ratio" else
              f"every method pruned to the {size} that "
              f"{config.get('size_reference', 'ssl')}'s compact model has at p "
              "(equal size, as the paper's Table 3)")
    head = (f"PSNR / SSIM of the finetuned compact models on the validation clips (mean ± "
            f"sample std over seeds, n = seeds, when several); in brackets params and GMACs "
            f"per frame at LR {h}x{w} without / with the flow network. Columns: {column}. "
            "Made by `srprune experiment`.")

    def by(table: str) -> dict[tuple[str, float], list[dict[str, Any]]]:
        groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
        for r in runs:
            if r["spec"]["table"] == table:
                groups.setdefault((r["spec"]["row"], r["spec"]["ratio"]), []).append(r)
        return groups

    ref = _reference_rows(runs, base)
    for table, title in (("table3", "Table 3: methods x pruning ratio"),
                         ("table2", "Table 2: SSL ablations"),
                         ("table4", "Table 4: pruning criteria x ratio")):
        groups = by(table)
        if not groups:
            continue
        ratios = sorted({k[1] for k in groups})
        rows = list(dict.fromkeys(k[0] for k in groups))
        lines = [f"# {title}", "", head, "",
                 "| | " + " | ".join(f"p = {p}" for p in ratios) + " |",
                 "|---|" + "---|" * len(ratios)]
        for row in rows:
            cells = []
            for p in ratios:
                g = groups.get((row, p))
                size = _size(g[0]["report"]["rows"]["compact"]) if g else ""
                cells.append(f"{_cell(g)} ({size})" if g else "-")
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        lines += ["", "| reference | PSNR / SSIM |", "|---|---|", *ref, ""]
        write_text_atomic(out / f"{table}.md", "\n".join(lines))
        written.append(out / f"{table}.md")
    _plot(runs, base, out / "psnr_vs_macs.png")
    written.append(out / "psnr_vs_macs.png")
    for table in ("table2", "table3", "table4"):  # tables of an earlier grid, now empty
        if out / f"{table}.md" not in written:
            (out / f"{table}.md").unlink(missing_ok=True)
    return written


def _plot(runs: list[dict[str, Any]], base: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    table3 = [r for r in runs if r["spec"]["table"] == "table3"]
    for method in dict.fromkeys(r["spec"]["method"] for r in table3):
        cells: dict[float, list[dict[str, Any]]] = {}
        for r in table3:
            if r["spec"]["method"] == method:
                cells.setdefault(r["spec"]["ratio"], []).append(r)
        pts = []
        for rows in cells.values():
            psnr = [r["report"]["rows"]["compact"]["psnr"] for r in rows]
            macs = rows[0]["report"]["rows"]["compact"].get("macs_per_frame_excl_flow", 0)
            pts.append((macs / 1e9, statistics.fmean(psnr),
                        statistics.stdev(psnr) if len(psnr) > 1 else 0.0))
        pts.sort()
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                    fmt="o-", capsize=3, label=method)
    ax.axhline(base["dense"].get("psnr", 0), color="k", ls="--", lw=0.8, label="dense")
    control = [r["report"]["rows"]["compact"]["psnr"] for r in runs
               if r["spec"]["table"] == "control"]
    if control:
        ax.axhline(statistics.fmean(control), color="k", ls="-.", lw=0.8,
                   label="dense, trained on")
    if "bicubic" in base:
        ax.axhline(base["bicubic"]["psnr"], color="grey", ls=":", lw=0.8, label="bicubic")
    ax.set_xlabel("GMACs per frame (without the flow network)")
    ax.set_ylabel("PSNR (dB)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)

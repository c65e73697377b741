"""FMP vs SSL vs ASSL vs L1 vs Scratch on one image-SR network at equal params and equal
total training iterations, over several seeds.

    srprune train --config configs/tiny_edsr.yaml --set out=runs/fmp_compare/dense
    python bench/fmp_vs_channel.py --dense runs/fmp_compare/dense/model.safetensors \\
        --runs runs/fmp_compare --seeds 0 1 2 --out results/fmp_demo/compare

Per seed: FMP (``--fmp-config``, searched from scratch) runs first and fixes the budget, the
share of the dense params it keeps (non-zero; seed 0's share is used for every seed). Every
channel-pruning method then runs ``srprune prune --target params=N`` to that many params with
``--config`` (the selection that meets it is searched before any training). A second FMP run
per seed gets the same total training iterations as SSL (dense pretraining + regularisation +
finetuning): its finetuning is lengthened by what the search did not use. Totals are read
from the model files, not assumed. Cells show mean ± sample std over seeds; latency is timed
for seed 0's models in one interleaved run. Runs that finished are reused (srprune's stage
fingerprints refuse a changed one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model, read_header
from srprune.profile import count_params, latency_side_by_side

METHODS = ("ssl", "assl", "l1", "scratch")
NAMES = {"ssl": "SSL", "assl": "ASSL", "l1": "L1", "scratch": "Scratch"}


def side_by_side_latency(paths: dict[str, Path], lr_size: tuple[int, int]) -> dict[str, float]:
    """Median ms per image of every model, all timed in one interleaved run."""
    runs = latency_side_by_side({k: load_model(v) for k, v in paths.items()}, lr_size, 1,
                                "cpu", warmup=1, repeats=5)
    return {k: statistics.median(v) for k, v in runs.items()}


def prune(method: str, out: Path, config: Path, sets: list[str], extra: list[str]) -> dict:
    """Run ``srprune prune`` into ``out`` unless it finished there; its report."""
    if not (out / "report.json").is_file():
        cmd = [sys.executable, "-m", "srprune", "prune", "--method", method, "--config",
               str(config), "--out", str(out), "--quiet", *extra]
        for s in sets:
            cmd += ["--set", s]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return json.loads((out / "report.json").read_text())


def iterations(folder: Path, dense_iters: int) -> tuple[int, str]:
    """Total training a run's model got, and how it splits."""
    extra = read_header(folder / "model.safetensors")["extra"]
    ft = int(extra.get("finetune_iters", 0))
    if extra.get("method") == "fmp":
        search = json.loads((folder / "selection.json").read_text())["search_iters_done"]
        return search + ft, f"search {search} + finetune {ft}, from scratch"
    if extra.get("method") == "scratch":
        return ft, f"finetune {ft}, from scratch"
    reg_file = folder / "regularized.safetensors"
    reg = int(read_header(reg_file)["extra"].get("iters", 0)) if reg_file.is_file() else 0
    parts = f"dense {dense_iters}" + (f" + regularise {reg}" if reg else "") + f" + finetune {ft}"
    return dense_iters + reg + ft, parts


def cell(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dense", type=Path, required=True, help="trained dense model")
    p.add_argument("--runs", type=Path, required=True, help="folder for the runs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--config", type=Path, default=Path("configs/prune/edsr_demo.yaml"))
    p.add_argument("--fmp-config", type=Path, default=Path("configs/prune/fmp_edsr_demo.yaml"))
    p.add_argument("--out", type=Path, required=True, help="output path without suffix")
    args = p.parse_args()
    dense_params = count_params(load_model(args.dense))[0]
    dense_iters = int(read_header(args.dense)["extra"].get("trained_iters", 0))
    runs: dict[str, list[tuple[Path, dict]]] = {}
    share = None
    for seed in args.seeds:
        seed_sets = [f"train.seed={seed}"]
        folder = args.runs / f"fmp_s{seed}"
        rep = prune("fmp", folder, args.fmp_config, seed_sets + [f"fmp.seed={seed}"], [])
        runs.setdefault("FMP", []).append((folder, rep))
        share = share or rep["rows"]["compact"]["nonzero_params"] / dense_params
        for method in METHODS:
            folder = args.runs / f"{method}_s{seed}"
            rep = prune(method, folder, args.config, seed_sets + [f"prune.seed={seed}"],
                        ["--model", str(args.dense), "--target",
                         f"params={share * dense_params:.10g}"])
            runs.setdefault(NAMES[method], []).append((folder, rep))
        ssl_total = iterations(args.runs / f"ssl_s{seed}", dense_iters)[0]
        fmp_total, _ = iterations(args.runs / f"fmp_s{seed}", dense_iters)
        base_ft = int(read_header(args.runs / f"fmp_s{seed}" / "model.safetensors")["extra"]
                      ["finetune_iters"])
        folder = args.runs / f"fmp_equal_iters_s{seed}"
        rep = prune("fmp", folder, args.fmp_config,
                    seed_sets + [f"fmp.seed={seed}",
                                 f"train.iters={base_ft + ssl_total - fmp_total}"], [])
        runs.setdefault("FMP, equal iterations", []).append((folder, rep))

    first = runs["SSL"][0][1]
    d = first["rows"]["dense"]
    lr_size = tuple(first["lr_size"])
    models = {"dense": args.dense} | {k: Path(v[0][1]["compact"]) for k, v in runs.items()}
    ms = side_by_side_latency(models, lr_size)
    rows = []
    for name, items in runs.items():
        comp = [rep["rows"]["compact"] for _, rep in items]
        its = [iterations(folder, dense_iters) for folder, _ in items]
        rows.append({
            "method": name, "seeds": args.seeds, "folders": [str(f) for f, _ in items],
            "ratio": [rep.get("ratio") for _, rep in items],
            "params": [c["params"] for c in comp],
            "nonzero_params": [c.get("nonzero_params", c["params"]) for c in comp],
            "macs": [c.get("macs", c.get("macs_per_frame")) for c in comp],
            "nonzero_macs": [c.get("nonzero_macs", c.get("macs_per_frame")) for c in comp],
            "psnr": [c["psnr"] for c in comp], "ssim": [c["ssim"] for c in comp],
            "iterations": [n for n, _ in its], "training": its[0][1],
            "latency_ms": ms[name], "speedup": ms["dense"] / ms[name]})
    n = len(args.seeds)
    lines = [f"# FMP vs channel pruning at equal params ({100 * share:.1f} % of the dense "
             "params kept) and equal training", "",
             f"EDSR-4-32 x4 on the embedded photos, seeds {', '.join(map(str, args.seeds))} "
             f"(mean ± sample std, n = {n}); MACs and latency at LR {lr_size[0]}x{lr_size[1]}, "
             "seed 0's models timed in one interleaved run on the CPU (median of 5); PSNR/SSIM "
             "on Y, border = scale, on the 4 held-out photos. Made by `python "
             "bench/fmp_vs_channel.py --dense runs/fmp_compare/dense/model.safetensors --runs "
             f"runs/fmp_compare --seeds {' '.join(map(str, args.seeds))} --out "
             f"{args.out}`.", "",
             "| method | non-zero params | non-zero GMACs | ms | speedup | PSNR | SSIM | "
             "total iterations | training (seed 0) |", "|---|---|---|---|---|---|---|---|---|",
             f"| dense | {d['params'] / 1e3:.1f}K | {d['macs_per_frame'] / 1e9:.2f} | "
             f"{ms['dense']:.1f} | 1.00 | {d['psnr']:.2f} | {d['ssim']:.4f} | {dense_iters} | "
             "- |"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {cell([v / 1e3 for v in r['nonzero_params']], 1)}K | "
            f"{cell([v / 1e9 for v in r['nonzero_macs']], 2)} | {r['latency_ms']:.1f} | "
            f"{r['speedup']:.2f} | {cell(r['psnr'], 2)} | {cell(r['ssim'], 4)} | "
            f"{cell(r['iterations'], 0)} | {r['training']} |")
    b = first["rows"].get("bicubic")
    if b:
        lines += ["", f"Bicubic: {b['psnr']:.2f} dB / {b['ssim']:.4f}."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(rows, indent=1))
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Flow-network pruning: SSL at p with and without ``prune.flow``, side by side in one run.

For each dense BasicVSR (default: the shipped BasicVSR-32-8, whose SPyNet is the narrow one,
and the demo's BasicVSR-16-3 with the full-width SPyNet, where SPyNet is most of the MACs),
``srprune prune --method ssl`` runs twice on the embedded clips with the same settings and the
same iterations (the demo's HR config: growing L2 then finetuning): once as in the SSL paper
(SPyNet whole and frozen) and once with ``prune.flow: true`` (SPyNet's hidden widths pruned at
the same p, trained with flow distillation from the dense flow). For dense and both compact
models it records:

- params and MACs per frame at LR 180x320 (the flow network's share apart);
- latency at LR 180x320 in PyTorch, the three models timed interleaved, medians of rounds;
- PSNR / SSIM on the held-out clips (the embedded set's validation half);
- flow EPE (mean end-point error, LR pixels) of each model's flow network against the dense
  model's and against the clips' ground-truth flows, on the held-out clips' frame pairs in
  both directions;
- what one global ranking of SR and flow units together would choose at p (the alternative to
  ``prune.flow_ratio``): the fraction of flow units vs SR units it removes.

Writes ``results/flow_pruning.{json,md}``; runs stay in ``--work`` (a rerun reuses finished
stages). Re-run (30 + 50 iterations per run by default; about 45 min on 2 busy cores):

    OMP_NUM_THREADS=1 nice python bench/flow_pruning.py > results/flow_pruning.log 2>&1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from srprune.cli import main as cli
from srprune.commands.common import parse_size
from srprune.data.layouts import load_clip, load_clip_flows
from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model
from srprune.models.contract import flow_network
from srprune.profile import count_macs, count_params, flow_child, latency_side_by_side
from srprune.pruning.config import short_schedule
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.declared import flow_groups
from srprune.train.config import ValConfig
from srprune.train.datasets import val_clips
from srprune.train.validate import make_validator

MODELS = {
    "basicvsr-16-3 (demo; full SPyNet)": "results/models/demo_basicvsr_dense_fp16.safetensors",
    "basicvsr-32-8 (shipped; narrow SPyNet)":
        "src/srprune/assets/demo_basicvsr-32-8_fp16.safetensors",
}
VARIANTS = {"ssl": False, "ssl + flow": True}


def prune_config(ratio: float, reg_iters: int, finetune_iters: int, flow: bool,
                 seed: int) -> dict[str, Any]:
    """The demo's pruning config (``srprune.demo.prune_config``), with ``prune.flow``."""
    data = {"layout": "frames", "root": "default", "num_frames": 5, "lr_patch": 32,
            "batch_size": 4, "val": None}
    return {
        "prune": {"ratio": ratio, **short_schedule(reg_iters), "seed": seed, "flow": flow},
        "data": data,
        "optim": {"lr": 5e-4, "flow_lr_mult": 0.0,
                  "scheduler": {"name": "cosine_restart", "eta_min": 1e-5}},
        "train": {"iters": finetune_iters, "log_every": 50, "ckpt_every": 50, "seed": seed,
                  "device": "cpu", "tensorboard": False},
    }


def run_prune(dense: Path, out: Path, cfg: dict[str, Any]) -> tuple[Path, float]:
    """``srprune prune`` without its report stage; (the compact model, minutes taken)."""
    out.mkdir(parents=True, exist_ok=True)
    config = out.parent / f"{out.name}.yaml"
    config.write_text(yaml.safe_dump(cfg))
    t0 = time.perf_counter()
    code = cli(["prune", "--method", "ssl", "--model", str(dense), "--config", str(config),
                "--out", str(out), "--stages", "select,regularize,remove,finetune",
                "--device", "cpu", "--quiet"])
    if code != 0:
        raise SystemExit(f"srprune prune failed for {out}")
    return out / "model.safetensors", (time.perf_counter() - t0) / 60


def sizes(model: torch.nn.Module, lr_size: tuple[int, int]) -> dict[str, float]:
    macs, parts = count_macs(model, lr_size)
    flow = parts.get(flow_child(model), 0.0)
    return {"params": count_params(model)[0], "gmacs": macs / 1e9, "flow_gmacs": flow / 1e9,
            "sr_gmacs": (macs - flow) / 1e9}


@torch.no_grad()
def flow_epe(models: dict[str, torch.nn.Module], clips: list[Any], frames: int
             ) -> dict[str, dict[str, float]]:
    """Mean end-point error (LR pixels) of each model's flows against the first model's
    (``vs_dense``) and against the clips' ground-truth flows (``vs_gt``), both directions."""
    nets = {k: flow_network(m).eval() for k, m in models.items()}
    dense = next(iter(nets.values()))
    sums = {k: {"vs_dense": 0.0, "vs_gt": 0.0} for k in nets}
    count = 0
    for clip in clips:
        n = min(len(clip), frames)
        lr, _ = load_clip(clip, 4, list(range(n)))
        a, b = lr[:-1], lr[1:]
        gt = torch.cat([load_clip_flows(clip, "backward")[: n - 1],
                        load_clip_flows(clip, "forward")[: n - 1]])
        ref, supp = torch.cat([a, b]), torch.cat([b, a])
        target = dense(ref, supp)
        for k, net in nets.items():
            flow = net(ref, supp)
            sums[k]["vs_dense"] += float((flow - target).norm(dim=1).mean())
            sums[k]["vs_gt"] += float((flow - gt).norm(dim=1).mean())
        count += 1
    return {k: {m: v / count for m, v in d.items()} for k, d in sums.items()}


def global_mix(dense: torch.nn.Module, ratio: float) -> dict[str, float]:
    """What one global min-L1 ranking (SSL's per-weight mean scores) of the SR and the flow
    units together removes at ``ratio``: the fraction of each part."""
    sr = dense.channel_groups("rsc")
    flow = flow_groups(dense)
    groups = sr + flow
    removed = select_units(groups, score_groups(dense, groups, norm="mean"), ratio)

    def part(gs: list[Any]) -> float:
        return sum(len(removed[g.name]) for g in gs) / sum(g.units for g in gs)

    return {"sr_fraction_removed": part(sr), "flow_fraction_removed": part(flow)}


def bench_model(title: str, path: Path, args: argparse.Namespace,
                validate: Any, clips: list[Any]) -> dict[str, Any]:
    print(f"== {title}: {path}", flush=True)
    dense = load_model(path)
    files = {"dense": path}
    minutes = {}
    for name, flow in VARIANTS.items():
        out = args.work / f"{path.stem}_{'flow' if flow else 'plain'}_p{args.ratio}"
        cfg = prune_config(args.ratio, args.reg_iters, args.finetune_iters, flow, args.seed)
        files[name], minutes[name] = run_prune(path, out, cfg)
        print(f"  {name}: {minutes[name]:.1f} min", flush=True)
    models = {k: load_model(f) for k, f in files.items()}
    rows = {k: {**sizes(m, args.lr_size), **validate(m)} for k, m in models.items()}
    epe = flow_epe(models, clips, args.flow_frames)
    runs = latency_side_by_side(models, args.lr_size, args.frames, "cpu", warmup=1,
                                repeats=args.repeats)
    for k, row in rows.items():
        row.update({"latency_ms": statistics.median(runs[k]), "latency_runs_ms": runs[k],
                    "epe_vs_dense": epe[k]["vs_dense"], "epe_vs_gt": epe[k]["vs_gt"]})
        if k != "dense":
            row["train_minutes"] = minutes[k]
    d = rows["dense"]
    for row in rows.values():
        row["speedup"] = d["latency_ms"] / row["latency_ms"]
        row["mac_reduction"] = d["gmacs"] / row["gmacs"]
    return {"model": title, "file": str(path), "config": dataclasses.asdict(dense.config),
            "rows": rows, "global_ranking_at_p": global_mix(dense, args.ratio)}


def markdown(result: dict[str, Any]) -> str:
    a = result["settings"]
    h, w = a["lr_size"]
    lines = [
        "# Flow-network pruning: SSL with and without `prune.flow`", "",
        f"SSL at p = {a['ratio']} (`prune.flow_ratio` left at p), {a['reg_iters']} "
        f"regularisation + {a['finetune_iters']} finetuning iterations on the embedded clips "
        "(the demo's HR config), the same for both variants. MACs and latency per frame at LR "
        f"{h}x{w} (PyTorch eager, {a['threads']} thread(s), dense and both compact models timed "
        f"interleaved, median of {a['repeats']} rounds of {a['frames']} frames; the machine "
        "was shared with other jobs). PSNR / SSIM on the held-out clips; flow EPE in LR pixels "
        f"on their first {a['flow_frames']} frames' pairs, both directions. Made by "
        "`bench/flow_pruning.py` on " + result["machine"] + ".", ""]
    for m in result["models"]:
        mix = m["global_ranking_at_p"]
        lines += [f"## {m['model']}", "",
                  "| model | params | GMACs | of which flow | ms/frame | speed-up | PSNR | SSIM "
                  "| EPE vs dense flow | EPE vs true flow |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for k, r in m["rows"].items():
            lines.append(
                f"| {k} | {r['params'] / 1e3:.0f} k | {r['gmacs']:.2f} | {r['flow_gmacs']:.2f} "
                f"| {r['latency_ms']:.0f} | {r['speedup']:.2f}x | {r['psnr']:.2f} | "
                f"{r['ssim']:.4f} | {r['epe_vs_dense']:.3f} | {r['epe_vs_gt']:.3f} |")
        lines += ["", f"One global ranking of SR and flow units together at p = {a['ratio']} "
                  f"would remove {100 * mix['flow_fraction_removed']:.0f} % of the flow units "
                  f"and {100 * mix['sr_fraction_removed']:.0f} % of the SR units.", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="*", default=[Path(v) for v in MODELS.values()], type=Path)
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--reg-iters", type=int, default=30)
    p.add_argument("--finetune-iters", type=int, default=50)
    p.add_argument("--lr-size", type=parse_size, default=(180, 320))
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--flow-frames", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path("runs/bench_flow_pruning"))
    p.add_argument("--out", type=Path, default=Path("results/flow_pruning"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    titles = {Path(v): k for k, v in MODELS.items()}
    val = ValConfig(layout="frames", root="default")
    validate = make_validator(val, 4, True, "cpu")
    clips, _ = val_clips(val, 4, True)
    settings = {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items() if k != "models"}
    result = {"settings": settings, "machine": f"{platform.processor() or platform.machine()}, "
              f"torch {torch.__version__}", "models": []}
    for m in args.models:  # the files are rewritten after each model
        result["models"].append(bench_model(titles.get(m, m.stem), m, args, validate, clips))
        write_text_atomic(args.out.with_suffix(".json"), json.dumps(result, indent=1))
        write_text_atomic(args.out.with_suffix(".md"), markdown(result))
    print(markdown(result), flush=True)


if __name__ == "__main__":
    main()

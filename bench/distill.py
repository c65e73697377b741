"""Pruning by distillation vs HR finetuning vs one-shot removal, side by side in one run.

For each image model (default: a small SRVGGNet-compact and a small RRDBNet, both trained here
first on the embedded scikit-image photos, as ``srprune demo --train`` trains the shipped
BasicVSR) and each ratio p, SSL prunes the same dense model three ways, with the same selection
(so the same MACs) and the same iterations:

- **distill**: ``srprune prune --distill --data LR/`` on the training photos' LR images only
  (the dense model is the teacher; no HR is read);
- **HR finetune**: ``srprune prune --config`` on the same photos with their HR images;
- **one-shot**: ``--stages select,remove``: the selected units removed from the dense weights,
  nothing trained.

Every compact model is scored on the held-out photos: fidelity to the teacher (PSNR/SSIM
against the dense model's output) and PSNR to HR; dense and the compact models of every ratio
are timed side by side at LR 180x320 (``srprune.profile.latency_side_by_side``). Then a small
video model (default: BasicVSR++ with 32 channels) trained on the embedded clips is pruned with
SSL + Temporal Finetuning by distillation on its clips' LR frames: params, MACs, latency and
fidelity. Writes ``results/distill.{json,md}``; trained models and runs stay in ``--work`` (a
rerun reuses them). The two parts can run apart and be merged:

    OMP_NUM_THREADS=1 python bench/distill.py > results/distill.log 2>&1      # everything
    OMP_NUM_THREADS=1 python bench/distill.py --video-model                    # image models
    OMP_NUM_THREADS=1 python bench/distill.py --image-models --merge           # + video, merged
"""

from __future__ import annotations

import argparse
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
from srprune.data.lr_frames import load_lr_clips
from srprune.eval.fidelity import TeacherFidelity
from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model
from srprune.models.contract import flow_network
from srprune.models.registry import build_model, config_from_dict
from srprune.profile import count_macs, count_params, latency_side_by_side
from srprune.runs.distill import default_config
from srprune.train.config import ValConfig
from srprune.train.datasets import cache_dir, default_root
from srprune.train.validate import make_validator

VARIANTS = ("distill", "hr_finetune", "one_shot")


def parse_model(spec: str) -> dict[str, Any]:
    """``arch:key=value,...`` -> a registry config dict (ints where they parse)."""
    arch, _, rest = spec.partition(":")
    out: dict[str, Any] = {"arch": arch}
    for part in filter(None, rest.split(",")):
        key, _, value = part.partition("=")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def label(cfg: dict[str, Any]) -> str:
    return "-".join([cfg["arch"], *(f"{k}{v}" for k, v in cfg.items() if k != "arch")])


def train_dense(cfg: dict[str, Any], is_video: bool, iters: int, work: Path,
                seed: int, batch: int = 8) -> Path:
    """Train the dense model on the embedded set (resumes); its model file."""
    from srprune.demo import zero_flow
    from srprune.train.checkpoint import LAST, checkpoint_dir
    from srprune.train.config import config_from_dict as train_config
    from srprune.train.datasets import build_train_dataset
    from srprune.train.loop import Trainer

    out = work / "dense"
    if (out / "model.safetensors").is_file():
        return out / "model.safetensors"
    layout = "frames" if is_video else "sisr"
    crops = {"num_frames": 5, "batch_size": batch} if is_video else {"batch_size": batch}
    tcfg = train_config({
        "model": {"name": "unused", "scale": cfg.get("scale", 4)},
        "data": {"layout": layout, "root": "default", "lr_patch": 32, **crops},
        "optim": {"lr": 1e-3, "flow_lr_mult": 0.0,
                  "scheduler": {"name": "cosine_restart", "eta_min": 1e-5}},
        "train": {"iters": iters, "val_every": 0, "ckpt_every": 100, "log_every": 100,
                  "seed": seed, "device": "cpu", "tensorboard": False},
        "out": str(out)})
    torch.manual_seed(seed)
    model = build_model(config_from_dict(cfg))
    frozen = []
    flow = flow_network(model)
    if flow is not None:  # as the demo models: no pretrained flow offline, kept at zero flow
        zero_flow(flow)
        frozen = [flow]
    dataset = build_train_dataset(tcfg.data, model.config.scale, is_video, seed)
    trainer = Trainer(model, dataset, tcfg, frozen=frozen, device="cpu", quiet=True)
    result = trainer.fit(resume=(checkpoint_dir(out) / LAST).is_file())
    return Path(result.model_path)


def lr_folder(is_video: bool, scale: int, part: str) -> Path:
    """The embedded set's LR frames of ``part`` (what distillation reads: no HR next to it)."""
    root, _ = default_root(is_video, scale)
    return root / part / ("LR" if is_video else "LR_bicubic") / f"X{scale}"


def hr_config(is_video: bool, path: Path, seed: int) -> Path:
    """The HR-finetuning config: the distillation defaults with the embedded HR data."""
    data = default_config(is_video, "unused")
    del data["distill"]
    layout = "frames" if is_video else "sisr"
    data["data"] = {**data["data"], "layout": layout, "root": "default"}
    data["prune"]["seed"] = data["train"]["seed"] = seed
    path.write_text(yaml.safe_dump(data))
    return path


def prune(dense: Path, out: Path, ratio: float, extra: list[str]) -> None:
    args = ["prune", "--method", "ssl", "--ratio", str(ratio), "--model", str(dense),
            "--out", str(out), "--device", "cpu", "--no-latency", "--quiet", *extra]
    if cli(args) != 0:
        raise SystemExit(f"srprune {' '.join(args)} failed")


def score(model: torch.nn.Module, fidelity: TeacherFidelity, to_hr: Any) -> dict[str, float]:
    row = dict(fidelity(model))
    row.update({f"hr_{k}": v for k, v in to_hr(model).items()})
    return row


def image_model(spec: str, args: argparse.Namespace) -> dict[str, Any]:
    """Dense, then every ratio x variant; scores and side-by-side latency."""
    cfg = parse_model(spec)
    work = args.work / label(cfg)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    dense_path = train_dense(cfg, False, args.train_iters, work, args.seed)
    scale = load_model(dense_path).config.scale
    lr_train, lr_val = lr_folder(False, scale, "train"), lr_folder(False, scale, "val")
    dense = load_model(dense_path).eval()
    fidelity = TeacherFidelity(dense, load_lr_clips(lr_val, False, 1000, 1), "cpu",
                               max_clips=1000)
    to_hr = make_validator(ValConfig(layout="sisr", root="default"), scale, False)
    config = hr_config(False, work / "hr.yaml", args.seed)
    steps = ["--reg-iters", str(args.reg_iters), "--finetune-iters", str(args.finetune_iters)]
    rows: dict[str, Any] = {"dense": {**to_hr_row(dense, to_hr), **sizes(dense, args)}}
    compact: dict[str, torch.nn.Module] = {}
    for p in args.ratios:
        runs = {"distill": (["--distill", "--data", str(lr_train), *steps], "model"),
                "hr_finetune": (["--config", str(config), *steps], "model"),
                "one_shot": (["--config", str(config), "--stages", "select,remove"], "pruned")}
        for variant, (extra, stem) in runs.items():
            out = work / f"p{p}_{variant}"
            prune(dense_path, out, p, extra)
            model = load_model(out / f"{stem}.safetensors").eval()
            rows[f"p{p}_{variant}"] = {"ratio": p, "variant": variant,
                                       **score(model, fidelity, to_hr), **sizes(model, args)}
            compact[f"p{p}"] = model
            print(f"{label(cfg)} p={p} {variant}: {rows[f'p{p}_{variant}']}", flush=True)
    times = latency_side_by_side({"dense": dense, **compact}, args.lr_size, 1, "cpu",
                                 repeats=args.repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, row in rows.items():
        key = "dense" if name == "dense" else f"p{row['ratio']}"
        row["latency_ms"] = med[key]
        row["speedup"] = med["dense"] / med[key]
    return {"model": cfg, "label": label(cfg), "train_iters": args.train_iters,
            "rows": rows, "latency_runs_ms": times, "seconds": time.perf_counter() - t0}


def to_hr_row(model: torch.nn.Module, to_hr: Any) -> dict[str, float]:
    return {f"hr_{k}": v for k, v in to_hr(model).items()}


def sizes(model: torch.nn.Module, args: argparse.Namespace) -> dict[str, float]:
    params, _ = count_params(model)
    macs, _ = count_macs(model, args.lr_size)
    return {"params": params, "macs_per_frame": macs}


def video_model(spec: str, args: argparse.Namespace) -> dict[str, Any]:
    """Dense video model trained here, then SSL + Temporal Finetuning by distillation."""
    cfg = parse_model(spec)
    work = args.work / label(cfg)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    dense_path = train_dense(cfg, True, args.video_train_iters, work, args.seed,
                             args.video_batch)
    dense = load_model(dense_path).eval()
    scale = dense.config.scale
    out = work / f"p{args.video_ratio}_distill"
    prune(dense_path, out, args.video_ratio,
          ["--distill", "--data", str(lr_folder(True, scale, "train")), "--reg-iters",
           str(args.video_reg_iters), "--finetune-iters", str(args.video_finetune_iters)])
    compact = load_model(out / "model.safetensors").eval()
    held = load_lr_clips(lr_folder(True, scale, "val"), True, 1000, 1000)
    fidelity = TeacherFidelity(dense, held, "cpu", max_clips=1000, max_frames=1000)
    before = load_model(out / "pruned.safetensors").eval()
    times = latency_side_by_side({"dense": dense, "compact": compact}, args.lr_size,
                                 args.video_frames, "cpu", repeats=args.video_repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = {"dense": {**sizes(dense, args), "latency_ms": med["dense"]},
            "pruned (before finetune)": {**sizes(before, args), **fidelity(before)},
            "compact": {**sizes(compact, args), **fidelity(compact),
                        "latency_ms": med["compact"]}}
    rows["compact"]["speedup"] = med["dense"] / med["compact"]
    return {"model": cfg, "label": label(cfg), "train_iters": args.video_train_iters,
            "ratio": args.video_ratio, "reg_iters": args.video_reg_iters,
            "finetune_iters": args.video_finetune_iters, "repeats": args.video_repeats,
            "rows": rows, "latency_runs_ms": times, "latency_frames": args.video_frames,
            "seconds": time.perf_counter() - t0}


def gaps(rows: dict[str, Any]) -> list[str]:
    """One sentence per ratio: how much closer to the teacher distillation got than the other
    two, and the speed-up."""
    out = []
    for p in sorted({r["ratio"] for r in rows.values() if "ratio" in r}):
        fid = {r["variant"]: r["fidelity_psnr"] for r in rows.values() if r.get("ratio") == p}
        speed = next(r["speedup"] for r in rows.values() if r.get("ratio") == p)
        out.append(f"p = {p}: distillation is {fid['distill'] - fid['one_shot']:+.2f} dB closer "
                   f"to the dense output than one-shot removal and "
                   f"{fid['distill'] - fid['hr_finetune']:+.2f} dB than HR finetuning; the "
                   f"compact model runs {speed:.2f}x as fast as the dense one.")
    return out


def markdown(result: dict[str, Any]) -> str:
    a = result["args"]
    h, w = a["lr_size"]
    lines = ["# Pruning by distillation vs HR finetuning vs one-shot removal", "",
             f"`{result['image_command']}` ({result['machine']}, {result['threads']} "
             "thread(s)). "
             f"SSL, {a['reg_iters']} regularisation + {a['finetune_iters']} finetuning "
             "iterations for distill and HR finetune (the same selection, so the same MACs); "
             "one-shot removes the selected units from the dense weights. Fidelity: PSNR/SSIM "
             "against the dense model's output on the held-out photos; PSNR to HR on the same "
             f"photos. Latency: LR {h}x{w}, median of {a['repeats']} interleaved runs; "
             "speed-up = dense / compact.", ""]
    for m in result["image"]:
        d = m["rows"]["dense"]
        lines += [f"## {m['label']} (dense trained {m['train_iters']} iterations: "
                  f"{d['params'] / 1e3:.1f} K params, {d['macs_per_frame'] / 1e9:.2f} GMACs, "
                  f"{d['latency_ms']:.1f} ms, {d['hr_psnr']:.2f} dB to HR)", "",
                  "| p | variant | params | GMACs | PSNR to dense | SSIM to dense | "
                  "PSNR to HR | speed-up |", "|---|---|---|---|---|---|---|---|"]
        for name, r in m["rows"].items():
            if name == "dense":
                continue
            lines.append(f"| {r['ratio']} | {r['variant']} | {r['params'] / 1e3:.1f} K | "
                         f"{r['macs_per_frame'] / 1e9:.2f} | {r['fidelity_psnr']:.2f} | "
                         f"{r['fidelity_ssim']:.4f} | {r['hr_psnr']:.2f} | "
                         f"{r['speedup']:.2f}x |")
        lines += ["", *gaps(m["rows"]), ""]
    for v in result["video"]:
        lines += [f"## {v['label']}: SSL + Temporal Finetuning by distillation at "
                  f"p = {v['ratio']} (dense trained {v['train_iters']} iterations)", "",
                  f"`{result['video_command']}`; {v.get('reg_iters', '?')} regularisation + "
                  f"{v.get('finetune_iters', '?')} finetuning iterations, distilled on the "
                  "embedded clips' LR frames; fidelity on the held-out clips; latency: median "
                  f"of {v.get('repeats', '?')} interleaved runs of a {v['latency_frames']}-frame "
                  "clip.", "",
                  "| model | params | GMACs/frame | ms/frame | PSNR to dense | SSIM to dense |",
                  "|---|---|---|---|---|---|"]
        for name, r in v["rows"].items():
            lat = f"{r['latency_ms']:.1f}" if "latency_ms" in r else "-"
            fp = f"{r['fidelity_psnr']:.2f}" if "fidelity_psnr" in r else "-"
            fs = f"{r['fidelity_ssim']:.4f}" if "fidelity_ssim" in r else "-"
            lines.append(f"| {name} | {r['params'] / 1e3:.1f} K | "
                         f"{r['macs_per_frame'] / 1e9:.2f} | {lat} | {fp} | {fs} |")
        c = v["rows"]["compact"]
        lines += ["", f"Speed-up {c['speedup']:.2f}x ({v['latency_frames']}-frame clip).", ""]
    return "\n".join(lines)


def arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image-models", nargs="*",
                   default=["srvgg:num_feat=32,num_conv=8",
                            "rrdbnet:num_feat=16,num_block=2,num_grow_ch=8"],
                   help="arch:key=value,... registry configs (none: skip)")
    p.add_argument("--video-model", nargs="*",
                   default=["basicvsrpp:num_feat=32,num_block=2,extract_block=2,"
                            "deform_groups=8,recon_feat=32,flow_feat=8"],
                   help="arch:key=value,... of the video model (none: skip)")
    p.add_argument("--ratios", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    p.add_argument("--video-ratio", type=float, default=0.5)
    p.add_argument("--train-iters", type=int, default=600)
    p.add_argument("--video-train-iters", type=int, default=100,
                   help="BasicVSR++'s deformable alignment costs ~5 s per batch of 2 windows "
                        "on one CPU thread: short runs")
    p.add_argument("--video-batch", type=int, default=2)
    p.add_argument("--video-reg-iters", type=int, default=30)
    p.add_argument("--video-finetune-iters", type=int, default=90)
    p.add_argument("--video-repeats", type=int, default=3)
    p.add_argument("--reg-iters", type=int, default=100)
    p.add_argument("--finetune-iters", type=int, default=300)
    p.add_argument("--lr-size", type=parse_size, default=(180, 320))
    p.add_argument("--video-frames", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path("runs/bench_distill"))
    p.add_argument("--out", type=Path, default=Path("results/distill"))
    p.add_argument("--merge", nargs="*", type=Path, default=None, metavar="JSON",
                   help="take the image or video part this run skips (--image-models / "
                        "--video-model with no value) from these results files (none named: "
                        "OUT.json)")
    return p.parse_args()


def main() -> None:
    import sys

    args = arguments()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"embedded data in {cache_dir()}", flush=True)
    result = {"command": "python bench/distill.py " + " ".join(sys.argv[1:]),
              "machine": f"{platform.processor() or platform.machine()}, "
                         f"torch {torch.__version__}",
              "threads": torch.get_num_threads(),
              "args": json.loads(json.dumps(vars(args), default=str)),
              "image": [image_model(s, args) for s in args.image_models],
              "video": [video_model(s, args) for s in args.video_model]}
    sources = [] if args.merge is None else (args.merge or [args.out.with_suffix(".json")])
    for path in sources:  # the parts this run skipped, with the command that ran them
        before = json.loads(path.read_text()) if path.is_file() else {}
        for part in ("image", "video"):
            if not result[part] and before.get(part):
                result[part] = before[part]
                result[f"{part}_command"] = before.get(f"{part}_command", before["command"])
    for part in ("image", "video"):
        result.setdefault(f"{part}_command", result["command"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(result, indent=1))
    write_text_atomic(args.out.with_suffix(".md"), markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

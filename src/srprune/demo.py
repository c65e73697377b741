"""The demo: prune a trained BasicVSR on the embedded clips and show it is smaller and faster.

By default it starts from the dense BasicVSR-32-8 that ships inside srprune (``assets/``:
trained on these clips by ``srprune demo --train``, stored in float16); ``--train`` trains one
first instead. It then prunes with SSL (or another method) at ratio p, finetunes briefly, and
reports params, MACs, latency and PSNR/SSIM of bicubic, dense and compact on held-out clips
(the prune report), upscales one clip with the compact model to an MP4 and draws side-by-side
crops.

Everything runs on the embedded synthetic camera-motion clips rendered from scikit-image's photos
(train and validation use disjoint photos). The model itself (a small BasicVSR with a zero-flow
SPyNet, and the shipped files) comes from :mod:`srprune.models.demo_model`; real use imports the
official SPyNet weights (``srprune convert --spynet``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srprune.data.layouts import load_clip
from srprune.eval.evaluate import super_resolve
from srprune.eval.metrics import psnr, tensor_to_uint8
from srprune.infer.io import FrameSink, FrameSource
from srprune.infer.upscale import UpscaleOptions, upscale
from srprune.io.atomic import atomic_path, write_text_atomic
from srprune.io.model_file import load_model
from srprune.models.bicubic import Bicubic, BicubicConfig
from srprune.models.contract import flow_path
from srprune.models.demo_model import SHIPPED, build_demo_model, demo_model_name, demo_title
from srprune.progress import INTERVAL
from srprune.pruning.config import settings_from_dict, short_schedule
from srprune.pruning.methods import get_recipe
from srprune.runs.prune import PrunePipeline
from srprune.train.checkpoint import LAST, checkpoint_dir
from srprune.train.config import ValConfig, config_from_dict
from srprune.train.datasets import build_train_dataset, val_clips
from srprune.train.loop import Trainer

ASSETS = "assets"


@dataclass(frozen=True)
class DemoOptions:
    """What the demo prunes (or trains first), how, and where it writes."""

    out: Path = Path("runs/demo")
    device: str = "cpu"
    seed: int = 0
    quiet: bool = False
    causal: bool = False
    method: str = "ssl"
    ratio: float = 0.5
    finetune_iters: int = 150
    reg_iters: int = 40
    train: bool = False
    num_feat: int = 32
    num_block: int = 8
    flow_feat: int = 8
    iters: int = 800


MEASURED_MINUTES = 4
"""Minutes of a fresh clone's ``make demo`` (default options) on 2 otherwise idle CPU cores,
9 beside the test suite (README Quickstart; re-run: ``time make demo``)."""


def expected_duration(opt: DemoOptions) -> str:
    """What the demo tells at its start about how long it will take."""
    default = DemoOptions()
    iters = opt.reg_iters + opt.finetune_iters
    same = iters == default.reg_iters + default.finetune_iters and not opt.train
    text = (f"expected duration: about {MEASURED_MINUTES} minutes on 2 idle CPU cores (measured "
            "with the default options; longer on a busy machine, less on a GPU)")
    if not same:
        text += (f"; these options train {iters} pruning iterations instead of "
                 f"{default.reg_iters + default.finetune_iters}"
                 + (f", after {opt.iters} dense training iterations" if opt.train else ""))
    return text + (f"; progress: bars on a terminal, else a line at least every "
                   f"{INTERVAL:.0f} s of training")


def _name(opt: DemoOptions) -> str:
    return demo_title(opt.causal, opt.num_feat, opt.num_block)


def _data() -> dict[str, Any]:
    return {"layout": "frames", "root": "default", "num_frames": 5, "lr_patch": 32,
            "batch_size": 4, "val": {"layout": "frames", "root": "default"}}


def demo_config(opt: DemoOptions) -> dict[str, Any]:
    """The training config of ``--train`` (same schema as ``srprune train`` YAML)."""
    return {
        "model": {"name": demo_model_name(opt.causal, opt.num_feat, opt.num_block), "scale": 4},
        "data": {k: v for k, v in _data().items() if k != "val"},
        "optim": {"lr": 1e-3, "flow_lr_mult": 0.0,
                  "scheduler": {"name": "cosine_restart", "eta_min": 1e-5}},
        "loss": {"eps": 1e-6},
        "train": {"iters": opt.iters, "val_every": 0, "ckpt_every": 100, "log_every": 50,
                  "seed": opt.seed, "device": opt.device},
        "out": str(opt.out / "train"),
    }


def prune_config(opt: DemoOptions) -> dict[str, Any]:
    """The pruning config of the demo (same schema as ``srprune prune --config`` YAML, as in
    configs/prune/demo_ssl.yaml but shorter): regularisation, finetuning, report."""
    # without reg_iters: the schedule's own length is the same, and the demo's fingerprints stay
    schedule = {k: v for k, v in short_schedule(opt.reg_iters).items() if k != "reg_iters"}
    return {
        "prune": {"ratio": opt.ratio, **schedule, "seed": opt.seed,
                  "report_lr_size": [90, 160], "latency_frames": 3, "latency_repeats": 3},
        "data": _data(),
        "optim": {"lr": 5e-4, "flow_lr_mult": 0.0,
                  "scheduler": {"name": "cosine_restart", "eta_min": 1e-5}},
        "train": {"iters": opt.finetune_iters, "log_every": 50, "ckpt_every": 50,
                  "seed": opt.seed, "device": opt.device},
    }


def shipped_model(causal: bool) -> Path:
    """Path of the dense demo model inside the installed package."""
    return Path(str(resources.files("srprune") / ASSETS / SHIPPED[causal]))


def train_dense(opt: DemoOptions, say: Any) -> Path:
    """Train the dense demo model into ``out/train`` (resumes); its model file."""
    cfg = config_from_dict(demo_config(opt))
    torch.manual_seed(opt.seed)
    model = build_demo_model(opt.causal, opt.num_feat, opt.num_block, opt.flow_feat)
    dataset = build_train_dataset(cfg.data, 4, True, opt.seed)
    train_dir = opt.out / "train"
    say(f"training {_name(opt)} for {opt.iters} iterations on {opt.device}")
    trainer = Trainer(model, dataset, cfg, frozen=[flow_path(model)], out=train_dir,
                      device=opt.device, quiet=opt.quiet, extra={"demo": True})
    result = trainer.fit(resume=(checkpoint_dir(train_dir) / LAST).is_file())
    return Path(result.model_path)


def _montage(images: list[tuple[str, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(2.6 * len(images), 2.9), dpi=110)
    for ax, (title, img) in zip(axes, images, strict=True):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def _pictures(opt: DemoOptions, dense: nn.Module, compact: nn.Module) -> dict[str, str]:
    """Upscale the first held-out clip with the compact model to an MP4 and draw crops of
    bicubic, dense, compact and the ground truth."""
    clips, _ = val_clips(ValConfig(layout="frames", root="default"), 4, True)
    clip = clips[0]
    lr, gt = load_clip(clip, 4)
    video = opt.out / f"upscaled_{clip.name}.mp4"
    video.unlink(missing_ok=True)
    if clip.lr:
        src = FrameSource(Path(clip.lr[0]).parent, Fraction(12), len(clip), False)
        upscale(compact, src, FrameSink(video, src.fps),
                UpscaleOptions(device="cpu", channels_last=False), progress=False)
    t = len(clip) // 2
    crop = (slice(32, 96), slice(32, 96))
    gt_u8 = tensor_to_uint8(gt[t])
    images = [("LR (nearest x4)", tensor_to_uint8(
        torch.nn.functional.interpolate(lr[t:t + 1], scale_factor=4, mode="nearest")[0]))]
    for name, model in (("bicubic", Bicubic(BicubicConfig(scale=4))), ("dense", dense),
                        ("compact", compact)):
        img = tensor_to_uint8(super_resolve(model, lr, "cpu")[t])
        images.append((f"{name} {psnr(img, gt_u8):.2f} dB", img))
    images.append(("ground truth", gt_u8))
    side = opt.out / "side_by_side.png"
    _montage([(title, img[crop]) for title, img in images], side)
    return {"video": str(video), "side_by_side": str(side), "clip": clip.name}


def run_demo(opt: DemoOptions) -> dict[str, Any]:
    """(Train,) prune, report, upscale; returns the demo report (also in ``out``)."""
    def say(text: str) -> None:
        if not opt.quiet:
            print(f"[demo] {text}", flush=True)

    t0 = time.perf_counter()
    say(expected_duration(opt))
    say("rendering the embedded clips (cached after the first run)")
    dense_path = train_dense(opt, say) if opt.train else shipped_model(opt.causal)
    data = prune_config(opt)
    settings = settings_from_dict(data.pop("prune"))
    cfg = config_from_dict({**data, "model": {"file": str(dense_path)}})
    say(f"pruning {dense_path.name} with {opt.method} at p = {opt.ratio}: {opt.reg_iters} "
        f"regularisation + {opt.finetune_iters} finetuning iterations, then the report")
    PrunePipeline(get_recipe(opt.method), settings, cfg, dense_path, opt.out / "prune",
                  opt.device, quiet=opt.quiet, on_change="redo").run()
    pr = json.loads((opt.out / "prune" / "report.json").read_text())
    say("upscaling a held-out clip with the compact model and drawing side-by-side crops")
    pictures = _pictures(opt, load_model(dense_path), load_model(pr["compact"]))
    report = {"dense_model": str(dense_path), "compact_model": pr["compact"],
              "method": opt.method, "ratio": opt.ratio, "lr_size": pr["lr_size"],
              "device": pr["device"], "rows": pr["rows"], "speedup": pr.get("speedup"),
              "mac_reduction": pr["mac_reduction"], "param_reduction": pr["param_reduction"],
              "drift": (pr.get("drift") or {}).get("summary"),
              "prune_report": str(opt.out / "prune" / "report.md"), **pictures,
              "seconds": round(time.perf_counter() - t0, 1)}
    write_text_atomic(opt.out / "report.json", json.dumps(report, indent=2))
    write_text_atomic(opt.out / "report.md", demo_markdown(report))
    return report


def demo_markdown(r: dict[str, Any]) -> str:
    """The demo report as Markdown."""
    rows = r["rows"]
    h, w = r["lr_size"]
    lines = [
        "# srprune demo", "",
        f"`{Path(r['dense_model']).name}` pruned with {r['method'].upper()} at p = {r['ratio']} "
        "on the embedded synthetic clips; PSNR/SSIM on held-out clips rendered from other "
        f"photos; MACs per frame and latency at LR {h}x{w} on {r['device']} (dense and compact "
        "timed side by side).", "",
        "| model | params | GMACs | ms / frame | PSNR / SSIM |", "|---|---|---|---|---|"]
    b = rows.get("bicubic")
    if b:
        lines.append(f"| bicubic | - | - | - | {b['psnr']:.2f} / {b['ssim']:.4f} |")
    for name in ("dense", "pruned (before finetune)", "compact"):
        row = rows.get(name)
        if row is None:
            continue
        ms = row.get("latency_ms_per_frame")
        lines.append(f"| {name} | {row['params'] / 1e6:.3f} M | "
                     f"{row['macs_per_frame'] / 1e9:.2f} | "
                     f"{'-' if ms is None else f'{ms:.0f}'} | "
                     f"{row['psnr']:.2f} / {row['ssim']:.4f} |")
    c, d = rows["compact"], rows["dense"]
    lines += ["", f"The compact model has {r['param_reduction']:.2f}x fewer params and "
              f"{r['mac_reduction']:.2f}x fewer MACs"
              + (f", runs {r['speedup']:.2f}x faster" if r.get("speedup") else "")
              + f", and scores {c['psnr'] - d['psnr']:+.2f} dB against dense"
              + (f", {c['psnr'] - b['psnr']:+.2f} dB against bicubic." if b else "."), "",
              *([f"Compact vs dense, temporal {r['drift']} (a held-out clip played forward and "
                 "backward; per-frame PSNR in the prune report).", ""] if r.get("drift") else []),
              f"Compact model: `{r['compact_model']}`; full prune report: "
              f"`{r['prune_report']}`; upscaled clip: `{r['video']}`.", "",
              "![side by side](side_by_side.png)", ""]
    return "\n".join(lines)

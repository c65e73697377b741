"""The demo: train a small BasicVSR on the embedded clips, compare it with bicubic, upscale a clip.

Everything runs on the embedded synthetic camera-motion clips rendered from scikit-image's photos
(train and validation use disjoint photos). No pretrained flow network can be had offline, so the
demo keeps SPyNet fixed at zero flow (the synthetic motion is under a pixel per LR frame); real
use imports the official SPyNet weights (``srprune convert --spynet``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srprune.eval.conventions import convention_for
from srprune.eval.metrics import psnr, tensor_to_uint8
from srprune.eval.scores import ScoreBook
from srprune.io.atomic import atomic_path, write_text_atomic
from srprune.models.basicvsr import BasicVSR, BasicVSRConfig
from srprune.models.bicubic import Bicubic, BicubicConfig


@dataclass(frozen=True)
class DemoOptions:
    """Model size, training length, output folder and device of the demo."""

    num_feat: int = 16
    num_block: int = 3
    iters: int = 600
    out: Path = Path("runs/demo")
    device: str = "cpu"
    seed: int = 0
    quiet: bool = False
    bidirectional: bool = True
    flow_feat: int = 32


def _name(opt: DemoOptions) -> str:
    return f"BasicVSR{'' if opt.bidirectional else '-uni'}-{opt.num_feat}-{opt.num_block}"


def demo_config(opt: DemoOptions) -> dict[str, Any]:
    """The training config of the demo (same schema as ``srprune train`` YAML)."""
    return {
        "model": {"name": f"basicvsr-{'' if opt.bidirectional else 'uni-'}"
                          f"{opt.num_feat}-{opt.num_block}", "scale": 4},
        "data": {"layout": "frames", "root": "default", "num_frames": 5, "lr_patch": 32,
                 "batch_size": 4},
        "optim": {"lr": 1e-3, "flow_lr_mult": 0.0,
                  "scheduler": {"name": "cosine_restart", "eta_min": 1e-5}},
        "loss": {"eps": 1e-6},
        "train": {"iters": opt.iters, "val_every": 0, "ckpt_every": 100, "log_every": 50,
                  "seed": opt.seed, "device": opt.device},
        "out": str(opt.out / "train"),
    }


@torch.no_grad()
def zero_flow(spynet: nn.Module) -> None:
    """Make SPyNet output exactly zero flow (its last conv at every level set to zero)."""
    for level in spynet.basic_module:
        last = level.basic_module[-1]
        last.weight.zero_()
        last.bias.zero_()


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


def run_demo(opt: DemoOptions) -> dict[str, Any]:
    """Train, evaluate, upscale and report; returns the report dict (also in ``out``)."""
    from srprune.data.layouts import load_clip
    from srprune.eval.evaluate import super_resolve
    from srprune.infer.io import FrameSink, FrameSource
    from srprune.infer.upscale import UpscaleOptions, upscale
    from srprune.train.checkpoint import LAST, checkpoint_dir
    from srprune.train.config import config_from_dict
    from srprune.train.datasets import build_train_dataset, val_clips
    from srprune.train.loop import Trainer

    def say(text: str) -> None:
        if not opt.quiet:
            print(f"[demo] {text}", flush=True)

    t0 = time.perf_counter()
    cfg = config_from_dict(demo_config(opt))
    say("rendering the embedded clips (cached after the first run)")
    torch.manual_seed(opt.seed)
    # A narrow reconstruction (recon_feat = num_feat instead of BasicSR's fixed 64) keeps the
    # HR-resolution convs cheap enough for CPU training.
    model = BasicVSR(BasicVSRConfig(num_feat=opt.num_feat, num_block=opt.num_block,
                                    recon_feat=opt.num_feat, bidirectional=opt.bidirectional,
                                    flow_feat=opt.flow_feat))
    zero_flow(model.spynet)
    dataset = build_train_dataset(cfg.data, 4, True, opt.seed)
    train_dir = opt.out / "train"
    say(f"training {_name(opt)} for {opt.iters} iterations "
        f"on {opt.device}")
    trainer = Trainer(model, dataset, cfg, frozen=["spynet"], out=train_dir, device=opt.device,
                      quiet=opt.quiet, extra={"demo": True})
    result = trainer.fit(resume=(checkpoint_dir(train_dir) / LAST).is_file())
    model = trainer.model.cpu().eval()
    t_train = time.perf_counter() - t0

    from srprune.train.config import ValConfig

    say(f"trained in {t_train:.0f} s; scoring model and bicubic on the held-out clips")
    clips, layout = val_clips(ValConfig(layout="frames", root="default"), 4, True)
    conv = convention_for(layout, 4)
    books = {"bicubic": ScoreBook(conv), "model": ScoreBook(conv)}
    bicubic = Bicubic(BicubicConfig(scale=4))
    first = None
    for clip in clips:
        lr, gt = load_clip(clip, 4)
        outs = {"bicubic": super_resolve(bicubic, lr, "cpu"),
                "model": super_resolve(model, lr, "cpu")}
        for name, sr in outs.items():
            books[name].add_clip(clip.name, sr, gt, conv)
        if first is None:
            first = (clip, lr, gt, outs)
    scores = {name: book.to_dict() for name, book in books.items()}
    gain = scores["model"]["psnr"] - scores["bicubic"]["psnr"]

    clip, lr, gt, outs = first
    say(f"upscaling {clip.name} to a video and drawing the side-by-side crops")
    video_path = opt.out / f"upscaled_{clip.name}.mp4"
    video_path.unlink(missing_ok=True)
    lr_dir = Path(clip.lr[0]).parent if clip.lr else None
    if lr_dir is not None:
        src = FrameSource(lr_dir, Fraction(12), len(clip), False)
        upscale(model, src, FrameSink(video_path, src.fps),
                UpscaleOptions(device="cpu", channels_last=False), progress=False)
    t = len(clip) // 2
    crop = (slice(32, 96), slice(32, 96))
    images = [("LR (nearest x4)", tensor_to_uint8(
        torch.nn.functional.interpolate(lr[t:t + 1], scale_factor=4, mode="nearest")[0]))]
    gt_u8 = tensor_to_uint8(gt[t])
    for name in ("bicubic", "model"):
        img = tensor_to_uint8(outs[name][t])
        images.append((f"{name} {psnr(img, gt_u8):.2f} dB", img))
    images.append(("ground truth", gt_u8))
    _montage([(title, img[crop]) for title, img in images], opt.out / "side_by_side.png")

    report = {
        "model": f"{_name(opt)} (recon {opt.num_feat})",
        "iters": result.iters_done, "train_seconds": round(t_train, 1),
        "val_clips": [c.name for c in clips], "convention": conv.describe(),
        "scores": scores, "psnr_gain_db": gain,
        "model_file": str(result.model_path), "video": str(video_path),
        "side_by_side": str(opt.out / "side_by_side.png"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_text_atomic(opt.out / "report.json", json.dumps(report, indent=2))
    write_text_atomic(opt.out / "report.md", demo_markdown(report))
    return report


def demo_markdown(r: dict[str, Any]) -> str:
    """The demo report as Markdown."""
    b, m = r["scores"]["bicubic"], r["scores"]["model"]
    verdict = "beats" if r["psnr_gain_db"] > 0 else "does NOT beat"
    lines = [
        "# srprune demo", "",
        f"{r['model']} trained {r['iters']} iterations ({r['train_seconds']:.0f} s) on the "
        "embedded synthetic clips; scored on held-out clips rendered from other photos "
        f"({r['convention']}).", "",
        "| clip | bicubic PSNR / SSIM | model PSNR / SSIM |", "|---|---|---|"]
    for clip in r["val_clips"]:
        bp, mp = b["clips"][clip], m["clips"][clip]
        lines.append(f"| {clip} | {bp['psnr']:.2f} / {bp['ssim']:.4f} | "
                     f"{mp['psnr']:.2f} / {mp['ssim']:.4f} |")
    lines += [f"| **mean** | {b['psnr']:.2f} / {b['ssim']:.4f} | "
              f"{m['psnr']:.2f} / {m['ssim']:.4f} |", "",
              f"The model {verdict} bicubic by {r['psnr_gain_db']:+.2f} dB PSNR.", "",
              f"Model: `{r['model_file']}`; upscaled clip: `{r['video']}`.", "",
              "![side by side](side_by_side.png)", ""]
    return "\n".join(lines)

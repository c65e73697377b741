"""Hardware-friendly widths (``prune.round_to``): effect on MACs, latency and PSNR.

1. BasicVSR-uni (64 x 30, seeded weights), SSL removal at ``--ratio`` with global L1 ranking
   (irregular widths per layer), kept units per group rounded up to 1 (off), 8 and 16:
   params, GMACs per frame, share of pruned convs whose widths are multiples of 8, and latency
   per frame of the streaming cell in PyTorch eager (channels_last) and onnxruntime, all
   variants interleaved (median of ``--repeats`` rounds after a warm-up).
2. PSNR: the committed trained demo BasicVSR-16-3 (``results/models/``), the same removal and
   rounding, no finetuning, on the embedded held-out clips (``srprune test --data default``).

Writes ``results/round_widths.{json,md}``.

    python bench/round_widths.py --lr-size 90x160 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from srprune.commands.common import parse_size
from srprune.export.onnx_writer import export_onnx
from srprune.export.runtime import ExportedModel
from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model
from srprune.models.registry import create_model
from srprune.profile import count_macs, count_params
from srprune.pruning.criteria import round_kept_units, score_groups, select_units
from srprune.pruning.surgery import remove_units

MULTIPLES = (1, 8, 16)
DEMO = Path("results/models/demo_basicvsr_dense_fp16.safetensors")


def pruned(model: torch.nn.Module, ratio: float, multiple: int) -> torch.nn.Module:
    groups = model.channel_groups("rsc")
    scores = score_groups(model, groups)
    removed = round_kept_units(groups, scores, select_units(groups, scores, ratio), multiple)
    remove_units(model, groups, removed)
    return model


def aligned_share(dense: torch.nn.Module, model: torch.nn.Module) -> float:
    """Share of the convs whose width changed that have in/out widths divisible by 8."""
    ref = dict(dense.named_modules())
    changed = [m for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)
               and (m.in_channels, m.out_channels) != (ref[n].in_channels, ref[n].out_channels)]
    ok = [m for m in changed if m.in_channels % 8 == 0 and m.out_channels % 8 == 0]
    return len(ok) / max(1, len(changed))


def latency_part(args: argparse.Namespace) -> list[dict[str, Any]]:
    h, w = args.lr_size
    tmp = Path(tempfile.mkdtemp(prefix="round_"))
    torch.manual_seed(args.seed)
    dense = create_model("basicvsr-uni").eval()
    rows, runners = [], {}
    g = torch.Generator().manual_seed(1)
    lr, prev = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g)
    for k in MULTIPLES:
        model = create_model("basicvsr-uni").eval()
        model.load_state_dict(dense.state_dict())
        pruned(model, args.ratio, k)
        cell = model.export_module("stream").eval()
        hidden = torch.rand(1, model.cell_spec().states[0].channels, h, w, generator=g)
        path = tmp / f"round{k}.onnx"
        export_onnx(model, path, args.lr_size)
        ort = ExportedModel(path, "onnxruntime")
        cl = cell.to(memory_format=torch.channels_last)
        feeds = [x.numpy() for x in (lr, prev, hidden)]

        def torch_step(cl=cl, hidden=hidden) -> None:
            with torch.inference_mode():
                cl(lr.contiguous(memory_format=torch.channels_last),
                   prev.contiguous(memory_format=torch.channels_last),
                   hidden.contiguous(memory_format=torch.channels_last))

        runners[(k, "pytorch")] = torch_step
        runners[(k, "onnxruntime")] = lambda ort=ort, feeds=feeds: ort.run(feeds)
        rows.append({"round_to": k, "params": count_params(model)[0],
                     "gmacs_per_frame": count_macs(model, args.lr_size)[0] / 1e9,
                     "aligned_share": aligned_share(dense, model)})
        print(f"[latency] round_to {k}: exported", flush=True)
    times: dict[tuple[int, str], list[float]] = {key: [] for key in runners}
    for r in range(1 + args.repeats):
        for key, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            if r:
                times[key].append((time.perf_counter() - t0) * 1000)
    for row in rows:
        k = row["round_to"]
        row["ms_per_frame"] = {rt: statistics.median(times[(k, rt)])
                               for rt in ("pytorch", "onnxruntime")}
        row["runs_ms"] = {rt: times[(k, rt)] for rt in ("pytorch", "onnxruntime")}
    return rows


def psnr_part(args: argparse.Namespace) -> list[dict[str, Any]]:
    from srprune.data.layouts import open_layout
    from srprune.eval.conventions import convention_for
    from srprune.eval.evaluate import evaluate
    from srprune.train.datasets import default_root

    base, layout = default_root(True, 4)
    clips = open_layout(base / "val", layout, None, 4)
    conv = convention_for(layout, 4)
    rows = []
    dense = load_model(DEMO).float()
    for k in (0, *MULTIPLES):
        model = load_model(DEMO).float() if k == 0 else pruned(load_model(DEMO).float(),
                                                               args.ratio, k)
        psnr, ssim = evaluate(model, clips, 4, conv).mean()
        rows.append({"round_to": "dense" if k == 0 else k, "psnr": psnr, "ssim": ssim,
                     "params": count_params(model)[0],
                     "gmacs_per_frame": count_macs(model, (180, 320))[0] / 1e9,
                     "aligned_share": aligned_share(dense, model) if k else 1.0})
        print(f"[psnr] {rows[-1]}", flush=True)
    return rows


def markdown(res: dict[str, Any]) -> str:
    h, w = res["lr_size"]
    lines = ["# Hardware-friendly widths (prune.round_to)", "",
             f"`bench/round_widths.py`; SSL removal (RSC) at p = {res['ratio']}, global L1 "
             "ranking; kept units per group rounded up to a multiple (best-scored removed "
             "units given back).", "",
             f"## BasicVSR-uni 64x30 streaming cell, LR {h}x{w} ({res['threads']} threads, "
             "interleaved, median)", "",
             "| round_to | params | GMACs/frame | changed convs with widths % 8 == 0 | "
             "PyTorch ms | onnxruntime ms |", "|---|---|---|---|---|---|"]
    for r in res["latency"]:
        lines.append(f"| {r['round_to']} | {r['params'] / 1e6:.2f} M | "
                     f"{r['gmacs_per_frame']:.2f} | {100 * r['aligned_share']:.0f} % | "
                     f"{r['ms_per_frame']['pytorch']:.0f} | "
                     f"{r['ms_per_frame']['onnxruntime']:.0f} |")
    if res.get("psnr"):
        lines += ["", "## PSNR: trained demo BasicVSR-16-3, no finetuning, embedded held-out "
                  "clips", "", "| round_to | params | GMACs/frame at 180x320 | PSNR dB | SSIM |",
                  "|---|---|---|---|---|"]
        for r in res["psnr"]:
            lines.append(f"| {r['round_to']} | {r['params'] / 1e6:.3f} M | "
                         f"{r['gmacs_per_frame']:.2f} | {r['psnr']:.2f} | {r['ssim']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lr-size", type=parse_size, default=(90, 160))
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-psnr", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results"))
    args = p.parse_args()
    res = {"lr_size": list(args.lr_size), "ratio": args.ratio, "repeats": args.repeats,
           "threads": torch.get_num_threads(), "torch": torch.__version__,
           "latency": latency_part(args),
           "psnr": [] if args.no_psnr else psnr_part(args)}
    write_text_atomic(args.out / "round_widths.json", json.dumps(res, indent=1))
    write_text_atomic(args.out / "round_widths.md", markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()

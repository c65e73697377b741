"""Latency of dense BasicVSR vs its SSL-compact model, measured side by side in one run.

The compact structure is what SSL's removal stage produces at ratio p (RSC residual blocks and
pixel-shuffle groups); which units go depends on trained weights, so this bench takes the units by
global L1 ranking of a seeded model (``--selection global``) or the same ratio in every group
(``--selection local``, the default: close to Fig. 4's per-layer profile). Dense and compact runs
alternate so that machine noise hits both alike. Writes ``results/latency_ssl.{json,md}``.

    python bench/latency_ssl.py --ratio 0.5 --lr-size 180x320 --frames 3 --device cpu
    python bench/latency_ssl.py --lr-size 180x320 --device cuda --precision fp16   # GPU
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

from srprune.commands.common import parse_size
from srprune.io.atomic import write_text_atomic
from srprune.models.registry import create_model
from srprune.profile import count_macs, count_params, flow_child, latency_side_by_side
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.surgery import remove_units


def dense_and_compact(model: str, ratio: float, selection: str, seed: int
                      ) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A seeded dense model and its SSL-compact (RSC) model at ``ratio``."""
    torch.manual_seed(seed)
    dense = create_model(model).eval()
    compact = create_model(model).eval()
    compact.load_state_dict(dense.state_dict())
    groups = compact.channel_groups("rsc")
    removed = select_units(groups, score_groups(compact, groups), ratio, scope=selection)
    remove_units(compact, groups, removed)
    return dense, compact


def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    dense, compact = dense_and_compact(args.model, args.ratio, args.selection, args.seed)
    macs_d, parts_d = count_macs(dense, args.lr_size)
    macs_c, parts_c = count_macs(compact, args.lr_size)
    # What the timed clip really executes: BasicVSR computes flows in both directions, i.e.
    # 2 (T - 1) SPyNet passes for T frames, where the papers' convention counts one per frame.
    passes = (2 if dense.config.bidirectional else 1) * (args.frames - 1) / args.frames
    exec_d = macs_d + (passes - 1) * parts_d[flow_child(dense)]
    exec_c = macs_c + (passes - 1) * parts_c[flow_child(compact)]
    times = latency_side_by_side({"dense": dense, "compact": compact}, args.lr_size,
                                 args.frames, device, args.warmup, args.repeats,
                                 args.channels_last, args.precision)
    med = {k: statistics.median(v) for k, v in times.items()}
    mac_reduction = macs_d / macs_c
    exec_reduction = exec_d / exec_c
    speedup = med["dense"] / med["compact"]
    return {
        "model": args.model, "ratio": args.ratio, "channels_last": args.channels_last,
        "precision": args.precision,
        "selection": args.selection,
        "lr_size": list(args.lr_size), "frames": args.frames, "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else platform.processor() or platform.machine()),
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "params": {"dense": count_params(dense)[0], "compact": count_params(compact)[0]},
        "macs_per_frame_G": {"dense": macs_d / 1e9, "compact": macs_c / 1e9},
        "executed_macs_per_frame_G": {"dense": exec_d / 1e9, "compact": exec_c / 1e9},
        "executed_mac_reduction": exec_reduction,
        "speedup_over_executed_mac_reduction": speedup / exec_reduction,
        "latency_ms_per_frame": med, "latency_runs_ms": times,
        "mac_reduction": mac_reduction, "speedup": speedup,
        "speedup_over_mac_reduction": speedup / mac_reduction,
        "target": "speedup >= 0.9 x MAC reduction (issue 13)",
        "meets_target_paper_macs": speedup >= 0.9 * mac_reduction,
        "meets_target_executed_macs": speedup >= 0.9 * exec_reduction,
    }


def markdown(results: list[dict]) -> str:
    lines = ["# SSL-compact vs dense BasicVSR latency", "",
             "Measured side by side in one run by `bench/latency_ssl.py` (median per frame).", "",
             "GMACs follow the papers' convention (one SPyNet pass per frame); the timed "
             "T-frame clip executes 2(T-1)/T passes per frame (flows in both directions), "
             "shown as 'executed'.", "",
             "| device | model | p | LR, frames | params dense / compact | GMACs dense / compact "
             "| MAC red. (paper / executed) | ms dense / compact | speedup | "
             "speedup / MAC red. (paper / executed) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['device']} ({r['device_name']}, {r['threads']} threads"
            f"{', channels_last' if r['channels_last'] else ''}"
            f"{', ' + r['precision'] if r.get('precision', 'fp32') != 'fp32' else ''}) | "
            f"{r['model']} | "
            f"{r['ratio']} ({r['selection']}) | {r['lr_size'][0]}x{r['lr_size'][1]}, "
            f"{r['frames']} | "
            f"{r['params']['dense'] / 1e6:.2f} M / {r['params']['compact'] / 1e6:.2f} M | "
            f"{r['macs_per_frame_G']['dense']:.1f} / {r['macs_per_frame_G']['compact']:.1f} | "
            f"{r['mac_reduction']:.2f}x / {r['executed_mac_reduction']:.2f}x | "
            f"{r['latency_ms_per_frame']['dense']:.0f} / "
            f"{r['latency_ms_per_frame']['compact']:.0f} | {r['speedup']:.2f}x | "
            f"{r['speedup_over_mac_reduction']:.2f} / "
            f"{r['speedup_over_executed_mac_reduction']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="basicvsr")
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--selection", choices=["local", "global"], default="local")
    p.add_argument("--lr-size", type=parse_size, default=(180, 320))
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="run both models in channels_last memory format (default: on)")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="autocast of the timed runs (fp16 needs CUDA)")
    p.add_argument("--out", type=Path, default=Path("results"))
    args = p.parse_args()
    result = run(args)
    fmt = "cl" if args.channels_last else "nchw"
    name = f"latency_ssl_{result['device'].split(':')[0]}_{fmt}"
    if args.precision != "fp32":
        name += f"_{args.precision}"
    path = args.out / f"{name}.json"
    write_text_atomic(path, json.dumps(result, indent=2))
    write_text_atomic(args.out / f"{name}.md", markdown([result]))
    print(markdown([result]))


if __name__ == "__main__":
    main()

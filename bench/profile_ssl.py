"""Where the time goes: per-module and per-op CPU profile of dense vs SSL-compact BasicVSR.

Builds the same pair as ``bench/latency_ssl.py`` (seeded dense BasicVSR-64-30 and its
SSL-compact model at ratio p, same ratio in every group), runs each on one LR clip in
``channels_last`` under ``torch.inference_mode``, and measures:

* per top-level module (SPyNet, trunks, fusion, upsampler convs, ...) wall time from forward
  hooks, median over runs interleaved dense / compact; "rest" is what no module owns (flow
  warping, concatenations, the bilinear base, stacking);
* that module's executed MACs (the flow network counted once per pass it really makes,
  2 (T - 1) for T frames) and its own MAC reduction;
* one run of each under ``torch.profiler``: the top ops by self CPU time;
* an upper bound on the compact model's speed-up (:func:`ideal_times`): every compact
  module at its dense module's time per MAC, so that what is left is the unpruned flow network
  and the memory-bound parts.

Writes ``results/profile_ssl_<device>.{json,md}``.

    python bench/profile_ssl.py --lr-size 90x160 --frames 3 --repeats 3 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from latency_ssl import dense_and_compact
from torch import nn

from srprune.commands.common import parse_size
from srprune.io.atomic import write_text_atomic
from srprune.profile import count_macs, example_input, flow_child

REST = "rest (warp, cat, bilinear base, stack)"


def module_times(model: nn.Module, x: torch.Tensor) -> tuple[float, dict[str, float]]:
    """(total ms, ms per top-level child) of one forward pass."""
    spent: dict[str, float] = {}
    handles = []
    for name, child in model.named_children():
        def pre(_m: nn.Module, _i: tuple, name: str = name) -> None:
            spent[name + "@"] = time.perf_counter()

        def post(_m: nn.Module, _i: tuple, _o: object, name: str = name) -> None:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - spent.pop(name + "@")
        handles += [child.register_forward_pre_hook(pre), child.register_forward_hook(post)]
    t0 = time.perf_counter()
    model(x)
    total = time.perf_counter() - t0
    for h in handles:
        h.remove()
    ms = {k: v * 1000 for k, v in spent.items()}
    ms[REST] = total * 1000 - sum(ms.values())
    return total * 1000, ms


def executed_macs(model: nn.Module, lr_size: tuple[int, int], frames: int
                  ) -> tuple[float, dict[str, float]]:
    """MACs per frame in the papers' convention (one flow pass per frame), and the MACs each
    top-level child executes on a ``frames``-frame clip."""
    per_frame, parts = count_macs(model, lr_size, frames)
    flow = flow_child(model)
    passes = (2 if model.config.bidirectional else 1) * (frames - 1)
    return per_frame, {k: v * (passes if k == flow else frames) for k, v in parts.items()}


def op_table(model: nn.Module, x: torch.Tensor, top: int) -> list[dict]:
    """Top ops by self CPU time of one forward pass."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        model(x)
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows)
    return [{"op": e.key, "calls": e.count, "self_ms": e.self_cpu_time_total / 1000,
             "share": e.self_cpu_time_total / total} for e in rows[:top]]


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    dense, compact = dense_and_compact(args.model, args.ratio, "local", args.seed)
    models = {"dense": dense, "compact": compact}
    counted = {k: executed_macs(m, args.lr_size, args.frames) for k, m in models.items()}
    paper = {k: c[0] for k, c in counted.items()}
    macs = {k: c[1] for k, c in counted.items()}
    if args.nchw_too:  # the same models in the default (NCHW) layout, interleaved too
        models.update({f"{k}/nchw": copy.deepcopy(m) for k, m in models.items()})
    models = {k: m if k.endswith("/nchw") else m.to(memory_format=torch.channels_last)
              for k, m in models.items()}
    torch.manual_seed(args.seed)
    x = example_input(dense, args.lr_size, args.frames)
    totals: dict[str, list[float]] = {k: [] for k in models}
    parts: dict[str, list[dict[str, float]]] = {k: [] for k in models}
    ops = {}
    with torch.inference_mode():
        for m in models.values():  # warm-up
            m(x)
        for _ in range(args.repeats):
            for name, m in models.items():
                total, ms = module_times(m, x)
                totals[name].append(total / args.frames)
                parts[name].append(ms)
        for name in ("dense", "compact"):
            ops[name] = op_table(models[name], x, args.top)
    med = {k: statistics.median(v) for k, v in totals.items()}
    names = list(parts["dense"][0])
    per_module = {}
    for n in names:
        d = statistics.median(p[n] for p in parts["dense"]) / args.frames
        c = statistics.median(p.get(n, 0.0) for p in parts["compact"]) / args.frames
        md, mc = macs["dense"].get(n, 0.0), macs["compact"].get(n, 0.0)
        per_module[n] = {"ms_dense": d, "ms_compact": c, "gmacs_dense": md / args.frames / 1e9,
                         "gmacs_compact": mc / args.frames / 1e9}
    layouts = {n: {k: statistics.median(p.get(n, 0.0) for p in parts[k]) / args.frames
                   for k in models} for n in names}
    exec_d = sum(macs["dense"].values())
    exec_c = sum(macs["compact"].values())
    ideal_d, ideal_c = ideal_times(per_module)
    return {"model": args.model, "ratio": args.ratio, "lr_size": list(args.lr_size),
            "frames": args.frames, "repeats": args.repeats, "threads": torch.get_num_threads(),
            "device": "cpu", "device_name": platform.processor() or platform.machine(),
            "torch": torch.__version__, "memory_format": "channels_last",
            "ms_per_frame": med, "speedup": med["dense"] / med["compact"],
            "executed_mac_reduction": exec_d / exec_c,
            "paper_mac_reduction": paper["dense"] / paper["compact"],
            "ideal_ms_per_frame": {"dense": ideal_d, "compact": ideal_c},
            "ideal_speedup": ideal_d / ideal_c,
            "per_module": per_module, "ops": ops,
            **({"per_module_layouts": layouts} if args.nchw_too else {})}


def ideal_times(per_module: dict[str, dict[str, float]]) -> tuple[float, float]:
    """(dense, compact) ms per frame of the best case for the compact model: every compact
    module with MACs at its dense module's time per MAC or its own, whichever is less (narrow
    convs as efficient as wide ones; the RSC gather / scatter-add, inside the trunks, free),
    every MAC-free part at the lesser measured time, and a module both models share unchanged
    (the flow network) at the mean of its two times in both. Their ratio bounds the speed-up
    any kernel work could reach for this structure on this machine."""
    dense = compact = 0.0
    for m in per_module.values():
        d, c = m["ms_dense"], m["ms_compact"]
        gd, gc = m["gmacs_dense"], m["gmacs_compact"]
        if gd and gc and gd == gc:
            d = c = (d + c) / 2
        elif gd and gc:
            c = min(c, d * gc / gd)
        else:
            c = min(c, d)
        dense, compact = dense + d, compact + c
    return dense, compact


RSC_OPS = ("aten::index_select", "aten::index_add_", "aten::scatter_add_")
"""The RSC gather (``index_select``) and scatter-add (``index_add_``, which runs as
``scatter_add_``) ops: only the pruned residual blocks run them."""
TRUNKS = ("backward_trunk", "forward_trunk")


def gap_rows(r: dict) -> list[dict]:
    """Compact ms per frame by part against perfect MAC scaling: each part's dense time over
    the whole model's executed MAC reduction R. ``excess`` sums to (compact - dense / R); the
    0.8 target allows ``dense / (0.8 R) - dense / R`` of it. The trunks are split into the RSC
    gather / scatter-add (their share of the compact model's profiled self CPU time times its
    median ms) and the rest (convs, activations)."""
    red = r["executed_mac_reduction"]
    gs_share = sum(o["share"] for o in r["ops"]["compact"] if o["op"] in RSC_OPS)
    gs = gs_share * r["ms_per_frame"]["compact"]
    rows = []
    for name, m in r["per_module"].items():
        c = m["ms_compact"] - (gs * m["ms_compact"] / sum(r["per_module"][t]["ms_compact"]
                                                          for t in TRUNKS)
                               if name in TRUNKS else 0.0)
        rows.append({"part": name, "ms_dense": m["ms_dense"], "ms_compact": c,
                     "gmacs_dense": m["gmacs_dense"], "gmacs_compact": m["gmacs_compact"]})
    rows.append({"part": "RSC gather / scatter-add (in the trunks)", "ms_dense": 0.0,
                 "ms_compact": gs, "gmacs_dense": 0.0, "gmacs_compact": 0.0})
    for row in rows:
        row["ms_at_mac_scaling"] = row["ms_dense"] / red
        row["excess"] = row["ms_compact"] - row["ms_at_mac_scaling"]
    return sorted(rows, key=lambda row: -row["excess"])


def gap_markdown(r: dict) -> list[str]:
    """The gap table and the statement of what keeps the ratio below 0.8."""
    rows = gap_rows(r)
    dense, compact = r["ms_per_frame"]["dense"], r["ms_per_frame"]["compact"]
    red = r["executed_mac_reduction"]
    slack = dense / (0.8 * red) - dense / red
    need = compact - dense / (0.8 * red)
    gs = next(row["ms_compact"] for row in rows if row["ms_dense"] == 0.0
              and row["part"].startswith("RSC"))
    ideal_d, ideal_c = r["ideal_ms_per_frame"]["dense"], r["ideal_ms_per_frame"]["compact"]
    lines = ["", "## What keeps the ratio below 0.8", "",
             f"At perfect MAC scaling the compact model would take dense / {red:.2f} = "
             f"{dense / red:.0f} ms/frame; the 0.8 target allows {dense / (0.8 * red):.0f} "
             f"(a slack of {slack:.0f} ms). It takes {compact:.0f}: "
             + (f"{need:.0f} ms/frame too many." if need > 0 else "within the target.")
             + " Excess by part (compact ms minus its dense ms / "
             f"{red:.2f}; the parts' sum differs from the whole by the hooks' rounding):", "",
             "| part | ms dense | ms compact | ms at MAC scaling | excess ms | "
             "compact GMAC/s | dense GMAC/s |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        rate = {k: (f"{row['gmacs_' + k] / row['ms_' + k] * 1000:.0f}"
                    if row["gmacs_" + k] and row["ms_" + k] > 0 else "-")
                for k in ("compact", "dense")}
        lines.append(f"| {row['part']} | {row['ms_dense']:.1f} | {row['ms_compact']:.1f} | "
                     f"{row['ms_at_mac_scaling']:.1f} | {row['excess']:+.1f} | "
                     f"{rate['compact']} | {rate['dense']} |")
    flow = next((row["excess"] for row in rows if row["part"] == r.get("flow", "spynet")), 0.0)
    verdict = ("exceed" if gs + flow > slack else "stay within")
    lines += ["", f"The RSC gather / scatter-add ({gs:.0f} ms) and the unpruned flow network's "
              f"excess ({flow:.0f} ms) alone {verdict} the slack of {slack:.0f} ms."]
    lines += ["", f"The upper bound above counts the RSC gather / scatter-add as free. At their "
              f"measured {gs:.0f} ms/frame (two passes over the full-width stream per pruned "
              "block, which no eager PyTorch op fuses into the convs: a conv reading a zero-"
              "padded full-width input instead of the gather is slower, "
              "results/profile_ssl_180x320/speed_variants_cpu_block.md) the bound is "
              f"{ideal_d / (ideal_c + gs):.2f}x, ratio "
              f"{ideal_d / (ideal_c + gs) / red:.2f} (executed MACs) / "
              f"{ideal_d / (ideal_c + gs) / r['paper_mac_reduction']:.2f} (papers')."]
    return lines


def layout_markdown(r: dict) -> list[str]:
    """channels_last vs NCHW per module, from the same interleaved run (``--nchw-too``)."""
    if "per_module_layouts" not in r:
        return []
    ms = r["ms_per_frame"]
    lines = ["", "## channels_last vs NCHW, per module (same run, interleaved)", "",
             f"Whole model: dense {ms['dense']:.0f} (channels_last) / {ms['dense/nchw']:.0f} "
             f"(NCHW) ms/frame, compact {ms['compact']:.0f} / {ms['compact/nchw']:.0f}.", "",
             "| module | dense CL | dense NCHW | compact CL | compact NCHW | "
             "compact NCHW / CL |", "|---|---|---|---|---|---|"]
    for n, v in sorted(r["per_module_layouts"].items(), key=lambda kv: -kv[1]["compact"]):
        rel = v["compact/nchw"] / v["compact"] if v["compact"] > 0 else float("nan")
        lines.append(f"| {n} | {v['dense']:.1f} | {v['dense/nchw']:.1f} | {v['compact']:.1f} | "
                     f"{v['compact/nchw']:.1f} | {rel:.2f} |")
    return lines


def markdown(r: dict) -> str:
    h, w = r["lr_size"]
    lines = [f"# Where the time goes: dense vs SSL-compact {r['model']} (p = {r['ratio']})", "",
             f"`python bench/profile_ssl.py --lr-size {h}x{w} --frames {r['frames']} "
             f"--repeats {r['repeats']} --threads {r['threads']}"
             f"{' --nchw-too' if 'per_module_layouts' in r else ''}`: LR {h}x{w}, {r['frames']} "
             f"frames, {r['threads']} threads, {r['memory_format']}, CPU "
             f"({r['device_name']}), torch {r['torch']}; per output frame, median of "
             f"{r['repeats']} interleaved runs.", "",
             f"Whole model: {r['ms_per_frame']['dense']:.0f} vs "
             f"{r['ms_per_frame']['compact']:.0f} ms/frame, {r['speedup']:.2f}x faster for "
             f"{r['executed_mac_reduction']:.2f}x fewer executed MACs "
             f"(ratio {r['speedup'] / r['executed_mac_reduction']:.2f}; "
             f"{r['paper_mac_reduction']:.2f}x fewer MACs in the papers' convention, one "
             f"SPyNet pass per frame: ratio {r['speedup'] / r['paper_mac_reduction']:.2f}).", "",
             f"**Upper bound** (`ideal_times`): with every compact module at its dense "
             f"module's time per MAC (narrow convs as efficient as wide ones, the RSC gather / "
             f"scatter-add free), every MAC-free part at the lesser measured time and SPyNet "
             f"at the mean of its two times, the compact model would take "
             f"{r['ideal_ms_per_frame']['compact']:.0f} ms/frame against dense "
             f"{r['ideal_ms_per_frame']['dense']:.0f}: {r['ideal_speedup']:.2f}x, ratio "
             f"{r['ideal_speedup'] / r['paper_mac_reduction']:.2f} (papers' MACs) / "
             f"{r['ideal_speedup'] / r['executed_mac_reduction']:.2f} (executed). What stays "
             "is the unpruned SPyNet and the memory-bound parts (warps, pixel shuffles, "
             "activations, the bilinear base).", "",
             "| module | ms dense | ms compact | speedup | GMACs dense | GMACs compact | "
             "MAC red. | share of compact time | compact GMAC/s | per-MAC speed vs dense |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    total_c = sum(m["ms_compact"] for m in r["per_module"].values())
    for n, m in sorted(r["per_module"].items(), key=lambda kv: -kv[1]["ms_compact"]):
        sp = m["ms_dense"] / m["ms_compact"] if m["ms_compact"] > 0 else float("nan")
        red = (m["gmacs_dense"] / m["gmacs_compact"]) if m["gmacs_compact"] else None
        rate = m["gmacs_compact"] / (m["ms_compact"] / 1000) if m["gmacs_compact"] else None
        rel = (rate / (m["gmacs_dense"] / (m["ms_dense"] / 1000))) if rate else None
        lines.append(f"| {n} | {m['ms_dense']:.1f} | {m['ms_compact']:.1f} | {sp:.2f}x | "
                     f"{m['gmacs_dense']:.2f} | {m['gmacs_compact']:.2f} | "
                     f"{f'{red:.2f}x' if red else '-'} | {m['ms_compact'] / total_c:.1%} | "
                     f"{f'{rate:.0f}' if rate else '-'} | {f'{rel:.2f}' if rel else '-'} |")
    lines += gap_markdown(r) + layout_markdown(r)
    for name in ("dense", "compact"):
        lines += ["", f"Top ops of the {name} model (torch.profiler, one run, self CPU time "
                  "of the whole clip):", "", "| op | calls | self ms | share |",
                  "|---|---|---|---|"]
        for o in r["ops"][name]:
            lines.append(f"| `{o['op']}` | {o['calls']} | {o['self_ms']:.1f} | "
                         f"{o['share']:.1%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="basicvsr")
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--lr-size", type=parse_size, default=(90, 160))
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--nchw-too", action="store_true",
                   help="also time both models in NCHW, interleaved: per-module layout table")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results"))
    p.add_argument("--render", type=Path, metavar="JSON",
                   help="only rewrite the markdown next to this results file from it")
    args = p.parse_args()
    if args.render:
        result = json.loads(args.render.read_text())
        write_text_atomic(args.render.with_suffix(".md"), markdown(result))
        print(markdown(result))
        return
    result = run(args)
    write_text_atomic(args.out / "profile_ssl_cpu.json", json.dumps(result, indent=2))
    write_text_atomic(args.out / "profile_ssl_cpu.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

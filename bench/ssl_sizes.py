"""Params and MACs of SSL-compact BasicVSR-64-30 at p = 0.1 ... 0.9 next to the paper's Table 3.

Which units go depends on the trained weights (global L1 ranking). With no trained BasicVSR-64-30
available offline, two stand-ins are reported: ``local`` (the same ratio in every group, close to
the paper's Fig. 4 profile) and ``global`` (global L1 ranking of a seeded random initialisation,
whose filter norms depend on fan-in, so it prunes unevenly). Writes results/ssl_sizes.{json,md}.

    python bench/ssl_sizes.py
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from srprune.io.atomic import write_text_atomic
from srprune.models.registry import create_model
from srprune.profile import count_macs, count_params
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.surgery import remove_units
from srprune.runs.prune_report import ratio_summary

PAPER = {0.1: (5.3, 288.4), 0.3: (3.7, 180.2), 0.5: (2.7, 105.1), 0.7: (1.9, 50.0),
         0.9: (1.5, 22.8)}
LR = (180, 320)


def main() -> None:
    rows = []
    for scope in ("local", "global"):
        for ratio in PAPER:
            torch.manual_seed(0)
            model = create_model("basicvsr")
            groups = model.channel_groups("rsc")
            removed = select_units(groups, score_groups(model, groups), ratio, scope=scope)
            sel = {"groups": [{"role": g.role, "units": g.units,
                               "removed": removed[g.name].tolist()} for g in groups]}
            remove_units(model, groups, removed)
            macs, parts = count_macs(model, LR)
            rows.append({"scope": scope, "ratio": ratio, "params": count_params(model)[0],
                         "macs_G": macs / 1e9, "paper_params_M": PAPER[ratio][0],
                         "paper_macs_G": PAPER[ratio][1],
                         "ratio_by_role": ratio_summary(sel),
                         "macs_by_part_G": {k: v / 1e9 for k, v in parts.items()}})
    out = Path("results")
    write_text_atomic(out / "ssl_sizes.json", json.dumps(rows, indent=2))
    lines = ["# SSL-compact BasicVSR-64-30 sizes vs the paper's Table 3", "",
             "MACs per frame at LR 180x320, one SPyNet pass per frame. `local`: the same ratio "
             "in every group; `global`: global L1 ranking of a seeded random initialisation "
             "(the paper ranks trained weights). Made by `bench/ssl_sizes.py`.", "",
             "| p | params local | params global | params paper | GMACs local | GMACs global "
             "| GMACs paper |", "|---|---|---|---|---|---|---|"]
    for ratio in PAPER:
        loc = next(r for r in rows if r["scope"] == "local" and r["ratio"] == ratio)
        glo = next(r for r in rows if r["scope"] == "global" and r["ratio"] == ratio)
        lines.append(f"| {ratio} | {loc['params'] / 1e6:.2f} M | {glo['params'] / 1e6:.2f} M | "
                     f"{PAPER[ratio][0]} M | {loc['macs_G']:.1f} | {glo['macs_G']:.1f} | "
                     f"{PAPER[ratio][1]} |")
    lines += ["", "Mean pruning ratio per group role (global stand-in):", ""]
    for r in rows:
        if r["scope"] == "global":
            roles = ", ".join(f"{k} {v:.2f}" for k, v in r["ratio_by_role"].items())
            lines.append(f"- p = {r['ratio']}: {roles}")
    write_text_atomic(out / "ssl_sizes.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

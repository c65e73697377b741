"""Sum vs mean L1 scores under SSL's global ranking: which reproduces the paper's Fig. 4 shape.

The paper scores a unit by ``sum |W|``; the authors' released code ranks by the per-weight mean.
For a trained model this prints, per score normalisation and ratio, the mean pruning ratio of
each group role (Fig. 4: RSC inputs pruned less than outputs, the upsampler well below p) and
the compact model's params and GMACs (SR part, without the flow network, at LR 180x320).
Writes results/score_norm.{json,md}.

    python bench/score_norm.py [--model results/models/demo_basicvsr_dense_fp16.safetensors]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model
from srprune.profile import count_macs, count_params, flow_child
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.surgery import remove_units
from srprune.runs.prune_report import ratio_summary

ROOT = Path(__file__).resolve().parents[1]
LR = (180, 320)


def _rel(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path,
                   default=ROOT / "results/models/demo_basicvsr_dense_fp16.safetensors")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "score_norm")
    args = p.parse_args()
    dense = load_model(args.model)
    macs_d, parts_d = count_macs(dense, LR)
    sr_d = macs_d - parts_d.get(flow_child(dense), 0.0)
    rows = []
    for norm in ("sum", "mean"):
        for ratio in (0.3, 0.5, 0.7):
            model = load_model(args.model)
            groups = model.channel_groups("rsc")
            removed = select_units(groups, score_groups(model, groups, norm=norm), ratio)
            sel = {"groups": [{"role": g.role, "units": g.units,
                               "removed": removed[g.name].tolist()} for g in groups]}
            remove_units(model, groups, removed)
            macs, parts = count_macs(model, LR)
            rows.append({"norm": norm, "ratio": ratio, "by_role": ratio_summary(sel),
                         "params": count_params(model)[0],
                         "sr_gmacs": (macs - parts.get(flow_child(model), 0.0)) / 1e9})
    roles = list(dict.fromkeys(r for row in rows for r in row["by_role"]))
    lines = [f"# Sum vs mean L1 scores, SSL global min ranking ({args.model.name})", "",
             f"Mean pruning ratio per group role; SR-part GMACs per frame at LR {LR[0]}x{LR[1]} "
             f"(dense {sr_d / 1e9:.2f}). Made by `python bench/score_norm.py --model "
             f"{_rel(args.model)} --out {_rel(args.out)}`.", "",
             "| score | p | " + " | ".join(roles) + " | params | SR GMACs |",
             "|---|---|" + "---|" * (len(roles) + 2)]
    for row in rows:
        cells = " | ".join(f"{row['by_role'].get(r, float('nan')):.2f}" for r in roles)
        lines.append(f"| {row['norm']} | {row['ratio']} | {cells} | {row['params']:,} | "
                     f"{row['sr_gmacs']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(
        {"model": str(args.model), "lr": LR, "dense_sr_gmacs": sr_d / 1e9, "rows": rows},
        indent=1))
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

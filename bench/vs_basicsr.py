"""Dense srprune BasicVSR vs BasicSR's own BasicVSR module: same weights, same output, latency.

BasicSR's source is read from an unpacked BasicSR release (nothing is downloaded at run time):

    pip download --no-deps basicsr==1.4.2 -d /tmp/bsr
    tar xzf /tmp/bsr/basicsr-1.4.2.tar.gz -C /tmp/bsr
    python bench/vs_basicsr.py --basicsr-src /tmp/bsr/basicsr-1.4.2 --lr-size 90x160 --frames 3 \
        --onnx

Only ``basicsr/archs/{basicvsr,arch_util,spynet,edvr}_arch.py`` are executed, unmodified; the
package-level imports they need but BasicVSR never calls (registry, logger, deformable-conv ops,
torchvision) are stubbed. The BasicSR model is seeded, its state dict written as a BasicSR
checkpoint and imported with ``srprune convert``'s importer, the outputs are compared, and
BasicSR (as it runs: NCHW, and also in channels_last) and srprune (channels_last, its default
for CPU inference) are timed in one interleaved run. Writes ``results/vs_basicsr.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

from srprune.commands.common import parse_size
from srprune.io.atomic import write_text_atomic
from srprune.io.importers import import_checkpoint
from srprune.profile import count_macs, latency_side_by_side, time_interleaved

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from basicsr_loader import load_basicsr_archs  # noqa: E402


def load_basicsr_basicvsr(src: Path) -> type[nn.Module]:
    """BasicSR's ``BasicVSR`` class, executed from ``src/basicsr/archs/basicvsr_arch.py``."""
    return load_basicsr_archs(src, ["basicvsr_arch"]).BasicVSR


def run(args: argparse.Namespace) -> dict:
    cls = load_basicsr_basicvsr(args.basicsr_src)
    torch.manual_seed(args.seed)
    theirs = cls(num_feat=args.feat, num_block=args.blocks).eval()
    theirs.is_video = True  # what srprune's timing helper reads to feed (N, T, C, H, W) clips
    with torch.no_grad():  # non-trivial flows: SPyNet's last convs are zero-free at init
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 1e-3)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "basicsr_basicvsr.pth"
        torch.save({"params": theirs.state_dict()}, ckpt)
        ours, _ = import_checkpoint(ckpt, "basicsr")
    x = torch.rand(1, args.frames, 3, *args.lr_size)
    with torch.inference_mode():
        ref = theirs(x)
        out = ours.to(memory_format=torch.channels_last)(x)
    max_err = (ref - out).abs().max().item()
    onnx = _onnx_rows(ours, theirs, x, ref, args) if args.onnx else None
    models = {"basicsr": theirs, "srprune": ours}
    nchw = latency_side_by_side(models, args.lr_size, args.frames, "cpu", args.warmup,
                                args.repeats, channels_last=False)
    cl = latency_side_by_side(models, args.lr_size, args.frames, "cpu", args.warmup,
                              args.repeats, channels_last=True)
    med = {"basicsr_nchw": statistics.median(nchw["basicsr"]),
           "srprune_nchw": statistics.median(nchw["srprune"]),
           "basicsr_cl": statistics.median(cl["basicsr"]),
           "srprune_cl": statistics.median(cl["srprune"])}
    return {
        "device": f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)",
        "torch": torch.__version__, "basicsr_src": str(args.basicsr_src),
        "model": f"BasicVSR-{args.feat}-{args.blocks}", "lr_size": list(args.lr_size),
        "frames": args.frames, "repeats": args.repeats,
        "gmacs_per_frame": count_macs(ours, args.lr_size)[0] / 1e9,
        "max_abs_error": max_err, "ms_per_frame": med,
        "runs_ms": {"nchw": nchw, "channels_last": cl},
        "speedup_vs_basicsr_as_run": med["basicsr_nchw"] / med["srprune_cl"],
        "speedup_vs_basicsr_channels_last": med["basicsr_cl"] / med["srprune_cl"],
        "speedup_same_layout_nchw": med["basicsr_nchw"] / med["srprune_nchw"],
        "onnxruntime": onnx,
    }


def _onnx_rows(ours: nn.Module, theirs: nn.Module, x: torch.Tensor, ref: torch.Tensor,
               args: argparse.Namespace) -> dict:
    """srprune's deployment path: the dense model exported (``srprune export``, a T-frame
    window) and run in onnxruntime and in OpenVINO (``srprune upscale --runtime``), all timed
    interleaved with BasicSR's module as it runs (NCHW)."""
    import copy

    from srprune.export.onnx_writer import export_onnx
    from srprune.export.runtime import RUNTIMES, ExportedModel

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dense.onnx"
        export_onnx(copy.deepcopy(ours), path, tuple(args.lr_size), args.frames)
        calls = {"basicsr_nchw": lambda: theirs(x)}
        errors = {}
        for runtime in RUNTIMES:
            exported = ExportedModel(path, runtime, torch.get_num_threads())
            errors[runtime] = float(abs(exported.run([x.numpy()])[0] - ref.numpy()).max())
            calls[f"srprune_{runtime}"] = lambda e=exported: e.run([x.numpy()])
        runs = time_interleaved(calls, args.warmup, args.repeats, per=args.frames)
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {"max_abs_error": errors, "ms_per_frame": med, "runs_ms": runs,
            "speedup_vs_basicsr_as_run": {
                rt: med["basicsr_nchw"] / med[f"srprune_{rt}"] for rt in RUNTIMES}}


def markdown(r: dict) -> str:
    m = r["ms_per_frame"]
    h, w = r["lr_size"]
    return "\n".join([
        "# Dense srprune vs BasicSR's own BasicVSR", "",
        f"`python bench/vs_basicsr.py --basicsr-src DIR --lr-size {h}x{w} --frames "
        f"{r['frames']} --repeats {r['repeats']}{' --onnx' if r.get('onnxruntime') else ''}`: "
        f"{r['model']}, LR {h}x{w}, {r['frames']} frames, {r['device']}, torch "
        f"{r['torch']}; BasicSR's module executed from `{r['basicsr_src']}`; median ms per "
        "frame, all four timed in interleaved runs.", "",
        f"Same weights (BasicSR's state dict through `srprune convert`'s importer): max |diff| "
        f"of the outputs {r['max_abs_error']:.2e}. {r['gmacs_per_frame']:.1f} GMACs per frame.",
        "",
        "| | BasicSR | srprune | srprune speedup |", "|---|---|---|---|",
        f"| NCHW | {m['basicsr_nchw']:.0f} | {m['srprune_nchw']:.0f} | "
        f"{r['speedup_same_layout_nchw']:.2f}x |",
        f"| channels_last | {m['basicsr_cl']:.0f} | {m['srprune_cl']:.0f} | "
        f"{r['speedup_vs_basicsr_channels_last']:.2f}x |", "",
        f"srprune as it runs (channels_last) vs BasicSR as it runs (NCHW): "
        f"**{r['speedup_vs_basicsr_as_run']:.2f}x**.", ""] + _onnx_lines(r))


def _onnx_lines(r: dict) -> list[str]:
    o = r.get("onnxruntime")
    if not o:
        return []
    m = o["ms_per_frame"]
    lines = ["srprune's deployment path (`srprune export`, a window of the same frames, run by "
             "`srprune upscale --runtime R`), timed interleaved with BasicSR (NCHW) in a second "
             f"loop; BasicSR {m['basicsr_nchw']:.0f} ms per frame:", "",
             "| runtime | ms per frame | max abs diff from BasicSR | speedup over BasicSR |",
             "|---|---|---|---|"]
    for rt, speedup in o["speedup_vs_basicsr_as_run"].items():
        lines.append(f"| {rt} | {m[f'srprune_{rt}']:.0f} | {o['max_abs_error'][rt]:.2e} | "
                     f"**{speedup:.2f}x** |")
    return lines + [""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--basicsr-src", type=Path, required=True,
                   help="an unpacked BasicSR release (the folder holding basicsr/)")
    p.add_argument("--feat", type=int, default=64)
    p.add_argument("--blocks", type=int, default=30)
    p.add_argument("--lr-size", type=parse_size, default=(90, 160))
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--onnx", action="store_true",
                   help="also time srprune's dense model exported to ONNX, in onnxruntime "
                        "and OpenVINO")
    p.add_argument("--out", type=Path, default=Path("results/vs_basicsr"))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    r = run(args)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(r, indent=1))
    write_text_atomic(args.out.with_suffix(".md"), markdown(r))
    print(markdown(r))


if __name__ == "__main__":
    main()

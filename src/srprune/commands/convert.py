"""Import a BasicSR, mmagic or EDSR-PyTorch checkpoint into an srprune model file.

The checkpoint is read without executing code (torch.load with weights_only=True, or
safetensors), its architecture is inferred from the tensor shapes (or named with --arch), the
names are mapped onto srprune's and the weights are loaded strictly: any missing, unexpected or
mis-shaped key is an error that names them. OUT (.safetensors) is written atomically.

Activations carry no weights: BasicVSR checkpoints load with LeakyReLU (BasicSR, mmagic) unless
--act relu is given (the official SSL code's BasicVSR); an SRVGGNetCompact (Real-ESRGAN compact)
is prelu when its file holds PReLU slopes, else lrelu unless --act relu. --spynet FILE loads
SPyNet weights (BasicSR's spynet_sintel_final-*.pth, mmagic's SPyNet, or any BasicVSR
checkpoint's SPyNet) into the result; IN may then also be an srprune model file whose SPyNet is
replaced.

--sparse stores mostly-zero weights (pruned or sparsified models) as their non-zero values plus a
1-bit mask, so zeros cost no space; --half stores floats as float16 (loaded back as float32, about
3 significant digits kept). Both may also repack an srprune model file given as IN.

examples:
  srprune convert --from basicsr BasicVSR_REDS4.pth basicvsr.safetensors
  srprune convert --from mmagic basicvsr_reds4_20120409-0e599677.pth basicvsr.safetensors
  srprune convert --from edsr-pytorch edsr_baseline_x2-1bc95232.pt edsr_x2.safetensors
  srprune convert --from basicsr ssl_basicvsr.pth ssl.safetensors --act relu
  srprune convert --from basicsr realesr-animevideov3.pth anime.safetensors
  srprune convert --from basicsr RealESRGAN_x4plus.pth x4plus.safetensors
  srprune convert dense.safetensors dense_spynet.safetensors --spynet spynet_sintel_final.pth
  srprune convert sparse.safetensors small.safetensors --sparse --half
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

from srprune.commands.common import float_arg, new_output
from srprune.errors import UserError
from srprune.io.import_keymaps import SOURCES
from srprune.io.import_load import PARAMS_KEYS, is_srprune_file
from srprune.io.importers import (
    SOURCE_NAMES,
    arch_names,
    import_checkpoint,
    import_options,
    load_spynet_into,
)
from srprune.io.model_file import load_model, save_model

MAX_EXTRA_KEYS = 200


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source", choices=(*SOURCES, "auto"), default="auto",
                   help="layout of IN (default auto: detected from its container and names)")
    p.add_argument("input", metavar="IN",
                   help="foreign checkpoint (.pth, .pt or .safetensors), or an srprune model "
                        "file together with --spynet")
    p.add_argument("output", metavar="OUT", help="srprune model file to write (.safetensors)")
    p.add_argument("--arch", metavar="NAME",
                   help=f"architecture instead of inferring it: {', '.join(arch_names())}")
    p.add_argument("--params-key", choices=PARAMS_KEYS, default=None,
                   help="BasicSR entry to read (default params_ema when present, else params)")
    p.add_argument("--spynet", metavar="FILE",
                   help="load SPyNet weights from FILE into the result")
    for opt in import_options():  # each architecture's statements (--act, --res-scale, ...)
        p.add_argument(opt.flag, dest=opt.name, default=None, help=opt.help,
                       **_option_kind(opt.bound))
    p.add_argument("--sparse", action="store_true",
                   help="store mostly-zero weights as non-zero values + bitmask (lossless)")
    p.add_argument("--half", action="store_true",
                   help="store floating weights as float16 (lossy; loaded as float32)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")


def _option_kind(bound: tuple[str, Any]) -> dict[str, Any]:
    """argparse ``type`` / ``choices`` for an import option's bound."""
    kind, limits = bound
    if kind == "choice":
        return {"choices": limits}
    if kind == "float":
        return {"type": float_arg(*limits)}
    if kind == "int":
        return {"type": int}
    if kind == "bool":
        return {"action": argparse.BooleanOptionalAction}
    raise ValueError(f"import option bound {kind!r} has no flag form")


def run(args: argparse.Namespace) -> int:
    src, out = Path(args.input), Path(args.output)
    if out.suffix != ".safetensors":
        raise UserError(f"OUT must end in .safetensors, not {out.name!r}")
    if not src.exists():
        raise UserError(f"input checkpoint not found: {src}")
    if out.exists() and out.resolve() == src.resolve():
        raise UserError("OUT must differ from IN")
    new_output(out, "OUT", force=args.force)
    if args.spynet and not Path(args.spynet).is_file():
        raise UserError(f"SPyNet checkpoint not found: {args.spynet}")

    if is_srprune_file(src):
        if not (args.spynet or args.sparse or args.half):
            raise UserError(f"{src} is already an srprune model file; nothing to convert "
                            "(add --spynet FILE to replace its SPyNet weights, or --sparse / "
                            "--half to repack it)")
        given = [f for f, v in (("--arch", args.arch), ("--params-key", args.params_key),
                                *((o.flag, getattr(args, o.name)) for o in import_options()))
                 if v is not None]
        if given:
            raise UserError(f"{', '.join(given)} apply to foreign checkpoints, not to the "
                            f"srprune model file {src}")
        model = load_model(src)
        extra = dict(getattr(model, "extra", {}) or {})
        text = f"Loaded the srprune model {src.name} ({model.config.arch})."
    else:
        options = {o.name: getattr(args, o.name) for o in import_options()}
        model, report = import_checkpoint(src, args.source, arch=args.arch,
                                          params_key=args.params_key, **options)
        extra = {"imported_from": src.name, "source": report.source,
                 "container": report.container, "ignored_keys": report.ignored[:MAX_EXTRA_KEYS],
                 "notes": report.notes}
        text = report.summary()

    if args.spynet:
        sp = load_spynet_into(model, args.spynet)
        text += (f" SPyNet weights ({sp.loaded} tensors) loaded strictly from "
                 f"{Path(args.spynet).name} ({SOURCE_NAMES[sp.source]}, {sp.container})")
        text += f", ignoring {len(sp.ignored)} keys." if sp.ignored else "."
        text = " ".join([text, *sp.notes])
        extra["spynet_from"] = Path(args.spynet).name

    save_model(out, model, extra, sparse=args.sparse, half=args.half)
    packed = [f for f, on in (("sparse", args.sparse), ("float16", args.half)) if on]
    how = f" ({' + '.join(packed)}, {out.stat().st_size / 2**20:,.2f} MB)" if packed else ""
    print(textwrap.fill(f"{text} Wrote {out}{how}.", width=100, break_long_words=False,
                        break_on_hyphens=False))
    return 0

"""``srprune prune --method fmp``: the FMP branch of the prune command.

The config is a training config (``model`` = the architecture to search from, ``data``,
``optim``, ``train`` = the finetuning run) plus an ``fmp:`` section (see
:class:`srprune.pruning.fmp.settings.FMPSettings` and docs/fmp.md). ``--model FILE`` replaces the
config's ``model`` section: FMP then searches the same architecture from scratch and reports the
trained file beside it.
"""

from __future__ import annotations

import argparse

from srprune.commands.common import resolve_device
from srprune.errors import UserError


def run_fmp(args: argparse.Namespace) -> int:
    """Run FMP's stages as the parsed ``prune`` arguments say."""
    from srprune.pruning.fmp.settings import fmp_settings_from_dict
    from srprune.runs.fmp import STAGES, FMPPipeline
    from srprune.train.config import apply_overrides, blame, config_from_dict, read_yaml

    if args.ratio is not None or getattr(args, "target", None) is not None:
        raise UserError("--ratio and --target are for channel-ratio methods; FMP takes budgets: "
                        "--set fmp.gamma_c=0.3 --set fmp.gamma_w=0.1")
    from srprune.train.distributed import detect

    if detect().enabled:
        raise UserError("--method fmp runs in one process; torchrun is supported for the "
                        "channel methods (ssl, l1, assl, assl-shared, scratch)")
    if getattr(args, "no_latency", False):
        raise UserError("--no-latency is not available with --method fmp (its report always "
                        "times the models)")
    overrides = list(args.overrides)
    if getattr(args, "precision", None):
        overrides.append(("train.precision", args.precision))
    data = apply_overrides(read_yaml(args.config), overrides)
    fmp = data.pop("fmp", None)
    data.pop("prune", None)
    if args.model is not None:
        if not args.model.is_file():
            raise UserError(f"model file not found: {args.model}")
        data["model"] = {"file": str(args.model)}
    if not data.get("model"):
        raise UserError(f"{args.config}: FMP needs a model section (name: NAME and "
                        "scale: S, or file: FILE) or --model FILE")
    try:
        settings, cfg = fmp_settings_from_dict(fmp), config_from_dict(data)
    except UserError as e:
        raise blame(args.config, overrides, e) from None
    stages = [s.strip() for s in (args.stages or ",".join(STAGES)).split(",") if s.strip()]
    pipe = FMPPipeline(settings, cfg, args.out, resolve_device(args.device), quiet=args.quiet)
    pipe.run(stages, force=args.force)
    return 0

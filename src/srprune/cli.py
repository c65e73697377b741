"""The ``srprune`` command line: one subcommand per module in ``srprune.commands``.

A :class:`~srprune.errors.UserError` becomes one line on stderr and exit status 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from srprune import __version__
from srprune.errors import UserError

# Subcommands in the order --help lists them: (module, one-line help).
COMMANDS: dict[str, str] = {
    "demo": "train a small BasicVSR on the embedded data, compare it with bicubic, write a report",
    "train": "train a model from a YAML config (flags override config keys)",
    "test": "evaluate a model (or bicubic) on a dataset: per-clip and average PSNR/SSIM",
    "upscale": "super-resolve a video file or a folder of frames",
    "prune": "prune a model (ssl, l1, assl, scratch; fmp from scratch) and finetune it",
    "experiment": "every method at every ratio on one dense model: the paper's tables",
    "profile": "params, MACs per frame, latency and peak memory of a model",
    "convert": "import a BasicSR / mmagic / EDSR-PyTorch checkpoint into srprune's format",
    "export": "export a model to ONNX (streaming cell for BasicVSR-uni) for onnxruntime/OpenVINO",
}

EPILOG = """\
examples:
  srprune demo                                     # minutes on 2 CPU cores
  srprune profile --model basicvsr --lr-size 180x320 --json
  srprune convert --from basicsr BasicVSR_REDS4.pth basicvsr.safetensors
  srprune train --config configs/demo_basicvsr.yaml
  srprune test --model basicvsr.safetensors --data datasets/REDS --layout reds4
  srprune upscale --model basicvsr.safetensors --input clip.mp4 --output clip_x4.mp4
  srprune export --model compact.safetensors --output compact.onnx --lr-size 180x320
  srprune upscale --model compact.onnx --input clip.mp4 --output clip_x4.mp4
  srprune prune --method ssl --ratio 0.5 --model dense.safetensors --config cfg.yaml --out out/

Every subcommand has its own --help. Docs: README.md and docs/.
"""


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every subcommand's arguments."""
    parser = argparse.ArgumentParser(
        prog="srprune", description="Structured pruning for video and image super-resolution.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"srprune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = _command_module(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=help_text, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _command_module(name: str):
    try:
        return importlib.import_module(f"srprune.commands.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"srprune.commands.{name}":
            return None  # not built yet in this checkout
        raise


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except UserError as e:
        print(f"srprune {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"srprune {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

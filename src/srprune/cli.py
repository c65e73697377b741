"""The ``srprune`` command line: one subcommand per module in ``srprune.commands``.

What the boundary guarantees (README, Conventions):

* a :class:`~srprune.errors.UserError`, a bad argument, a filesystem fault (full disk, read-only
  or missing folder, permission denied) and running out of memory each print one line on stderr
  (``srprune CMD: error: ...``, naming the path where there is one) and exit with status 2;
* SIGINT, SIGTERM and SIGHUP unwind the run (every temporary output is removed), print one line
  and exit with 128 + the signal number (130, 143, 129), also during start-up;
* anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Iterator

from srprune import __version__
from srprune.errors import Terminated, UserError, describe_fault

# Subcommands in the order --help lists them: (module, one-line help).
COMMANDS: dict[str, str] = {
    "demo": "prune a small video model on the embedded clips, compare it with bicubic, report",
    "train": "train a model from a YAML config (flags override config keys)",
    "test": "evaluate a model (or bicubic) on a dataset: per-clip and average PSNR/SSIM",
    "upscale": "super-resolve a video file or a folder of frames",
    "prune": "prune a model (ssl, l1, assl, scratch; fmp from scratch) and finetune it",
    "experiment": "every method at every ratio on one dense model: the paper's tables",
    "profile": "params, MACs per frame, latency and peak memory of a model",
    "convert": "import a BasicSR / mmagic / EDSR-PyTorch checkpoint into srprune's format",
    "export": "export a model to ONNX (a streaming cell for causal video models)",
    "quantize": "post-training INT8 for onnxruntime or OpenVINO, calibrated on your LR frames",
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
  srprune quantize --model compact.safetensors --calib lr_clips/ --output compact_int8.xml
  srprune upscale --model compact.onnx --input clip.mp4 --output clip_x4.mp4
  srprune prune --method ssl --ratio 0.5 --model dense.safetensors --config cfg.yaml --out out/

Every subcommand has its own --help. Docs: README.md and docs/.
"""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (``srprune CMD: error: ...``) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every subcommand's arguments."""
    from srprune.commands.common import int_arg

    parser = OneLineParser(
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
        p.add_argument("--threads", type=int_arg(1, max_threads()), default=None, metavar="N",
                       help="CPU threads for PyTorch's intra-op pool (torch.set_num_threads; "
                            "default: OMP_NUM_THREADS or all cores; 1 to 4 x the cores, "
                            f"{max_threads()} here). On a shared machine set it to your share "
                            "of the cores")
        p.set_defaults(_run=module.run)
    return parser


def _command_module(name: str):
    try:
        return importlib.import_module(f"srprune.commands.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"srprune.commands.{name}":
            return None  # not built yet in this checkout
        raise


def _raise_terminated(signum: int, _frame: object) -> None:
    raise Terminated(signum, signal.Signals(signum).name)


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` in the main thread while the block runs."""
    names = ("SIGTERM", "SIGHUP")
    old = {}
    with contextlib.suppress(ValueError):  # not the main thread: leave the handlers alone
        for name in names:
            sig = getattr(signal, name, None)
            if sig is not None:
                old[sig] = signal.signal(sig, _raise_terminated)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def max_threads() -> int:
    """The most ``--threads`` accepted: 4 threads per core (more only adds contention)."""
    return 4 * (os.cpu_count() or 1)


def set_threads(n: int | None) -> None:
    """``--threads N``: PyTorch's intra-op thread count (None: leave it as the OS set it)."""
    if n is None:
        return
    if not 1 <= n <= max_threads():
        raise UserError(f"--threads must be 1 to {max_threads()} (4 x the cores), got {n}")
    import torch

    torch.set_num_threads(n)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    words = sys.argv[1:] if argv is None else argv
    command = f"srprune {words[0]}" if words and words[0] in COMMANDS else "srprune"
    with _signals_as_exceptions():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            if not getattr(args, "command", None):
                parser.print_help()
                return 0
            command = f"srprune {args.command}"
            set_threads(getattr(args, "threads", None))
            return int(args._run(args) or 0)
        except UserError as e:
            return _fail(command, str(e), 2)
        except KeyboardInterrupt:
            return _fail(command, "interrupted (SIGINT); temporary outputs removed", 130)
        except Terminated as e:
            return _fail(command, f"terminated ({e.name}); temporary outputs removed",
                         128 + e.signum)
        except BrokenPipeError:  # ``srprune ... | head``: the reader left; stop quietly
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 128 + 13
        except Exception as e:
            line = describe_fault(e)
            if line is None:
                raise
            return _fail(command, line, 2)


def _fail(command: str, text: str, code: int) -> int:
    """Print ``command: error: text`` as one line on stderr; return ``code``."""
    from srprune.io.atomic import remove_live_temporaries

    with contextlib.suppress(ValueError):  # a second SIGTERM / SIGHUP must not interrupt this
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
    remove_live_temporaries()
    text = " ".join(text.split())
    label = "error" if code == 2 else "stopped"
    with contextlib.suppress(OSError, ValueError):
        print(f"{command}: {label}: {text}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

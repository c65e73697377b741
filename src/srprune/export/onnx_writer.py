"""Write an srprune model (dense or compact) as a self-describing ONNX file.

What is exported depends only on the model contract (``is_video``, ``causal``):

* image models: the whole network, ``lr (N,3,h,w) -> sr (N,3,sh,sw)``;
* causal video models: the streaming cell from ``model.export_module("stream")``,
  ``(lr, *previous frames, *states) -> (sr, *new states)``, its inputs, outputs and their widths
  named by the model's ``cell_spec()`` (BasicVSR-uni: ``lr, prev_lr, hidden -> sr, new_hidden``);
* bidirectional video models: a window of ``frames`` frames from
  ``model.export_module("window", frames)``, ``lrs (N,T,3,h,w) -> srs (N,T,3,4h,4w)``.

The graph is traced by ``torch.onnx.export`` (the torch.export-based exporter) in float32, NCHW,
on CPU; the RSC index buffers become constant Gather / ScatterElements inputs and pixel shuffles
become DepthToSpace, with no branch left in the graph.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from srprune import __version__
from srprune.errors import UserError
from srprune.export.metadata import MIN_OPSET, ExportInfo, export_kind
from srprune.io.atomic import atomic_path
from srprune.models.contract import CellSpec, VideoSRModel, require
from srprune.models.registry import config_to_dict
from srprune.pruning.structure import describe_structure

DEFAULT_OPSET = 18
DEFAULT_FRAMES = 8
DYNAMIC_EXAMPLE = (64, 64)


def cell_example(cell: CellSpec, lr_size: tuple[int, int], generator: torch.Generator
                 ) -> tuple[torch.Tensor, ...]:
    """Random inputs of a streaming cell, in :meth:`CellSpec.input_names` order."""
    h, w = lr_size
    frames = [torch.rand(1, 3, h, w, generator=generator)
              for _ in range(1 + cell.previous_frames)]
    states = [torch.rand(1, s.channels, h, w, generator=generator) for s in cell.states]
    return (*frames, *states)


def _graph(model: nn.Module, kind: str, lr_size: tuple[int, int], frames: int
           ) -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str], list[str], CellSpec | None]:
    """(module to trace, example inputs, input names, output names, the cell or None)."""
    h, w = lr_size
    g = torch.Generator().manual_seed(0)
    if kind == "image":
        return model, (torch.rand(1, 3, h, w, generator=g),), ["lr"], ["sr"], None
    video = require(model, VideoSRModel)
    if kind == "stream":
        cell = video.cell_spec()
        return (video.export_module("stream").eval(), cell_example(cell, lr_size, g),
                cell.input_names(), cell.output_names(), cell)
    window = video.export_module("window", frames).eval()
    return window, (torch.rand(1, frames, 3, h, w, generator=g),), ["lrs"], ["srs"], None


def _dynamic_shapes(kind: str, inputs: int) -> tuple[dict[int, object], ...]:
    height = torch.export.Dim("height", min=8, max=4096)
    width = torch.export.Dim("width", min=8, max=4096)
    if kind == "window":
        return ({3: height, 4: width},)
    return tuple({2: height, 3: width} for _ in range(inputs))


def check_opset(opset: int) -> None:
    """``opset`` is one the exporter writes: from MIN_OPSET to the newest opset the installed
    onnx package converts to (its version converter does the last step)."""
    try:
        import onnx
    except ImportError:
        raise UserError("exporting needs the onnx package: pip install 'srprune[export]'") \
            from None
    newest = onnx.defs.onnx_opset_version()
    if opset < MIN_OPSET:
        raise UserError(f"--opset {opset} is too old; srprune exports with opset >= {MIN_OPSET} "
                        "(GridSample, Resize and DepthToSpace as the runtimes expect them)")
    if opset > newest:
        raise UserError(f"--opset {opset} is newer than this onnx {onnx.__version__} knows; "
                        f"choose {MIN_OPSET} to {newest}")


def _written_opset(proto: object) -> int:
    return max((o.version for o in proto.opset_import  # type: ignore[attr-defined]
                if o.domain in ("", "ai.onnx")), default=0)


def export_onnx(model: nn.Module, path: str | Path, lr_size: tuple[int, int] | None,
                frames: int = DEFAULT_FRAMES, opset: int = DEFAULT_OPSET, *,
                verbose: bool = False) -> ExportInfo:
    """Export ``model`` to ``path`` (atomically) and return the metadata written into it.

    Args:
        lr_size: (h, w) of the LR frames the graph is fixed to, or None for dynamic sizes.
        frames: T of a bidirectional window graph.
        opset: ONNX opset (:func:`check_opset`); the file is refused if it comes out otherwise.
        verbose: let the exporter's warnings and log lines through.
    """
    import onnx

    check_opset(opset)
    if not any(True for _ in model.parameters()):
        raise UserError("this model has no weights (bicubic?): nothing to export")
    kind = export_kind(model)
    if kind == "window" and frames < 2:
        raise UserError("--frames must be >= 2 for a window graph")
    model = model.to("cpu", torch.float32, memory_format=torch.contiguous_format).eval()
    module, example, inputs, outputs, cell = _graph(
        model, kind, lr_size or DYNAMIC_EXAMPLE, frames)
    dense_structure = describe_structure(model, type(model)(model.config))
    info = ExportInfo(kind=kind, scale=int(model.config.scale), lr_size=lr_size,
                      frames=frames if kind == "window" else 0, cell=cell,
                      opset=opset, config=config_to_dict(model.config),
                      structure=dense_structure)
    path = Path(path)
    with atomic_path(path) as tmp:
        _trace(module, example, tmp, inputs, outputs, opset,
               None if lr_size is not None else _dynamic_shapes(kind, len(inputs)), verbose)
        proto = onnx.load(str(tmp))
        if _written_opset(proto) != opset:
            raise UserError(f"the exporter wrote opset {_written_opset(proto)} when asked for "
                            f"{opset}; choose another --opset (default {DEFAULT_OPSET})")
        for key, value in info.to_props(__version__).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
    return info


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Keep the exporter's warnings, log lines and prints off the terminal (unless verbose)."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript",
                                                    "onnx_ir", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _trace(module: nn.Module, example: tuple[torch.Tensor, ...], out: Path, inputs: list[str],
           outputs: list[str], opset: int, dynamic: tuple[dict[int, object], ...] | None,
           verbose: bool = False) -> None:
    """Run the exporter quietly; its failures become one-line UserErrors."""
    try:
        with torch.no_grad(), _quiet(verbose):
            torch.onnx.export(module, example, str(out), input_names=inputs,
                              output_names=outputs, opset_version=opset, dynamo=True,
                              external_data=False, dynamic_shapes=dynamic, verbose=False)
    except Exception as e:  # the exporter raises many types; the user can only change options
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        what = "with dynamic sizes; use --lr-size HxW" if dynamic else ""
        raise UserError(f"ONNX export failed {what}({type(e).__name__}: {first[:300]})") \
            from None

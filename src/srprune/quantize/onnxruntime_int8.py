"""INT8 for onnxruntime: ``quant_pre_process`` then ``quantize_static`` (QDQ format).

Weights are signed 8-bit per output channel, activations unsigned 8-bit per tensor from MinMax
calibration (:data:`SCHEME`). Nodes of the roles kept in float are passed as
``nodes_to_exclude``. Pre-processing runs shape inference and onnxruntime's basic graph
optimizations, which keep node names (the roles are mapped on the exported graph before it).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from srprune.errors import UserError
from srprune.quantize.calibration import Sample

SCHEME = "QDQ, weights s8 per channel, activations u8 per tensor (MinMax)"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Keep the quantizers' log lines, warnings and progress bars off the terminal."""
    levels = {name: logging.getLogger(name).level for name in ("root", "nncf", "onnxruntime")}
    try:
        for name in levels:
            logging.getLogger(None if name == "root" else name).setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(None if name == "root" else name).setLevel(level)


def failure(library: str, graph: Any, e: BaseException) -> UserError:
    """One line for a quantizer that gave up, naming the node / op it names (if any)."""
    text = str(e).strip()
    first = (text.splitlines()[0] if text else type(e).__name__)[:300]
    names = {n.name: n.op_type for n in graph.node} if graph is not None else {}
    hit = next((f"{op} node {name}" for name, op in names.items()
                if name and re.search(rf"\b{re.escape(name)}\b", text)), None)
    if hit is None:
        ops = {op for op in names.values()}
        hit = next((f"a {op} op" for op in sorted(ops) if re.search(rf"\b{op}\b", text)), None)
    where = f" at {hit}" if hit else ""
    return UserError(f"{library} cannot quantize this graph{where} ({type(e).__name__}: "
                     f"{first}); keep that part in float with --keep-fp32")


class _Reader:
    """onnxruntime's CalibrationDataReader over prepared samples."""

    def __init__(self, names: list[str], samples: list[Sample]) -> None:
        self._feeds = iter([dict(zip(names, s, strict=True)) for s in samples])

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)


def tool() -> str:
    """``onnxruntime X.Y.Z``; UserError when it is not installed."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError("quantizing for onnxruntime needs it: pip install 'srprune[export]'") \
            from None
    return f"onnxruntime {onnxruntime.__version__}"


def quantize_onnxruntime(fp32: Path, out: Path, samples: list[Sample], exclude: list[str],
                         work: Path, options: dict[str, Any] | None = None) -> None:
    """Write the INT8 QDQ model of ``fp32`` to ``out`` (its metadata props are set after).

    Args:
        exclude: ONNX node names kept in float.
        work: a folder for the pre-processed model.
        options: overrides of :func:`quantize_static` keywords (benches compare schemes).
    """
    tool()
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    pre = work / "preprocessed.onnx"
    graph = onnx.load(str(fp32), load_external_data=False).graph
    names = [i.name for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    kwargs: dict[str, Any] = dict(
        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=exclude)
    kwargs.update(options or {})
    try:
        with quiet():
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(out), _Reader(names, samples), **kwargs)
    except (UserError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - the quantizer raises many types
        raise failure("onnxruntime", graph, e) from None

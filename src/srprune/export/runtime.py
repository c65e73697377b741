"""Open an exported file in a deployment runtime: onnxruntime or OpenVINO.

Both read the same ``.onnx`` file; OpenVINO also reads its own IR (``.xml`` + ``.bin``, with
srprune's metadata in its runtime info: :mod:`srprune.export.ir`). The file's srprune metadata
(and an ONNX file's opset) are checked first, so a file from elsewhere, a too-old opset or a
missing runtime is refused with one line.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from srprune.errors import UserError
from srprune.export.graph_checks import check_graph, check_outputs, probe_inputs
from srprune.export.ir import first_line, is_ir, openvino_module, read_ir, reshaped
from srprune.export.metadata import MIN_OPSET, ExportInfo
from srprune.io.special import refuse_special

RUNTIMES = ("onnxruntime", "openvino")
CACHED_SIZES = 8
"""LR sizes an OpenVINO model stays compiled for at once (least recently used dropped)."""


def _load_error(runtime: str, version: str, path: Path, opset: int, e: BaseException) -> UserError:
    """One line for a runtime that refuses the file (an opset it lacks, or anything else)."""
    if "opset" in str(e).lower():
        return UserError(f"{runtime} {version} does not support ONNX opset {opset} of "
                         f"{path.name}; re-export with --opset 18 or upgrade {runtime}")
    return UserError(f"{runtime} {version} cannot run {path.name} (opset {opset}): "
                     f"{first_line(e)}")


def read_info(path: str | Path) -> tuple[ExportInfo, int, bool]:
    """(srprune metadata, default-domain opset, scale verified) of an exported file.

    The metadata is checked against the graph (``graph_checks``); when shape inference cannot
    verify the scale, the third value is False and the caller runs ``probe_inputs`` once.
    """
    path = Path(path)
    refuse_special(path, "model file", "an ONNX file")
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    try:
        import onnx
    except ImportError:
        raise UserError(f"{path.name} is an ONNX file; reading it needs the onnx package: "
                        "pip install 'srprune[export]'") from None
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises several types on a damaged file
        raise UserError(f"{path} is not a readable ONNX file ({first_line(e)})") from None
    info = ExportInfo.from_props({p.key: p.value for p in proto.metadata_props}, str(path))
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                default=0)
    if opset < MIN_OPSET:
        raise UserError(f"{path.name} uses ONNX opset {opset}; srprune runs opset >= "
                        f"{MIN_OPSET} (re-export it with `srprune export --opset 18`)")
    verified = check_graph(proto, info, opset, str(path))
    return info, opset, verified


class ExportedModel:
    """An exported srprune model loaded in a runtime: ``run(inputs) -> outputs`` (float32).

    ``path`` is an ONNX file (onnxruntime or OpenVINO) or an OpenVINO IR ``.xml`` (OpenVINO
    only); ``runtime`` None picks onnxruntime for ONNX and OpenVINO for an IR. In OpenVINO a
    file fixed to one LR size runs at any size its graph allows (a reshaped copy compiled once
    per size, the last :data:`CACHED_SIZES` kept); onnxruntime runs it at its size only
    (:meth:`check_size`).
    """

    def __init__(self, path: str | Path, runtime: str | None = None, threads: int = 0) -> None:
        self.path = Path(path)
        ir = is_ir(self.path)
        runtime = runtime or ("openvino" if ir else "onnxruntime")
        if runtime not in RUNTIMES:
            raise UserError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
        if ir and runtime != "openvino":
            raise UserError(f"{self.path.name} is an OpenVINO IR: it runs in openvino only, "
                            f"not in {runtime} (use --runtime openvino, or the .onnx file)")
        self.runtime = runtime
        if ir:
            model, self.info = read_ir(self.path)
            self.opset = self.info.opset
            self._run = _OpenVINO(self.path, model, self.info, threads)
            return
        self.info, self.opset, verified = read_info(self.path)
        self._run = (_onnxruntime(self.path, self.opset, threads) if runtime == "onnxruntime"
                     else _OpenVINO(self.path, _read_onnx_in_openvino(self.path, self.opset),
                                    self.info, threads))
        if not verified:
            self._probe()

    def _probe(self) -> None:
        """One run on zero inputs: the output shapes show the scale the graph really has."""
        try:
            outputs = self.run(probe_inputs(self.info))
        except UserError:
            raise
        except Exception as e:  # the runtimes raise their own types
            raise UserError(f"{self.path}: its metadata does not describe its graph (a run on "
                            f"inputs shaped as the metadata says fails: {first_line(e)})") \
                from None
        check_outputs([list(o.shape) for o in outputs], self.info, str(self.path))

    def check_size(self, h: int, w: int) -> None:
        """Refuse (h, w) LR frames in one line when this runtime cannot run the file at that
        size: a fixed-size file in onnxruntime (OpenVINO reshapes it)."""
        size = self.info.lr_size
        if size is None or (h, w) == size or self.runtime == "openvino":
            return
        raise UserError(f"{self.path.name} was exported for {size[0]}x{size[1]} LR frames and "
                        f"this input is {h}x{w}: onnxruntime runs a fixed-size file at its size "
                        "only; re-export it with --lr-size dynamic (or use --runtime openvino, "
                        "which reshapes it)")

    @property
    def openvino_model(self) -> Any:
        """The ``openvino.Model`` it runs (None in onnxruntime)."""
        return self._run.model if isinstance(self._run, _OpenVINO) else None

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run the graph on float32 inputs in the graph's input order."""
        return self._run([np.ascontiguousarray(x, dtype=np.float32) for x in inputs])


def _onnxruntime(path: Path, opset: int, threads: int) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError(f"{path.name} needs onnxruntime, which is not installed: "
                        "pip install 'srprune[export]'") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads > 0:
        opts.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise _load_error("onnxruntime", ort.__version__, path, opset, e) from None
    names = [i.name for i in session.get_inputs()]

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        return session.run(None, dict(zip(names, inputs, strict=True)))

    return run


def _read_onnx_in_openvino(path: Path, opset: int) -> Any:
    ov = openvino_module(path)
    try:
        return ov.Core().read_model(str(path))
    except Exception as e:  # OpenVINO raises RuntimeError subclasses with long messages
        raise _load_error("openvino", ov.__version__, path, opset, e) from None


class _OpenVINO:
    """Runs an OpenVINO model, compiled once per LR size (once for a dynamic file)."""

    def __init__(self, path: Path, model: Any, info: ExportInfo, threads: int) -> None:
        self.ov = openvino_module(path)
        self.path, self.model, self.info = path, model, info
        self.core = self.ov.Core()
        # float32 everywhere: the CPU plugin would otherwise pick bf16 on CPUs that have it.
        self.config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads > 0:
            self.config["INFERENCE_NUM_THREADS"] = threads
        self.compiled: OrderedDict[tuple[int, int] | None, tuple[Any, Any]] = OrderedDict()
        self._compile(info.lr_size)

    def _compile(self, size: tuple[int, int] | None) -> tuple[Any, Any]:
        """(compiled model, infer request) at LR ``size`` (None: the file's own shapes)."""
        key = None if size == self.info.lr_size else size
        if key in self.compiled:
            self.compiled.move_to_end(key)
            return self.compiled[key]
        model = self.model if key is None else reshaped(self.model, self.info, *key,
                                                        str(self.path))
        try:
            compiled = self.core.compile_model(model, "CPU", self.config)
        except Exception as e:  # OpenVINO raises RuntimeError subclasses with long messages
            raise _load_error("openvino", self.ov.__version__, self.path, self.info.opset,
                              e) from None
        self.compiled[key] = (compiled, compiled.create_infer_request())
        while len(self.compiled) > CACHED_SIZES:
            self.compiled.popitem(last=False)
        return self.compiled[key]

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        h, w = inputs[0].shape[-2:]
        compiled, request = self._compile(None if self.info.lr_size is None else (h, w))
        result = request.infer(inputs)
        return [np.array(result[out]) for out in compiled.outputs]

"""Open an exported ONNX file in a deployment runtime: onnxruntime or OpenVINO.

Both read the same ``.onnx`` file. The file's srprune metadata and opset are checked first, so a
file from elsewhere, a too-old opset or a missing runtime is refused with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from srprune.errors import UserError
from srprune.export.graph_checks import check_graph, check_outputs, probe_inputs
from srprune.export.metadata import MIN_OPSET, ExportInfo
from srprune.io.special import refuse_special

RUNTIMES = ("onnxruntime", "openvino")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]


def _load_error(runtime: str, version: str, path: Path, opset: int, e: BaseException) -> UserError:
    """One line for a runtime that refuses the file (an opset it lacks, or anything else)."""
    if "opset" in str(e).lower():
        return UserError(f"{runtime} {version} does not support ONNX opset {opset} of "
                         f"{path.name}; re-export with --opset 18 or upgrade {runtime}")
    return UserError(f"{runtime} {version} cannot run {path.name} (opset {opset}): "
                     f"{_first_line(e)}")


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
        raise UserError(f"{path} is not a readable ONNX file ({_first_line(e)})") from None
    info = ExportInfo.from_props({p.key: p.value for p in proto.metadata_props}, str(path))
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                default=0)
    if opset < MIN_OPSET:
        raise UserError(f"{path.name} uses ONNX opset {opset}; srprune runs opset >= "
                        f"{MIN_OPSET} (re-export it with `srprune export --opset 18`)")
    verified = check_graph(proto, info, opset, str(path))
    return info, opset, verified


class ExportedModel:
    """An exported srprune model loaded in a runtime: ``run(inputs) -> outputs`` (float32)."""

    def __init__(self, path: str | Path, runtime: str = "onnxruntime", threads: int = 0) -> None:
        if runtime not in RUNTIMES:
            raise UserError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
        self.path = Path(path)
        self.runtime = runtime
        self.info, self.opset, verified = read_info(self.path)
        self._run = (_onnxruntime if runtime == "onnxruntime" else _openvino)(
            self.path, self.opset, threads)
        if not verified:
            self._probe()

    def _probe(self) -> None:
        """One run on zero inputs: the output shapes show the scale the graph really has."""
        try:
            outputs = self.run(probe_inputs(self.info))
        except Exception as e:  # the runtimes raise their own types
            raise UserError(f"{self.path}: its metadata does not describe its graph (a run on "
                            f"inputs shaped as the metadata says fails: {_first_line(e)})") \
                from None
        check_outputs([list(o.shape) for o in outputs], self.info, str(self.path))

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


def _openvino(path: Path, opset: int, threads: int) -> Any:
    try:
        import openvino as ov
    except ImportError:
        raise UserError(f"running {path.name} in OpenVINO needs the openvino package: "
                        "pip install 'srprune[mobile]'") from None
    core = ov.Core()
    # float32 everywhere: the CPU plugin would otherwise pick bf16 on CPUs that have it.
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = threads
    try:
        compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    except Exception as e:  # OpenVINO raises RuntimeError subclasses with long messages
        raise _load_error("openvino", ov.__version__, path, opset, e) from None
    request = compiled.create_infer_request()

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        result = request.infer(inputs)
        return [np.array(result[out]) for out in compiled.outputs]

    return run

"""Post-training INT8 of an srprune model, end to end (``srprune quantize`` and benches).

:func:`quantize` does everything the command does. Benches that try several settings on one
model call the steps: :func:`prepare` (export to float ONNX unless given one, read the
calibration clips, map the declared roles onto graph nodes) once, then
:func:`quantize_prepared` per runtime / kept-role set, and :func:`evaluate_file` to score and
time a result against the float file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srprune.errors import UserError
from srprune.export.metadata import QUANTIZATION, ExportInfo, export_kind
from srprune.export.onnx_writer import DEFAULT_FRAMES, export_onnx
from srprune.export.runtime import RUNTIMES, read_info
from srprune.io.atomic import write_text_atomic
from srprune.io.model_file import load_model
from srprune.quantize import onnxruntime_int8, openvino_int8
from srprune.quantize.calibration import Calibration, fill_samples, read_calibration
from srprune.quantize.record import QuantRecord, onnx_props, write_onnx_props
from srprune.quantize.report import Report, evaluate, open_model
from srprune.quantize.roles import check_roles, declared_roles, role_nodes

SUFFIX = {"onnxruntime": ".onnx", "openvino": ".xml"}
DEFAULT_KEEP: dict[str, tuple[str, ...]] = {"onnxruntime": ("head",), "openvino": ("head",)}
"""Roles kept in float by default, per runtime (those a model does not declare are skipped):
measured by bench/int8_defaults.py (results/int8_defaults.md)."""
DEFAULT_CALIB = 16  # calibration samples (frames, windows or cell steps)
DEFAULT_LR_SIZE = (180, 320)


@dataclass
class Prepared:
    """A float ONNX file ready to quantize.

    Attributes:
        fp32: the float file (exported into the work folder, or the one given).
        info, props: its srprune metadata, parsed and as strings.
        nodes: role -> ONNX node names inside it (every role the model declares).
        calib: calibration and held-out clips, with the calibration samples filled.
        name: what the model was called on the command line.
    """

    fp32: Path
    info: ExportInfo
    props: dict[str, str]
    nodes: dict[str, list[str]]
    calib: Calibration
    name: str


def default_keep(runtime: str, nodes: dict[str, list[str]]) -> list[str]:
    """The default float roles for ``runtime`` that the model declares."""
    return [r for r in DEFAULT_KEEP[runtime] if r in nodes]


def _float_file(model: str | Path, work: Path, lr_size: tuple[int, int] | None, frames: int,
                calib_dir: str | Path) -> tuple[Path, Calibration | None]:
    """(float ONNX file, calibration clips when they could be read before exporting)."""
    path = Path(model)
    if path.suffix.lower() == ".onnx":
        read_info(path)  # an srprune export, checked against its graph
        if QUANTIZATION in onnx_props(path):
            raise UserError(f"{path.name} is already quantized; give the float model")
        return path, None
    net = load_model(path)
    kind = export_kind(net)
    calib = read_calibration(calib_dir, kind, lr_size, frames)  # fail fast, before exporting
    fp32 = work / "fp32.onnx"
    export_onnx(net, fp32, lr_size, frames)
    return fp32, calib


def prepare(model: str | Path, calib_dir: str | Path, work: Path, *,
            lr_size: tuple[int, int] | None = DEFAULT_LR_SIZE, frames: int = DEFAULT_FRAMES,
            calib_frames: int = DEFAULT_CALIB, threads: int = 0) -> Prepared:
    """Export ``model`` (an srprune ``.safetensors``; an exported ``.onnx`` is used as is, its
    own size and frames winning) into ``work``, read ``calib_dir`` for it and map its roles."""
    import onnx

    fp32, calib = _float_file(model, work, lr_size, frames, calib_dir)
    info = read_info(fp32)[0]
    if calib is None:
        calib = read_calibration(calib_dir, info.kind, info.lr_size, info.frames)
    cell = None
    if info.kind == "stream":
        runtime = "onnxruntime" if _has("onnxruntime") else "openvino"
        cell = open_model(fp32, runtime, info, threads).run
    fill_samples(calib, info, calib_frames, cell)
    proto = onnx.load(str(fp32), load_external_data=False)
    nodes = role_nodes(proto.graph, declared_roles(info))
    props = {p.key: p.value for p in proto.metadata_props}
    return Prepared(fp32, info, props, nodes, calib, Path(model).name)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def quantize_prepared(prep: Prepared, runtime: str, keep: Iterable[str], out: Path, work: Path,
                      ort_options: dict[str, Any] | None = None) -> QuantRecord:
    """Write the INT8 file of ``prep`` for ``runtime`` at ``out`` (``.onnx`` for onnxruntime,
    ``.xml`` + ``.bin`` for OpenVINO), keeping the ``keep`` roles in float."""
    keep = check_roles(keep, prep.nodes, "--keep-fp32")
    kept = {r: prep.nodes[r] for r in keep}
    exclude = sorted({n for names in kept.values() for n in names})
    if runtime == "onnxruntime":
        record = QuantRecord.of(runtime, onnxruntime_int8.SCHEME, kept, onnxruntime_int8.tool(),
                                prep.calib)
        onnxruntime_int8.quantize_onnxruntime(prep.fp32, out, prep.calib.samples, exclude,
                                              work, ort_options)
        write_onnx_props(out, record.props(prep.props))
    elif runtime == "openvino":
        record = QuantRecord.of(runtime, openvino_int8.SCHEME, kept, openvino_int8.tool(),
                                prep.calib)
        openvino_int8.quantize_openvino(prep.fp32, out, prep.calib.samples, exclude,
                                        record.props(prep.props))
    else:
        raise UserError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    return record


def evaluate_file(prep: Prepared, int8: Path, runtime: str, record: QuantRecord, *,
                  threads: int = 0, repeats: int = 5, drift_frames: int = 100,
                  output: str | None = None) -> Report:
    """Score and time ``int8`` against the float file of ``prep`` in ``runtime``."""
    fp32 = open_model(prep.fp32, runtime, prep.info, threads)
    q = open_model(int8, runtime, prep.info, threads)
    mean, count, (t32, t8), drift = evaluate(fp32, q, prep.calib, repeats, drift_frames)
    size = prep.calib.size if prep.info.lr_size is None else prep.info.lr_size
    return Report(output or str(int8), runtime, prep.info.kind, f"{size[0]}x{size[1]}",
                  record.to_dict(), round(mean, 3), count, t32, t8, drift,
                  {r: len(n) for r, n in prep.nodes.items()})


def output_runtime(output: Path, runtime: str | None) -> str:
    """The runtime an output name asks for (``.onnx``: onnxruntime, ``.xml``: openvino),
    checked against ``--runtime`` when given."""
    by_suffix = {v: k for k, v in SUFFIX.items()}.get(output.suffix.lower())
    if runtime is not None and runtime not in RUNTIMES:
        raise UserError(f"unsupported runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if by_suffix is None:
        raise UserError(f"--output {output}: use a .onnx (onnxruntime) or .xml (OpenVINO IR) "
                        "file name")
    if runtime is not None and runtime != by_suffix:
        raise UserError(f"--runtime {runtime} writes a {SUFFIX[runtime]} file; --output "
                        f"{output.name} is for {by_suffix}")
    return by_suffix


def outputs_of(output: Path) -> list[Path]:
    """Every file ``quantize`` writes for ``output``: the model (and its ``.bin``), the report."""
    files = [output.with_suffix(".quantize.json"), output]
    if output.suffix.lower() == ".xml":
        files.insert(0, output.with_suffix(".bin"))
    return files


def check_outputs(output: Path, force: bool) -> None:
    """Refuse existing outputs without ``force`` (and outputs in a missing folder)."""
    if not output.parent.is_dir():
        raise UserError(f"--output {output}: folder {output.parent} does not exist")
    for path in outputs_of(output):
        if path.exists() and not (force and path.is_file()):
            hint = " (or pass --force to replace it)" if path.is_file() else ""
            raise UserError(f"--output: {path} exists; remove it or choose another name{hint}")


def quantize(model: str | Path, calib_dir: str | Path, output: str | Path, *,
             runtime: str | None = None, lr_size: tuple[int, int] | None = DEFAULT_LR_SIZE,
             frames: int = DEFAULT_FRAMES, keep: Iterable[str] | None = None,
             calib_frames: int = DEFAULT_CALIB, force: bool = False, threads: int = 0,
             repeats: int = 5, drift_frames: int = 100) -> Report:
    """Quantize ``model`` to INT8 at ``output`` and write its report beside it
    (``OUT.quantize.json``). ``keep`` None keeps :data:`DEFAULT_KEEP`; every output appears
    at once, after everything succeeded (temporary names, then renames)."""
    output = Path(output)
    runtime = output_runtime(output, runtime)
    check_outputs(output, force)
    with tempfile.TemporaryDirectory(prefix="srprune-quantize-") as tmp:
        work = Path(tmp)
        prep = prepare(model, calib_dir, work, lr_size=lr_size, frames=frames,
                       calib_frames=calib_frames, threads=threads)
        roles = default_keep(runtime, prep.nodes) if keep is None else list(keep)
        stage = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
        try:
            staged = stage / f"int8{output.suffix.lower()}"
            record = quantize_prepared(prep, runtime, roles, staged, work)
            report = evaluate_file(prep, staged, runtime, record, threads=threads,
                                   repeats=repeats, drift_frames=drift_frames,
                                   output=str(output))
            write_text_atomic(stage / "report.json", json.dumps(report.to_dict(), indent=2))
            sources = [stage / "report.json", staged]
            if runtime == "openvino":
                sources.insert(0, staged.with_suffix(".bin"))
            for src, dst in zip(sources, outputs_of(output), strict=True):
                os.replace(src, dst)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return report

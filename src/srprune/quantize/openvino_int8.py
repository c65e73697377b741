"""INT8 for OpenVINO: ``nncf.quantize`` on the model OpenVINO reads from the float ONNX file.

NNCF's ``PERFORMANCE`` preset (:data:`SCHEME`: symmetric 8-bit weights per output channel,
symmetric 8-bit activations per tensor) with fast bias correction, calibrated on the prepared
samples; the ops made from the float roles' ONNX nodes form its ignored scope. The result is
saved as IR (``.xml`` + ``.bin``) with float32 weights where they stay float
(``compress_to_fp16=False``) and the srprune metadata in its runtime info.
"""

from __future__ import annotations

from pathlib import Path

from srprune.errors import UserError
from srprune.export.ir import set_ir_props
from srprune.quantize.calibration import Sample
from srprune.quantize.onnxruntime_int8 import failure, quiet
from srprune.quantize.roles import openvino_names

SCHEME = "NNCF performance preset: weights s8 per channel, activations s8/u8 per tensor"


def tool() -> str:
    """``nncf X.Y.Z``; UserError when nncf or openvino is not installed."""
    try:
        import nncf
        import openvino  # noqa: F401
    except ImportError:
        raise UserError("quantizing for OpenVINO needs nncf and openvino: "
                        "pip install 'srprune[quantize]'") from None
    return f"nncf {nncf.__version__}"


def quantize_openvino(fp32: Path, out_xml: Path, samples: list[Sample], exclude: list[str],
                      props: dict[str, str]) -> int:
    """Write the INT8 IR of ``fp32`` to ``out_xml`` (and its ``.bin``) with ``props`` (srprune
    metadata) in its runtime info; returns how many OpenVINO ops stayed float.

    Args:
        exclude: ONNX node names kept in float (mapped to OpenVINO op names).
    """
    tool()
    import nncf
    import onnx
    import openvino as ov

    model = ov.Core().read_model(str(fp32))
    names = [p.get_any_name() for p in model.inputs]
    ignored = openvino_names(model, exclude)
    dataset = nncf.Dataset([dict(zip(names, s, strict=True)) for s in samples])
    try:
        with quiet():
            quantized = nncf.quantize(
                model, dataset, preset=nncf.QuantizationPreset.PERFORMANCE,
                target_device=nncf.TargetDevice.CPU, subset_size=len(samples),
                fast_bias_correction=True,
                ignored_scope=nncf.IgnoredScope(names=ignored, validate=False))
    except (UserError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - NNCF and OpenVINO raise many types
        raise failure("nncf", onnx.load(str(fp32), load_external_data=False).graph, e) \
            from None
    set_ir_props(quantized, props)
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return len(ignored)

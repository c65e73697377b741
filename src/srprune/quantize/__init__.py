"""Post-training INT8 of srprune models for onnxruntime and OpenVINO (``srprune quantize``).

* :mod:`~srprune.quantize.calibration`: calibration and held-out clips from the user's LR frames,
  cut to the graph's inputs (frames, windows, or a streaming cell's real inputs);
* :mod:`~srprune.quantize.roles`: the model's declared precision-sensitive roles mapped onto
  ONNX nodes and OpenVINO ops;
* :mod:`~srprune.quantize.onnxruntime_int8`, :mod:`~srprune.quantize.openvino_int8`: the two
  quantizers (onnxruntime's ``quantize_static``, NNCF);
* :mod:`~srprune.quantize.record`: the ``quantization`` metadata an INT8 file carries;
* :mod:`~srprune.quantize.report`: fidelity, latency and drift against the float export;
* :mod:`~srprune.quantize.api`: the whole pipeline, and its steps for benches.
"""

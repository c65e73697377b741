"""Deployment: export srprune models to ONNX and run them in onnxruntime or OpenVINO."""

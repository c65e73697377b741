"""Latency budgets for pruning: a per-layer latency table measured on this machine.

* :mod:`~srprune.latency.calls`: how each prunable layer is used in one forward pass (input
  size, calls per frame, the activation applied to its output), found on the ``meta`` device.
* :mod:`~srprune.latency.grid`: the width grid of a layer and bilinear interpolation on it.
* :mod:`~srprune.latency.timers`: timing one layer at given widths, and a whole model, in
  PyTorch eager, onnxruntime or OpenVINO.
* :mod:`~srprune.latency.table`: the table (layers x width grid + the measured remainder) and
  its prediction for any widths.
* :mod:`~srprune.latency.cache`: the table on disk, keyed by a fingerprint of everything it
  depends on.
* :mod:`~srprune.latency.fit`: the selection that meets a budget, checked against a real
  measurement and corrected.
"""

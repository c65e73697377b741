"""Latency targets: ``latency=40ms@openvino:180x320``.

A latency budget per output frame in a named runtime at an LR size:

* the budget: a number with ``ms`` (or ``s``, ``us``) after it;
* ``@RUNTIME``: ``torch`` (PyTorch eager, channels_last, as the profiler times), ``onnxruntime``
  or ``openvino`` (the exported ONNX graph, float32); ``torch`` when left out;
* ``:HxW``: the LR size; ``prune.report_lr_size`` when left out.

The thread count is the process's (``--threads``, else PyTorch's default). The selection that
meets the budget is searched on a per-layer latency table measured on this machine
(``srprune.latency``); this module only reads the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from srprune.pruning.targets import SizeTarget

RUNTIMES = ("torch", "onnxruntime", "openvino")
MAX_SIDE = 4096
_UNITS = {"ms": 1.0, "s": 1000.0, "us": 1e-3}
_PATTERN = re.compile(r"\s*latency\s*=\s*([0-9.eE+-]+)\s*(ms|s|us)"
                      r"(?:\s*@\s*([a-z]+))?(?:\s*:\s*(\d+)\s*x\s*(\d+))?\s*")
FORM = "latency=40ms[@torch|@onnxruntime|@openvino][:HxW]"


@dataclass(frozen=True)
class LatencyTarget:
    """A latency budget: ``budget_ms`` per output frame in ``runtime`` at ``lr_size`` (None:
    the report's LR size)."""

    budget_ms: float
    runtime: str = "torch"
    lr_size: tuple[int, int] | None = None
    kind: str = "latency"

    @classmethod
    def parse(cls, text: str) -> LatencyTarget:
        """``latency=40ms@openvino:180x320`` (runtime and size optional)."""
        m = _PATTERN.fullmatch(text)
        if not m:
            raise ValueError(f"latency target {text!r} is not {FORM}")
        try:
            budget = float(m[1]) * _UNITS[m[2]]
        except ValueError:
            raise ValueError(f"latency target {text!r}: {m[1]!r} is not a number") from None
        if not 0 < budget < 1e9:
            raise ValueError(f"latency target {text!r}: the budget must be > 0")
        runtime = m[3] or "torch"
        if runtime not in RUNTIMES:
            raise ValueError(f"latency target {text!r}: unknown runtime {runtime!r}; choose "
                             f"one of {', '.join(RUNTIMES)}")
        size = None
        if m[4] is not None:
            size = (int(m[4]), int(m[5]))
            if not all(4 <= side <= MAX_SIDE for side in size):
                raise ValueError(f"latency target {text!r}: each side of the size must be 4 "
                                 f"to {MAX_SIDE}")
        return cls(budget, runtime, size)

    def __str__(self) -> str:
        size = "" if self.lr_size is None else f":{self.lr_size[0]}x{self.lr_size[1]}"
        return f"latency={self.budget_ms:g}ms@{self.runtime}{size}"


def is_latency(text: str) -> bool:
    """Whether ``text`` is a latency target (rather than a size)."""
    return text.strip().startswith("latency")


def parse_target(text: str) -> SizeTarget | LatencyTarget:
    """A size target (``macs=4G``, ``params=0.7M``, ``ratio=0.5``) or a latency target."""
    return LatencyTarget.parse(text) if is_latency(text) else SizeTarget.parse(text)

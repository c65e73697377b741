"""Deterministic weights and inputs from a closed formula (no RNG): the reference-output
fixtures (scripts/make_reference_outputs.py) and the tests that read them build the same
tensors from the same key names and shapes."""

from __future__ import annotations

import math

import torch


def formula_tensor(shape: tuple[int, ...], seed: int, amplitude: float = 2.5,
                   vector_amplitude: float = 0.1) -> torch.Tensor:
    """``amp * sin(0.7548776662 i + 1.3247179572 seed)`` over the flat index i, float32.

    ``amp`` is ``amplitude / sqrt(fan_in)`` for weights of two or more dimensions,
    ``vector_amplitude`` for vectors (biases, PReLU slopes), so activations stay of order one
    through a few layers (the image fixtures: 2.5 and 0.1; BasicVSR++'s, tests/vsrpp_reference.py:
    2.0 and 0.05, where 2.5 grows SPyNet's flows to 16 px).
    """
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    amp = amplitude / math.sqrt(math.prod(shape[1:])) if len(shape) > 1 else vector_amplitude
    return (amp * torch.sin(0.7548776662 * i + 1.3247179572 * seed)).float().view(shape)


def formula_state(shapes: dict[str, tuple[int, ...]], amplitude: float = 2.5,
                  vector_amplitude: float = 0.1) -> dict[str, torch.Tensor]:
    """A state dict for the given key -> shape map (:func:`formula_tensor`'s amplitudes); the
    seed of a key is its rank in sorted order, so the same keys give the same tensors whatever
    module lists them."""
    return {k: formula_tensor(tuple(shapes[k]), j, amplitude, vector_amplitude)
            for j, k in enumerate(sorted(shapes))}


def formula_image(h: int, w: int) -> torch.Tensor:
    """A (1, 3, h, w) image in [0, 1]."""
    i = torch.arange(3 * h * w, dtype=torch.float64)
    return (0.5 + 0.5 * torch.sin(0.37 * i + 0.1)).float().view(1, 3, h, w)


SRVGG_CASES: dict[str, tuple[dict[str, object], tuple[int, int]]] = {
    "srvgg_x1_relu": ({"num_feat": 6, "num_conv": 1, "upscale": 1, "act_type": "relu"}, (6, 7)),
    "srvgg_x2_leakyrelu": ({"num_feat": 8, "num_conv": 3, "upscale": 2,
                            "act_type": "leakyrelu"}, (5, 7)),
    "srvgg_x3_prelu": ({"num_feat": 4, "num_conv": 2, "upscale": 3, "act_type": "prelu"}, (4, 6)),
    "srvgg_x4_prelu": ({"num_feat": 8, "num_conv": 2, "upscale": 4, "act_type": "prelu"}, (4, 6)),
}
"""BasicSR ``SRVGGNetCompact`` keyword arguments and the LR input size (h, w) per fixture."""

RRDBNET_CASES: dict[str, tuple[dict[str, object], tuple[int, int]]] = {
    "rrdbnet_x1": ({"num_feat": 6, "num_block": 1, "num_grow_ch": 3, "scale": 1}, (8, 8)),
    "rrdbnet_x2": ({"num_feat": 8, "num_block": 2, "num_grow_ch": 4, "scale": 2}, (4, 8)),
    "rrdbnet_x4": ({"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 4}, (4, 6)),
}
"""BasicSR ``RRDBNet`` keyword arguments (3 in, 3 out) and the LR input size per fixture."""


def formula_checkpoint(path, model: torch.nn.Module, entry: str = "params") -> None:
    """A BasicSR-style checkpoint (``{entry: state dict}``) of formula weights in ``model``'s
    key layout (BasicSR's names), for the importer to read."""
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    torch.save({entry: formula_state(shapes)}, path)

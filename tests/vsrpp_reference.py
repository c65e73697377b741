"""The BasicVSR++ reference case: formula weights, a formula clip, BasicSR's keyword arguments.

scripts/make_reference_outputs_vsrpp.py runs BasicSR's own module on it and writes
``tests/fixtures/basicvsrpp_reference.safetensors``; tests/test_basicvsrpp.py rebuilds the same
weights (no RNG: a closed formula per key) and compares srprune's output with it.
"""

from __future__ import annotations

import torch

from formula_weights import formula_state

BASICSR_KWARGS = {"mid_channels": 8, "num_blocks": 1, "max_residue_magnitude": 10,
                  "is_low_res_input": True}
"""BasicSR ``BasicVSRPlusPlus`` arguments (feat_extract / reconstruction keep 5 blocks,
upconv2 / conv_hr 64 channels, 16 deformable groups and the full SPyNet: BasicSR fixes them)."""

CLIP = (3, 64, 64)
"""Frames, height, width: BasicSR asserts at least 64x64; 3 frames reach second order."""

STRIDE = 4
"""The fixture keeps the output on a stride-4 pixel grid (``out[..., ::4, ::4]``)."""


def formula_params(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Parameters for a key -> shape map (buffers such as SPyNet's mean / std excluded by
    the caller): :func:`formula_weights.formula_state` with amplitude ``2 / sqrt(fan_in)``
    for weights (features, flows and offsets then matter) and 0.05 for biases."""
    return formula_state(shapes, amplitude=2.0, vector_amplitude=0.05)


def formula_clip() -> torch.Tensor:
    """(1, T, 3, h, w) in [0, 1]: a smooth pattern drifting 1.5 px right and 1 px down per
    frame, so SPyNet sees real motion."""
    t, h, w = CLIP
    ys = torch.arange(h, dtype=torch.float64).view(1, h, 1)
    xs = torch.arange(w, dtype=torch.float64).view(1, 1, w)
    frames = []
    for f in range(t):
        phase = torch.tensor([0.0, 1.1, 2.3], dtype=torch.float64).view(3, 1, 1)
        y, x = ys - 1.0 * f, xs - 1.5 * f
        img = 0.5 + 0.25 * torch.sin(0.21 * x + phase) * torch.cos(0.17 * y - phase) \
            + 0.2 * torch.sin(0.05 * (x + y) + 2 * phase)
        frames.append(img)
    return torch.stack(frames).unsqueeze(0).float()

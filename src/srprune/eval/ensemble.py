"""Test-time self-ensembles: temporal flip for video models, x8 geometric for image models.

``run`` is any callable mapping a low-resolution batch to its super-resolved batch (a model's
``forward``, or a tiling wrapper around it). Gradient mode is left to the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from srprune.errors import UserError

__all__ = ["flip_ensemble", "geometric_ensemble"]

FlipMode = Literal["concat", "separate"]


def _check_frames(out: Tensor, n: int, t: int, what: str) -> None:
    if out.dim() != 5 or out.shape[0] != n or out.shape[1] != t:
        raise RuntimeError(
            f"run returned shape {tuple(out.shape)} for {what}; expected (N={n}, T={t}, C, H, W)"
        )


def flip_ensemble(
    run: Callable[[Tensor], Tensor], lrs: Tensor, mode: FlipMode = "concat"
) -> Tensor:
    """Temporal-flip self-ensemble of a video SR model.

    ``mode="concat"`` (default) is what BasicSR's and SSL's ``flip_seq`` test option does: the
    clip and its time reversal are joined into one sequence of 2T frames and run once; output
    frame t is the mean of output t and output 2T-1-t. For a recurrent model each half then also
    sees the other half through the propagation, so this is *not* the same as two separate runs.

    ``mode="separate"`` runs the clip and its reversal independently:
    ``0.5 * (run(lrs) + run(lrs.flip(1)).flip(1))`` (half the memory per call).

    Args:
        run: Maps ``(N, T', C, h, w)`` to ``(N, T', C, H, W)``.
        lrs: Low-resolution clips ``(N, T, C, h, w)``.
        mode: ``"concat"`` (official) or ``"separate"``.

    Returns:
        Ensembled output ``(N, T, C, H, W)``.
    """
    if not isinstance(lrs, Tensor) or lrs.dim() != 5:
        shape = tuple(lrs.shape) if isinstance(lrs, Tensor) else type(lrs).__name__
        raise UserError(f"flip_ensemble needs clips of shape (N, T, C, h, w), got {shape}")
    n, t = lrs.shape[:2]
    if mode == "concat":
        out = run(torch.cat([lrs, lrs.flip(1)], dim=1))
        _check_frames(out, n, 2 * t, "the 2T-frame flip sequence")
        return 0.5 * (out[:, :t] + out[:, t:].flip(1))
    if mode == "separate":
        fwd = run(lrs)
        _check_frames(fwd, n, t, "the clip")
        bwd = run(lrs.flip(1))
        _check_frames(bwd, n, t, "the reversed clip")
        return 0.5 * (fwd + bwd.flip(1))
    raise UserError(f"unknown flip ensemble mode {mode!r}; valid modes: concat, separate")


def _transform(x: Tensor, transpose: bool, hflip: bool, vflip: bool) -> Tensor:
    if transpose:
        x = x.transpose(-2, -1)
    if hflip:
        x = x.flip(-1)
    if vflip:
        x = x.flip(-2)
    return x


def _inverse(y: Tensor, transpose: bool, hflip: bool, vflip: bool) -> Tensor:
    if vflip:
        y = y.flip(-2)
    if hflip:
        y = y.flip(-1)
    if transpose:
        y = y.transpose(-2, -1)
    return y


def geometric_ensemble(run: Callable[[Tensor], Tensor], lr: Tensor) -> Tensor:
    """x8 geometric self-ensemble (EDSR's ``forward_x8``): flips and transposes, averaged.

    The input is run under each of the 8 symmetries of the square (identity, horizontal and
    vertical flips, transpose, and their combinations); each output is mapped back and the 8 are
    averaged. The last two axes are the spatial ones, so images ``(N, C, h, w)`` and clips
    ``(N, T, C, h, w)`` both work; ``run`` must accept transposed (w x h) inputs.

    Args:
        run: Maps a low-resolution batch to its super-resolved batch.
        lr: Low-resolution input with spatial axes last (at least 3-D).

    Returns:
        The averaged output, shaped as ``run(lr)``.
    """
    if not isinstance(lr, Tensor) or lr.dim() < 3:
        shape = tuple(lr.shape) if isinstance(lr, Tensor) else type(lr).__name__
        raise UserError(f"geometric_ensemble needs an image batch (N, C, h, w), got {shape}")
    total: Tensor | None = None
    for transpose in (False, True):
        for hflip in (False, True):
            for vflip in (False, True):
                y = _inverse(run(_transform(lr, transpose, hflip, vflip)), transpose, hflip, vflip)
                if total is not None and y.shape != total.shape:
                    raise RuntimeError(
                        f"run gave shape {tuple(y.shape)} after undoing a transform, expected"
                        f" {tuple(total.shape)}"
                    )
                total = y if total is None else total + y
    assert total is not None
    return total / 8.0

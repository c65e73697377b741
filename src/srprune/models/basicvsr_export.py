"""Export-shaped views of a BasicVSR: the streaming cell (uni) and the fixed-length window (bi).

ONNX runtimes are stateless, so a recurrent model carries its hidden state as a graph input and
output. Both wrappers share the weights of the model they wrap and contain no Python branch that
depends on tensor values; the RSC gather / scatter-add run on NCHW tensors (export the model in
the default memory format), so they trace to plain Gather / ScatterElements ops.
"""

from __future__ import annotations

import torch
from torch import nn

from srprune.models.blocks import flow_warp


class StreamingCell(nn.Module):
    """One step of a unidirectional BasicVSR.

    ``(lr, prev_lr, hidden) -> (sr, new_hidden)`` as ``BasicVSR.cell_spec`` declares it: SPyNet
    flow from ``lr`` to ``prev_lr``, the hidden state warped by it (GridSample), one
    forward-trunk step, reconstruction. For the first frame pass ``prev_lr = lr`` and a zero
    hidden state: warping zeros gives zeros, so the cell run over a clip equals
    ``BasicVSR.forward`` on it.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if model.config.bidirectional:
            raise ValueError("a streaming cell needs a unidirectional BasicVSR")
        self.model = model

    def forward(self, lr: torch.Tensor, prev_lr: torch.Tensor, hidden: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        feat = flow_warp(hidden, m.spynet(lr, prev_lr))
        feat = m.forward_trunk(torch.cat([lr, feat], dim=1))
        return m.reconstruct(feat, lr), feat


class WindowGraph(nn.Module):
    """A BasicVSR on exactly ``frames`` frames: (N,T,3,h,w) -> (N,T,3,4h,4w).

    The exporter unrolls both recurrences over the T frames, so the graph is fixed-length; a
    runtime runs a video window by window.
    """

    def __init__(self, model: nn.Module, frames: int) -> None:
        super().__init__()
        if frames < 2:
            raise ValueError("a window needs at least 2 frames")
        self.model = model
        self.frames = frames

    def forward(self, lrs: torch.Tensor) -> torch.Tensor:
        return self.model(lrs)


def export_module(model: nn.Module, kind: str, frames: int = 0) -> nn.Module:
    """``stream`` (uni only) or ``window`` (``frames`` frames) wrapper of ``model``."""
    if kind == "stream":
        return StreamingCell(model)
    if kind == "window":
        return WindowGraph(model, frames)
    raise ValueError(f"unknown export kind {kind!r}; use stream or window")

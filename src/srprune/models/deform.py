"""Modulated deformable convolution (DCNv2) in plain PyTorch ops.

``out[o, p] = bias[o] + sum_{c,k} weight[o,c,k] * mask[g(c),k,p] * x[c](p + p_k + d[g(c),k,p])``
for every output position ``p`` (stride 1), kernel tap ``k`` at ``p_k = (i*dil - pad, j*dil - pad)``
and deformable group ``g(c)`` of input channel ``c``. Offsets ``d`` are ``(dy, dx)`` pairs laid out
``(G, K, 2)`` along the channel axis and masks ``(G, K)``: the layout of mmcv, torchvision and
BasicSR. Samples are bilinear with zeros outside the frame, as in those kernels (a tap is zero
from one pixel outside onwards).

The sampling is ``grid_sample`` (ONNX GridSample) and the weighting one matrix product, so the
function exports to standard ONNX ops and runs on any device. ``torchvision.ops.deform_conv2d``
computes the same; :func:`deform_conv2d_torchvision` uses it where torchvision works (opt in with
``BACKEND = "torchvision"``; never during export).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

BACKEND = "torch"
"""``torch`` (this file's sampling) or ``torchvision`` (``torchvision.ops.deform_conv2d`` where it
imports and the input channels form equal, contiguous deformable groups)."""


def _sample_grid(offset: torch.Tensor, kernel: tuple[int, int], padding: int, dilation: int
                 ) -> torch.Tensor:
    """Normalised sampling grid (N, G, K, H, W, 2) (x, y last) for ``grid_sample``."""
    n, _, h, w = offset.shape
    kh, kw = kernel
    k = kh * kw
    off = offset.view(n, -1, k, 2, h, w)
    taps = torch.arange(k, device=offset.device)
    ky = ((taps // kw) * dilation - padding).to(offset.dtype).view(1, 1, k, 1, 1)
    kx = ((taps % kw) * dilation - padding).to(offset.dtype).view(1, 1, k, 1, 1)
    ys = torch.arange(h, device=offset.device, dtype=offset.dtype).view(1, 1, 1, h, 1)
    xs = torch.arange(w, device=offset.device, dtype=offset.dtype).view(1, 1, 1, 1, w)
    py = ys + ky + off[:, :, :, 0]
    px = xs + kx + off[:, :, :, 1]
    return torch.stack((2.0 * px / max(w - 1, 1) - 1.0, 2.0 * py / max(h - 1, 1) - 1.0), dim=-1)


def sample_taps(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor,
                kernel: tuple[int, int], padding: int = 1, dilation: int = 1,
                channel_group: torch.Tensor | None = None) -> torch.Tensor:
    """Modulated samples (N, C, K, H, W): input channel ``c`` at tap ``k``, times the mask.

    Args:
        x: (N, C, H, W) input.
        offset: (N, 2 G K, H, W) offsets in pixels, ``(dy, dx)`` per group and tap.
        mask: (N, G K, H, W) modulation (already through its sigmoid).
        channel_group: (C,) deformable group of each input channel, or None for G equal,
            contiguous groups (the dense layout).
    """
    n, c, h, w = x.shape
    k = kernel[0] * kernel[1]
    grid = _sample_grid(offset, kernel, padding, dilation)  # (N, G, K, H, W, 2)
    groups = grid.shape[1]
    mask = mask.view(n, groups, k, h, w)
    if channel_group is None:  # G equal groups: one grid_sample over (N G) batches
        sampled = F.grid_sample(x.reshape(n * groups, c // groups, h, w),
                                grid.reshape(n * groups, k * h, w, 2), mode="bilinear",
                                padding_mode="zeros", align_corners=True)
        sampled = sampled.view(n, groups, c // groups, k, h, w) * mask.unsqueeze(2)
        return sampled.reshape(n, c, k, h, w)
    # any channel -> group map (a pruned input): every channel samples at its group's grid
    grid = grid.index_select(1, channel_group).reshape(n * c, k * h, w, 2)
    sampled = F.grid_sample(x.reshape(n * c, 1, h, w), grid, mode="bilinear",
                            padding_mode="zeros", align_corners=True)
    return sampled.view(n, c, k, h, w) * mask.index_select(1, channel_group)


def modulated_deform_conv2d(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor,
                            weight: torch.Tensor, bias: torch.Tensor | None, padding: int = 1,
                            dilation: int = 1, channel_group: torch.Tensor | None = None
                            ) -> torch.Tensor:
    """DCNv2 with stride 1: (N, C_in, H, W) -> (N, C_out, H, W); see the module docstring."""
    if BACKEND == "torchvision" and channel_group is None and not _exporting():
        return deform_conv2d_torchvision(x, offset, mask, weight, bias, padding, dilation)
    n, c, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    cols = sample_taps(x, offset, mask, (kh, kw), padding, dilation, channel_group)
    out = torch.matmul(weight.reshape(c_out, c * kh * kw), cols.reshape(n, c * kh * kw, h * w))
    if bias is not None:
        out = out + bias.view(1, c_out, 1)
    return out.view(n, c_out, h, w)


def _exporting() -> bool:
    return torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling()


@functools.cache
def torchvision_deform_conv2d():  # noqa: ANN201 - torchvision's function, or None
    """``torchvision.ops.deform_conv2d`` when torchvision imports with working C ops, else None."""
    try:
        from torchvision.ops import deform_conv2d
    except Exception:  # a wheel built for another torch fails in many ways
        return None
    try:
        z = torch.zeros(1, 1, 2, 2)
        deform_conv2d(z, torch.zeros(1, 2, 2, 2), torch.zeros(1, 1, 1, 1),
                      mask=torch.ones(1, 1, 2, 2))
    except Exception:
        return None
    return deform_conv2d


def deform_conv2d_torchvision(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor,
                              weight: torch.Tensor, bias: torch.Tensor | None, padding: int = 1,
                              dilation: int = 1) -> torch.Tensor:
    """The same convolution through ``torchvision.ops.deform_conv2d`` (RuntimeError if it does
    not work here)."""
    fn = torchvision_deform_conv2d()
    if fn is None:
        raise RuntimeError("torchvision.ops.deform_conv2d is not available")
    return fn(x, offset, weight, bias, padding=(padding, padding),
              dilation=(dilation, dilation), mask=mask)

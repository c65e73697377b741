"""MATLAB-compatible bicubic resizing (the "BI" degradation of SR papers).

``imresize`` reproduces MATLAB's ``imresize(img, scale, 'bicubic')`` on float images: Keys cubic
kernel with a = -0.5, the kernel widened by ``1/scale`` when downscaling (antialiasing), weights
normalised to sum to one and symmetric ("half-sample", edge repeated) boundary handling. The two
spatial dimensions are resized one after the other, the one with the smaller scale first
(height first on ties), as MATLAB does. ``torch.nn.functional.interpolate(mode="bicubic")`` is a
different filter (a = -0.75, no antialiasing) and gives lower PSNR baselines.

Each 1-D resize is one dense matrix product, so the whole operation is vectorised.
"""

from __future__ import annotations

import math

import torch

KERNEL_WIDTH = 4.0


def cubic(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's bicubic kernel (Keys, a = -0.5): 1 at 0, 0 at +-1 and +-2, 0 beyond 2."""
    ax = x.abs()
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def output_length(in_length: int, scale: float) -> int:
    """MATLAB's output size ``ceil(in_length * scale)``, robust to float noise (99 * (1/3))."""
    return max(1, math.ceil(in_length * scale - 1e-9))


def _symmetric_index(idx: torch.Tensor, n: int) -> torch.Tensor:
    """Map out-of-range indices into [0, n) with MATLAB 'symmetric' padding (edge repeated)."""
    period = 2 * n
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - 1 - idx, idx)


def resize_matrix(in_length: int, scale: float, *, antialias: bool = True,
                  dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Dense (out_length, in_length) matrix that applies MATLAB's 1-D bicubic resize."""
    out_len = output_length(in_length, scale)
    width = KERNEL_WIDTH
    shrink = scale < 1 and antialias
    if shrink:
        width = KERNEL_WIDTH / scale
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    # Output pixel x (1-based) sits at input coordinate u (1-based, pixel centres at integers).
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    dist = u[:, None] - idx
    weights = scale * cubic(dist * scale) if shrink else cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    cols = _symmetric_index(idx.long() - 1, in_length)
    mat = torch.zeros(out_len, in_length, dtype=torch.float64)
    mat.scatter_add_(1, cols, weights)
    return mat.to(dtype)


def imresize(img: torch.Tensor, scale: float | tuple[float, float], *,
             antialias: bool = True) -> torch.Tensor:
    """Resize the last two dims of a float tensor like MATLAB ``imresize(..., 'bicubic')``.

    ``img`` is (..., H, W), e.g. (C,H,W), (N,C,H,W) or (T,C,H,W); ``scale`` is one factor or
    (scale_h, scale_w). The output is (..., ceil(H*sh), ceil(W*sw)) with the input's float dtype.
    No clamping is applied (bicubic overshoots slightly around edges).
    """
    if not torch.is_floating_point(img):
        raise TypeError(f"imresize needs a float tensor, got {img.dtype}")
    if img.dim() < 2:
        raise ValueError(f"imresize needs at least 2 dims, got shape {tuple(img.shape)}")
    sh, sw = (scale, scale) if isinstance(scale, int | float) else scale
    if sh <= 0 or sw <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    work = torch.float64 if img.dtype == torch.float64 else torch.float32
    out = img.to(work)
    h, w = out.shape[-2:]
    order = ("h", "w") if sh <= sw else ("w", "h")
    for dim in order:
        if dim == "h":
            mat = resize_matrix(h, sh, antialias=antialias, dtype=work).to(out.device)
            out = torch.matmul(mat, out)
        else:
            mat = resize_matrix(w, sw, antialias=antialias, dtype=work).to(out.device)
            out = torch.matmul(out, mat.T)
    return out.to(img.dtype)


def quantize(img: torch.Tensor) -> torch.Tensor:
    """Clamp to [0,1] and round to the nearest multiple of 1/255 (what saving as uint8 does)."""
    return torch.round(img.clamp(0.0, 1.0) * 255.0) / 255.0


def mod_crop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop the bottom/right of (..., H, W) so both sizes are multiples of ``scale`` (mod_crop)."""
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def bicubic_downsample(gt: torch.Tensor, scale: int) -> torch.Tensor:
    """The BI degradation used to make LR training/test data, quantised like a saved PNG.

    ``gt`` is float in [0,1], shape (..., H, W) with H and W multiples of ``scale`` (use
    ``mod_crop`` first). Returns ``round(clamp(imresize(gt, 1/scale), 0, 1) * 255) / 255`` of
    shape (..., H/scale, W/scale): the same values BasicSR's LR generation scripts write as uint8.
    """
    h, w = gt.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"size {h}x{w} is not a multiple of scale {scale}; mod_crop it first")
    return quantize(imresize(gt, 1.0 / scale))

"""PSNR and SSIM exactly as BasicSR defines them (``basicsr/metrics/psnr_ssim.py``).

The conventions reproduced here:

- images are scored as uint8-rounded RGB (:func:`tensor_to_uint8`, as BasicSR's ``tensor2img``);
- the optional Y channel is MATLAB's BT.601 ``rgb2ycbcr`` luma, *not* rounded (:func:`rgb_to_y`);
- ``crop_border`` pixels are removed on every side before anything else;
- PSNR uses peak 255 and one MSE over all pixels and channels, in float64; identical images give
  ``inf``, as in BasicSR;
- SSIM uses an 11x11 Gaussian window (sigma 1.5), C1 = (0.01*255)^2, C2 = (0.03*255)^2, float64,
  evaluated only where the window fits inside the image ("valid" region, which is what BasicSR's
  ``cv2.filter2D(...)[5:-5, 5:-5]`` computes), averaged over the map and then over channels.

No OpenCV is needed: filtering uses SciPy when present, else plain NumPy. One known, negligible
difference: BasicSR computes the Y channel through float32 intermediates, this module in float64;
Y values differ by at most ~3e-5 on the 0..255 scale, i.e. about 1e-6 dB of PSNR.
"""

from __future__ import annotations

import math

import numpy as np
import torch

try:  # a dependency of scikit-image, so normally present; NumPy fallback otherwise
    from scipy import ndimage as _ndimage
except ImportError:  # pragma: no cover
    _ndimage = None

from srprune.errors import UserError

__all__ = ["SSIM_WINDOW", "gaussian_window", "psnr", "rgb_to_y", "ssim", "tensor_to_uint8"]

SSIM_WINDOW = 11
"""Side of the square SSIM window in pixels; images must be at least this large after cropping."""

_SSIM_SIGMA = 1.5
_C1 = (0.01 * 255.0) ** 2
_C2 = (0.03 * 255.0) ** 2
# MATLAB rgb2ycbcr luma weights for RGB on [0, 1]; Y lands on [16, 235].
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = _SSIM_SIGMA) -> np.ndarray:
    """1-D normalised Gaussian kernel, the same values as ``cv2.getGaussianKernel(size, sigma)``.

    Args:
        size: Number of taps (odd).
        sigma: Standard deviation in pixels (> 0).

    Returns:
        float64 array of shape ``(size,)`` summing to 1.
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


_KERNEL = gaussian_window()


def tensor_to_uint8(t: torch.Tensor) -> np.ndarray:
    """Convert one RGB image tensor in [0, 1] to the uint8 image that metrics are computed on.

    Matches BasicSR's ``tensor2img``: float32, clamp to [0, 1], multiply by 255, round half to
    even, cast to uint8.

    Args:
        t: Float tensor of shape ``(3, H, W)`` (any device, any float dtype).

    Returns:
        uint8 array of shape ``(H, W, 3)``, RGB.
    """
    if not isinstance(t, torch.Tensor):
        raise UserError(f"expected a torch.Tensor image, got {type(t).__name__}")
    if t.dim() != 3 or t.shape[0] != 3:
        raise UserError(f"expected an RGB image tensor of shape (3, H, W), got {tuple(t.shape)}")
    x = t.detach().to(device="cpu", dtype=torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise UserError("image tensor contains NaN or infinite values (did the model diverge?)")
    arr = x.clamp(0.0, 1.0).permute(1, 2, 0).numpy()
    return (arr * np.float32(255.0)).round().astype(np.uint8)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma of an RGB image on the 0..255 scale, MATLAB BT.601 (``rgb2ycbcr``), not rounded.

    ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for R, G, B on 0..255.

    Args:
        img: Array of shape ``(..., 3)`` with values on the 0..255 scale, uint8 or float (a float
            image is *not* assumed to be on [0, 1]).

    Returns:
        float64 array of shape ``img.shape[:-1]`` with values in [16, 235] for inputs in range.
    """
    arr = np.asarray(img)
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise UserError(f"Y conversion needs an RGB image with 3 channels last, got {arr.shape}")
    rgb = arr.astype(np.float64) / 255.0
    return (rgb @ _Y_WEIGHTS) + 16.0


def _prepare(
    img: np.ndarray, ref: np.ndarray, crop_border: int, test_y: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Validate, crop, optionally convert to Y; return float64 ``(H, W, C)`` pairs."""
    a, b = np.asarray(img), np.asarray(ref)
    if a.shape != b.shape:
        raise UserError(f"image shapes differ: {a.shape} vs reference {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if a.ndim != 3:
        raise UserError(f"expected an (H, W) or (H, W, C) image, got shape {a.shape}")
    if isinstance(crop_border, bool) or not isinstance(crop_border, int | np.integer):
        raise UserError(f"crop_border must be an integer, got {crop_border!r}")
    if crop_border < 0:
        raise UserError(f"crop_border must be >= 0, got {crop_border}")
    h, w = a.shape[:2]
    if 2 * crop_border >= min(h, w):
        raise UserError(f"crop_border {crop_border} leaves nothing of a {h}x{w} image")
    if crop_border:
        c = crop_border
        a, b = a[c:-c, c:-c], b[c:-c, c:-c]
    if test_y:
        if a.shape[2] != 3:
            raise UserError(f"test_y needs RGB images (3 channels), got {a.shape[2]}")
        return rgb_to_y(a)[..., None], rgb_to_y(b)[..., None]
    return a.astype(np.float64), b.astype(np.float64)


def psnr(img: np.ndarray, ref: np.ndarray, crop_border: int = 0, test_y: bool = False) -> float:
    """Peak signal-to-noise ratio in dB, BasicSR's ``calculate_psnr``.

    Args:
        img: Image on the 0..255 scale, ``(H, W, 3)`` (or ``(H, W)``), normally uint8.
        ref: Reference image of the same shape.
        crop_border: Pixels removed from each side before scoring.
        test_y: Score the MATLAB BT.601 Y channel instead of RGB.

    Returns:
        ``10 log10(255^2 / MSE)``, MSE in float64 over all remaining pixels and channels;
        ``inf`` when the images are identical (as BasicSR returns).
    """
    a, b = _prepare(img, ref, crop_border, test_y)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return float(10.0 * np.log10(255.0 * 255.0 / mse))


def _filter_valid_numpy(x: np.ndarray) -> np.ndarray:
    """Correlate the last two axes with the separable SSIM Gaussian, valid region only."""
    k = _KERNEL
    n = k.size
    h, w = x.shape[-2:]
    rows = x[..., 0 : h - n + 1, :] * k[0]
    for i in range(1, n):
        rows += x[..., i : i + h - n + 1, :] * k[i]
    out = rows[..., :, 0 : w - n + 1] * k[0]
    for j in range(1, n):
        out += rows[..., :, j : j + w - n + 1] * k[j]
    return out


def _filter_valid_scipy(x: np.ndarray) -> np.ndarray:
    """Same as :func:`_filter_valid_numpy`, about 5x faster (scipy comes with scikit-image)."""
    r = SSIM_WINDOW // 2
    rows = _ndimage.correlate1d(x, _KERNEL, axis=-2, mode="constant")[..., r:-r, :]
    return _ndimage.correlate1d(rows, _KERNEL, axis=-1, mode="constant")[..., r:-r]


_filter_valid = _filter_valid_numpy if _ndimage is None else _filter_valid_scipy


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM map of one float64 channel on the 0..255 scale (BasicSR's ``_ssim``)."""
    stats = _filter_valid(np.stack([a, b, a * a, b * b, a * b]))
    mu1, mu2 = stats[0], stats[1]
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = stats[2] - mu1_sq
    sigma2_sq = stats[3] - mu2_sq
    sigma12 = stats[4] - mu1_mu2
    num = (2.0 * mu1_mu2 + _C1) * (2.0 * sigma12 + _C2)
    den = (mu1_sq + mu2_sq + _C1) * (sigma1_sq + sigma2_sq + _C2)
    return float(np.mean(num / den))


def ssim(img: np.ndarray, ref: np.ndarray, crop_border: int = 0, test_y: bool = False) -> float:
    """Structural similarity, BasicSR's ``calculate_ssim`` (Wang et al. 2004, MATLAB-equivalent).

    Args:
        img: Image on the 0..255 scale, ``(H, W, 3)`` (or ``(H, W)``), normally uint8.
        ref: Reference image of the same shape.
        crop_border: Pixels removed from each side before scoring.
        test_y: Score the MATLAB BT.601 Y channel instead of RGB.

    Returns:
        Mean of the SSIM map over the valid region (window fully inside the image), averaged over
        channels; 1.0 for identical images.
    """
    a, b = _prepare(img, ref, crop_border, test_y)
    h, w = a.shape[:2]
    if min(h, w) < SSIM_WINDOW:
        raise UserError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} after cropping, got {h}x{w}"
        )
    per_channel = [_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]
    return float(np.mean(per_channel))

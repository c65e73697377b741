"""MATLAB-compatible bicubic imresize."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from srprune.data.degrade import bicubic_downsample, cubic, imresize, mod_crop


def _keys(d: float) -> float:
    """MATLAB's cubic kernel, written piecewise."""
    d = abs(d)
    if d <= 1:
        return 1.5 * d**3 - 2.5 * d**2 + 1
    if d <= 2:
        return -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2
    return 0.0


def _mirror(j: int, n: int) -> int:
    """MATLAB 'symmetric' padding: ... x1 x0 | x0 x1 ... x(n-1) | x(n-1) x(n-2) ..."""
    while j < 0 or j >= n:
        j = -j - 1 if j < 0 else 2 * n - 1 - j
    return j


def _ref_resize_1d(x: np.ndarray, scale: float) -> np.ndarray:
    """Slow reference: for each output pixel, weight every input pixel under the kernel."""
    n = len(x)
    m = math.ceil(n * scale - 1e-9)
    width = 4.0 / scale if scale < 1 else 4.0
    out = np.zeros(m)
    for i in range(m):
        centre = (i + 0.5) / scale - 0.5  # 0-based input coordinate of output pixel i
        acc = total = 0.0
        for j in range(math.floor(centre - width / 2), math.ceil(centre + width / 2) + 1):
            d = centre - j
            w = scale * _keys(d * scale) if scale < 1 else _keys(d)
            acc += w * x[_mirror(j, n)]
            total += w
        out[i] = acc / total
    return out


def _ref_imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """(C, H, W) reference: rows (height) first, then columns."""
    c, h, w = img.shape
    tmp = np.stack([np.stack([_ref_resize_1d(img[k, :, x], scale) for x in range(w)], axis=1)
                    for k in range(c)])
    return np.stack([np.stack([_ref_resize_1d(tmp[k, y, :], scale)
                               for y in range(tmp.shape[1])]) for k in range(c)])


def test_kernel_known_values() -> None:
    x = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5, 3.0], dtype=torch.float64)
    expected = torch.tensor([1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625, 0.0],
                            dtype=torch.float64)
    torch.testing.assert_close(cubic(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 2.0, 4.0])
def test_constant_image_stays_constant(scale: float) -> None:
    img = torch.full((3, 19, 23), 0.37)
    out = imresize(img, scale)
    torch.testing.assert_close(out, torch.full_like(out, 0.37), rtol=0, atol=1e-6)


def test_downscale_x4_matches_loop_reference() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((3, 20, 28))
    ours = imresize(torch.from_numpy(img), 0.25).numpy()
    ref = _ref_imresize(img, 0.25)
    assert ours.shape == (3, 5, 7)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    ours32 = imresize(torch.from_numpy(img).float(), 0.25).numpy()
    np.testing.assert_allclose(ours32, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("scale", [1 / 3, 0.5, 2.0, 3.0])
def test_other_scales_match_loop_reference(scale: float) -> None:
    rng = np.random.default_rng(1)
    img = rng.random((1, 9, 11))
    ours = imresize(torch.from_numpy(img), scale).numpy()
    np.testing.assert_allclose(ours, _ref_imresize(img, scale), rtol=0, atol=1e-6)


def test_downscale_x4_hand_verifiable() -> None:
    # A horizontal ramp img[x] = x: the x4 antialiased kernel is symmetric around the output
    # centre 4i + 1.5, so interior outputs are exactly 4i + 1.5, and every row is the same.
    ramp = torch.arange(32, dtype=torch.float64).expand(1, 16, 32)
    out = imresize(ramp, 0.25)
    assert out.shape == (1, 4, 8)
    torch.testing.assert_close(out[0, :, 2:6], (4 * torch.arange(2, 6) + 1.5).double().expand(4, 4))
    torch.testing.assert_close(out[0], out[0, :1].expand(4, 8))
    # The 16-tap x4 kernel averages a 2-periodic pattern to its mean in the interior.
    stripes = (torch.arange(32) % 2).double().expand(1, 32, 32)
    inner = imresize(stripes, 0.25)[0, 2:6, 2:6]
    torch.testing.assert_close(inner, torch.full_like(inner, 0.5), rtol=0, atol=1e-12)


def test_batched_shapes_and_odd_sizes() -> None:
    rng = np.random.default_rng(2)
    clip = torch.from_numpy(rng.random((2, 3, 33, 47))).float()
    up = imresize(clip, 4)
    assert up.shape == (2, 3, 132, 188)
    down = imresize(clip, 0.25)
    assert down.shape == (2, 3, 9, 12)
    torch.testing.assert_close(down[1], imresize(clip[1], 0.25))
    assert imresize(torch.rand(5, 1, 3, 99, 99), 1 / 3).shape == (5, 1, 3, 33, 33)
    assert imresize(torch.rand(1, 8, 8), (0.5, 2.0)).shape == (1, 4, 16)


def test_upscale_interpolates_at_integer_positions() -> None:
    # x2 upscaling samples input coordinates 0.25, 0.75, ...: a linear ramp stays linear.
    ramp = torch.arange(12, dtype=torch.float64).expand(1, 4, 12)
    out = imresize(ramp, 2.0)[0, 0, 4:18]
    torch.testing.assert_close(out, torch.arange(4, 18, dtype=torch.float64) / 2 - 0.25)


def test_bicubic_downsample_is_quantised() -> None:
    gt = torch.rand(2, 3, 16, 24)
    lr = bicubic_downsample(gt, 4)
    assert lr.shape == (2, 3, 4, 6)
    assert lr.min() >= 0 and lr.max() <= 1
    torch.testing.assert_close(lr * 255, (lr * 255).round(), rtol=0, atol=1e-4)
    torch.testing.assert_close(lr, (imresize(gt, 0.25).clamp(0, 1) * 255).round() / 255)
    with pytest.raises(ValueError, match="multiple"):
        bicubic_downsample(torch.rand(3, 17, 24), 4)
    assert mod_crop(torch.rand(3, 17, 23), 4).shape == (3, 16, 20)


def test_rejects_integer_tensors() -> None:
    with pytest.raises(TypeError):
        imresize(torch.zeros(3, 8, 8, dtype=torch.uint8), 0.5)

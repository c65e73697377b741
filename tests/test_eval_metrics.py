"""PSNR / SSIM / Y conversion against hand-worked values and independent implementations."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import structural_similarity

from srprune.errors import UserError
from srprune.eval import metrics
from srprune.eval.metrics import gaussian_window, psnr, rgb_to_y, ssim, tensor_to_uint8


def _pair(h=37, w=53, noise=20, seed=0):
    """A random uint8 RGB image and a noisy copy (non-square to catch axis mix-ups)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, a.shape), 0, 255).astype(np.uint8)
    return a, b


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Independent single-channel SSIM: explicit 2-D window, full correlation, then valid crop."""
    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    a, b = a.astype(np.float64), b.astype(np.float64)

    def f(z):
        return ndimage.correlate(z, window, mode="reflect")[5:-5, 5:-5]

    mu_a, mu_b = f(a), f(b)
    var_a, var_b, cov = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
    c1, c2 = 6.5025, 58.5225
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    return float(np.mean(num / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))))


# --- tensor_to_uint8 -------------------------------------------------------------------------


def test_tensor_to_uint8_rounds_clamps_and_keeps_rgb_order():
    t = torch.zeros(3, 2, 4)
    t[0, 0, 0] = 1.0  # red
    t[1, 0, 1] = 0.5  # 127.5 -> 128 (round half to even, as numpy)
    t[2, 0, 2] = 1.3  # clamped to 255
    t[0, 0, 3] = -0.2  # clamped to 0
    t[1, 1, 0] = 0.4 / 255  # 0.4 -> 0
    t[1, 1, 1] = 0.6 / 255  # 0.6 -> 1
    out = tensor_to_uint8(t)
    assert out.dtype == np.uint8 and out.shape == (2, 4, 3)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1, 1] == 128 and out[0, 2, 2] == 255 and out[0, 3, 0] == 0
    assert out[1, 0, 1] == 0 and out[1, 1, 1] == 1


def test_tensor_to_uint8_matches_float32_round_trip_for_any_dtype():
    g = torch.Generator().manual_seed(0)
    t = torch.rand(3, 9, 7, generator=g, dtype=torch.float64) * 1.2 - 0.1
    expected = (t.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(tensor_to_uint8(t), expected)
    np.testing.assert_array_equal(tensor_to_uint8(t.float()), expected)


@pytest.mark.parametrize("shape", [(4, 4), (1, 3, 4, 4), (4, 4, 3), (1, 4, 4)])
def test_tensor_to_uint8_rejects_non_chw_rgb(shape):
    with pytest.raises(UserError):
        tensor_to_uint8(torch.zeros(shape))


def test_tensor_to_uint8_rejects_nan():
    t = torch.zeros(3, 2, 2)
    t[0, 0, 0] = float("nan")
    with pytest.raises(UserError, match="NaN"):
        tensor_to_uint8(t)


# --- rgb_to_y --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rgb", "y"),
    [
        ((0, 0, 0), 16.0),
        ((255, 255, 255), 235.0),  # 16 + 65.481 + 128.553 + 24.966 = 16 + 219
        ((255, 0, 0), 16.0 + 65.481),
        ((0, 255, 0), 16.0 + 128.553),
        ((0, 0, 255), 16.0 + 24.966),
        ((51, 102, 204), 16.0 + 0.2 * 65.481 + 0.4 * 128.553 + 0.8 * 24.966),
    ],
)
def test_rgb_to_y_pure_colours_by_hand(rgb, y):
    img = np.array(rgb, dtype=np.uint8).reshape(1, 1, 3)
    out = rgb_to_y(img)
    assert out.dtype == np.float64 and out.shape == (1, 1)
    assert out[0, 0] == pytest.approx(y, abs=1e-12)
    # a float image on the same 0..255 scale gives the same luma
    assert rgb_to_y(img.astype(np.float32))[0, 0] == pytest.approx(y, abs=1e-4)


def test_rgb_to_y_rejects_wrong_channel_count():
    with pytest.raises(UserError):
        rgb_to_y(np.zeros((4, 4, 4), dtype=np.uint8))


# --- PSNR ------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 5, 10, 64])
def test_psnr_constant_offset_by_hand(d):
    a = np.full((16, 12, 3), 100, dtype=np.uint8)
    b = a + np.uint8(d)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / d**2), abs=1e-10)
    # on Y an offset d in all channels is an offset d * 219 / 255 in luma
    dy = d * 219.0 / 255.0
    assert psnr(a, b, test_y=True) == pytest.approx(10 * math.log10(255**2 / dy**2), abs=1e-10)


def test_psnr_d1_literal_value():
    a = np.zeros((8, 8, 3), dtype=np.uint8)
    assert psnr(a, a + 1) == pytest.approx(48.13080360867910, abs=1e-10)


def test_psnr_mse_is_over_all_channels_not_averaged_per_channel():
    a = np.full((8, 8, 3), 50, dtype=np.uint8)
    b = a.copy()
    b[..., 1] += 6  # error only in green: MSE = 36 / 3 = 12
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 12), abs=1e-10)


def test_psnr_identical_is_inf():
    a, _ = _pair()
    assert psnr(a, a) == math.inf
    assert psnr(a, a, test_y=True) == math.inf


def test_psnr_uint8_inputs_do_not_wrap_around():
    a = np.zeros((4, 4, 3), dtype=np.uint8)
    b = np.full((4, 4, 3), 255, dtype=np.uint8)
    assert psnr(a, b) == pytest.approx(0.0, abs=1e-12)


# --- SSIM ------------------------------------------------------------------------------------


def test_gaussian_window_matches_opencv_values():
    expected = [0.00102838008, 0.00759875814, 0.03600077213, 0.10936068951, 0.21300553771,
                0.26601172486]  # fmt: skip
    g = gaussian_window()
    assert g.shape == (11,) and g.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(g[:6], expected, atol=1e-10)
    np.testing.assert_array_equal(g, g[::-1])


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_skimage_on_the_valid_region(seed):
    a, b = _pair(seed=seed)
    per_channel = []
    for c in range(3):
        _, smap = structural_similarity(
            a[..., c].astype(np.float64),
            b[..., c].astype(np.float64),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
            full=True,
        )
        # skimage pads the borders; its map agrees with BasicSR where the window fits inside
        per_channel.append(smap[5:-5, 5:-5].mean())
        assert metrics._ssim_channel(
            a[..., c].astype(np.float64), b[..., c].astype(np.float64)
        ) == pytest.approx(per_channel[-1], abs=1e-6)
    assert ssim(a, b) == pytest.approx(np.mean(per_channel), abs=1e-6)


@pytest.mark.parametrize("test_y", [False, True])
def test_ssim_matches_independent_2d_window_implementation(test_y):
    a, b = _pair(h=29, w=41, noise=40, seed=3)
    if test_y:
        ref = _ssim_reference(rgb_to_y(a), rgb_to_y(b))
    else:
        ref = np.mean([_ssim_reference(a[..., c], b[..., c]) for c in range(3)])
    assert ssim(a, b, test_y=test_y) == pytest.approx(ref, abs=1e-10)


def test_ssim_of_two_flat_images_by_hand():
    # constant images: no variance, SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1) everywhere
    m1, m2 = 100.0, 120.0
    a = np.full((16, 16, 3), m1, dtype=np.uint8)
    b = np.full((16, 16, 3), m2, dtype=np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * m1 * m2 + c1) / (m1**2 + m2**2 + c1), abs=1e-12)


def test_ssim_identity_is_one_and_noise_lowers_it():
    a, b = _pair()
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, a, test_y=True) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, b) < 0.99


def test_numpy_and_scipy_filters_agree():
    rng = np.random.default_rng(5)
    x = rng.random((5, 23, 31)) * 255
    np.testing.assert_allclose(
        metrics._filter_valid_numpy(x), metrics._filter_valid_scipy(x), rtol=0, atol=1e-10
    )


def test_ssim_needs_an_11x11_image_after_cropping():
    a = np.zeros((11, 11, 3), dtype=np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    with pytest.raises(UserError, match="11x11"):
        ssim(a, a, crop_border=1)


# --- Y vs RGB and crop border ----------------------------------------------------------------


def test_y_scoring_equals_scoring_the_luma_planes():
    a, b = _pair(seed=7)
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    assert psnr(a, b, test_y=True) == pytest.approx(psnr(ya, yb), abs=1e-12)
    assert ssim(a, b, test_y=True) == pytest.approx(ssim(ya, yb), abs=1e-12)
    assert psnr(a, b, test_y=True) != pytest.approx(psnr(a, b), abs=1e-3)
    assert ssim(a, b, test_y=True) != pytest.approx(ssim(a, b), abs=1e-4)


@pytest.mark.parametrize("test_y", [False, True])
def test_crop_border_equals_slicing_first(test_y):
    a, b = _pair(seed=2)
    c = 4
    ac, bc = a[c:-c, c:-c], b[c:-c, c:-c]
    assert psnr(a, b, crop_border=c, test_y=test_y) == psnr(ac, bc, test_y=test_y)
    assert ssim(a, b, crop_border=c, test_y=test_y) == ssim(ac, bc, test_y=test_y)


def test_crop_border_hides_errors_in_the_border():
    a = np.full((30, 30, 3), 128, dtype=np.uint8)
    b = a.copy()
    b[:3] = 0
    b[:, -2:] = 255
    assert psnr(a, b, crop_border=3) == math.inf
    assert math.isfinite(psnr(a, b, crop_border=2))
    assert ssim(a, b, crop_border=3) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, b, crop_border=0) < 1.0


# --- user mistakes ---------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [psnr, ssim])
def test_shape_mismatch_and_bad_crop_are_user_errors(fn):
    a, _ = _pair(h=20, w=20)
    with pytest.raises(UserError, match="shapes differ"):
        fn(a, a[:-1])
    with pytest.raises(UserError, match=">= 0"):
        fn(a, a, crop_border=-1)
    with pytest.raises(UserError, match="leaves nothing"):
        fn(a, a, crop_border=10)
    with pytest.raises(UserError, match="integer"):
        fn(a, a, crop_border=1.5)
    with pytest.raises(UserError, match="RGB"):
        fn(a[..., 0], a[..., 0], test_y=True)

"""Clip scoring (uint8 rounding, centre frame, crop, Y) and per-clip-then-over-clips averaging."""

import json
import math

import pytest
import torch

from srprune.errors import UserError
from srprune.eval.conventions import MetricConvention, convention_for
from srprune.eval.metrics import psnr, ssim, tensor_to_uint8
from srprune.eval.scores import ScoreBook, frames_to_score, score_clip


def _clip(t=7, h=24, w=20, seed=0):
    """A clip on the uint8 grid, so uint8 rounding reproduces it exactly."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, 3, h, w), generator=g).float() / 255


def _noisy(x, seed=1, amp=0.05):
    g = torch.Generator().manual_seed(seed)
    return (x + amp * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_frames_to_score():
    assert frames_to_score(7, convention_for("vimeo", 4)) == [3]
    assert frames_to_score(1, convention_for("vimeo", 4)) == [0]
    assert frames_to_score(4, convention_for("vid4", 4)) == [0, 1, 2, 3]


def test_centre_frame_only_scores_frame_t_over_2():
    gt = _clip()
    sr = _noisy(gt)
    sr[3] = gt[3]
    assert score_clip(sr, gt, convention_for("vimeo", 4)) == [(math.inf, pytest.approx(1.0))]
    scores = score_clip(sr, gt, convention_for("vid4", 4))
    assert len(scores) == 7 and scores[3][0] == math.inf
    assert all(math.isfinite(p) for i, (p, _) in enumerate(scores) if i != 3)


def test_scores_are_on_uint8_rounded_images():
    gt = _clip(t=2)
    sr = gt + 0.4 / 255  # rounds back onto the same uint8 values
    assert [p for p, _ in score_clip(sr, gt, convention_for("reds4", 4))] == [math.inf] * 2
    sr = gt + 0.6 / 255  # rounds one level up wherever not clamped
    assert all(math.isfinite(p) for p, _ in score_clip(sr, gt, convention_for("reds4", 4)))


@pytest.mark.parametrize("layout", ["reds4", "vid4", "sisr"])
def test_score_clip_equals_metrics_on_uint8_frames(layout):
    conv = convention_for(layout, 2)
    gt = _clip(t=3)
    sr = _noisy(gt)
    for t, (p, s) in enumerate(score_clip(sr, gt, conv)):
        a, b = tensor_to_uint8(sr[t]), tensor_to_uint8(gt[t])
        assert p == psnr(a, b, conv.crop_border, conv.test_y)
        assert s == ssim(a, b, conv.crop_border, conv.test_y)


def test_sisr_crop_ignores_the_border_and_accepts_a_single_image():
    gt = _clip(t=1)[0]
    sr = gt.clone()
    sr[:, :4] = 0.0
    sr[:, :, -4:] = 1.0
    assert score_clip(sr, gt, convention_for("sisr", 4)) == [(math.inf, pytest.approx(1.0))]
    assert math.isfinite(score_clip(sr, gt, convention_for("sisr", 2))[0][0])


def test_y_and_rgb_give_different_scores():
    gt = _clip(t=1)
    sr = _noisy(gt)
    rgb = MetricConvention(test_y=False, crop_border=0, centre_frame_only=False)
    y = MetricConvention(test_y=True, crop_border=0, centre_frame_only=False)
    assert score_clip(sr, gt, rgb)[0][0] != pytest.approx(score_clip(sr, gt, y)[0][0], abs=1e-3)


def test_score_clip_user_errors():
    conv = convention_for("reds4", 4)
    gt = _clip(t=2)
    with pytest.raises(UserError, match="does not match"):
        score_clip(gt[:, :, :-1], gt, conv)
    with pytest.raises(UserError, match="does not match"):
        score_clip(gt[:1], gt, conv)
    with pytest.raises(UserError, match=r"\(T, 3, H, W\)"):
        score_clip(gt[:, :1], gt[:, :1], conv)
    with pytest.raises(UserError, match="torch.Tensor"):
        score_clip(gt.numpy(), gt, conv)


def test_scorebook_averages_per_clip_first_then_over_clips():
    book = ScoreBook()
    book.add("a", 0, 30.0, 0.80)
    book.add("a", 1, 32.0, 0.90)
    book.add("a", 2, 34.0, 0.70)
    book.add("b", 0, 40.0, 0.95)
    assert book.per_clip() == {"a": (32.0, pytest.approx(0.8)), "b": (40.0, 0.95)}
    p, s = book.mean()
    assert p == pytest.approx(36.0)  # not the frame average 34.0
    assert s == pytest.approx(0.875)
    assert len(book) == 2


def test_scorebook_errors():
    book = ScoreBook()
    with pytest.raises(UserError, match="no scores"):
        book.mean()
    book.add("a", 0, 30.0, 0.8)
    with pytest.raises(UserError, match="twice"):
        book.add("a", 0, 31.0, 0.8)


def test_scorebook_to_dict_is_strict_json_and_round_trips():
    conv = convention_for("vimeo", 4, flip_ensemble=True)
    book = ScoreBook(conv)
    book.add("s1", 3, math.inf, 1.0)
    book.add("s2", 3, 30.0, 0.9)
    d = book.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["psnr"] == "inf" and d["ssim"] == pytest.approx(0.95)
    assert d["num_clips"] == 2 and d["convention"] == conv.to_dict()
    assert d["clips"]["s2"] == {"psnr": 30.0, "ssim": 0.9, "frames": [[3, 30.0, 0.9]]}
    again = ScoreBook.from_dict(json.loads(text))
    assert again.convention == conv
    assert again.per_clip() == book.per_clip()
    with pytest.raises(UserError, match="ScoreBook"):
        ScoreBook.from_dict({"clips": {"x": {}}})


def test_empty_scorebook_to_dict():
    assert ScoreBook().to_dict() == {"convention": None, "num_clips": 0, "clips": {}}


def test_add_clip_records_the_scored_frame_indices():
    gt = _clip()
    sr = _noisy(gt)
    book = ScoreBook()
    vimeo = convention_for("vimeo", 4)
    scores = book.add_clip("00001/0001", sr, gt, vimeo)
    assert len(scores) == 1
    assert book.to_dict()["clips"]["00001/0001"]["frames"][0][0] == 3
    book.add_clip("img", sr[0], gt[0], convention_for("sisr", 4))
    assert [f[0] for f in book.to_dict()["clips"]["img"]["frames"]] == [0]
    assert book.mean()[0] == pytest.approx((scores[0][0] + book.per_clip()["img"][0]) / 2)

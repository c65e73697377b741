"""Per-dataset scoring conventions."""

import dataclasses

import pytest

from srprune.errors import UserError
from srprune.eval.conventions import LAYOUTS, MetricConvention, convention_for


@pytest.mark.parametrize(
    ("layout", "test_y", "crop", "centre"),
    [
        ("reds4", False, 0, False),
        ("reds", False, 0, False),
        ("vid4", True, 0, False),
        ("vimeo", True, 0, True),
        ("frames", False, 0, False),
        ("sisr", True, 4, False),
    ],
)
def test_table(layout, test_y, crop, centre):
    conv = convention_for(layout, scale=4)
    assert conv == MetricConvention(
        test_y=test_y, crop_border=crop, centre_frame_only=centre, flip_ensemble=False
    )
    assert layout in LAYOUTS


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sisr_crop_equals_scale_and_video_sets_do_not_crop(scale):
    assert convention_for("sisr", scale).crop_border == scale
    assert convention_for("vid4", scale).crop_border == 0


def test_overrides():
    conv = convention_for("vid4", 4, flip_ensemble=True, test_y=False, crop_border=8)
    assert conv == MetricConvention(False, 8, False, True)
    assert convention_for("reds4", 4, test_y=True).test_y
    assert convention_for("sisr", 4, crop_border=0).crop_border == 0
    assert convention_for("VIMEO", 4).centre_frame_only


def test_unknown_layout_lists_valid_ones():
    with pytest.raises(UserError) as err:
        convention_for("div2k", 4)
    msg = str(err.value)
    assert "div2k" in msg and all(name in msg for name in LAYOUTS)


@pytest.mark.parametrize("scale", [0, -2, 2.0, True])
def test_bad_scale(scale):
    with pytest.raises(UserError, match="scale"):
        convention_for("sisr", scale)


def test_bad_crop_override():
    with pytest.raises(UserError, match="crop_border"):
        convention_for("vid4", 4, crop_border=-1)


def test_frozen_and_serialisable():
    conv = convention_for("vimeo", 4, flip_ensemble=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        conv.test_y = False  # type: ignore[misc]
    assert MetricConvention(**conv.to_dict()) == conv
    assert conv.describe() == "Y, crop 0, centre frame, temporal-flip ensemble"
    assert convention_for("reds4", 4).describe() == "RGB, crop 0, all frames"

"""How each test set is scored: colour space, border crop, frames scored, self-ensemble.

The table follows the BasicSR / SSL test configs (REFERENCE.md section 5):

========  =====  ===========  =====================
layout    space  crop border  frames scored
========  =====  ===========  =====================
reds4     RGB    0            all
vid4      Y      0            all
vimeo     Y      0            centre (index T // 2)
frames    RGB    0            all
sisr      Y      scale        the single image
========  =====  ===========  =====================

``reds`` is accepted as an alias of ``reds4``. Temporal-flip self-ensemble is off unless asked
for; note that the official SSL test configs switch it on for Vid4 and Vimeo-90K-T, so pass
``flip_ensemble=True`` when comparing with the paper's numbers on those sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from srprune.errors import UserError

__all__ = ["LAYOUTS", "MetricConvention", "convention_for"]


@dataclass(frozen=True)
class MetricConvention:
    """How SR outputs are compared with ground truth.

    Attributes:
        test_y: Score the MATLAB BT.601 Y channel instead of RGB.
        crop_border: Pixels removed from each side before scoring.
        centre_frame_only: Score only frame ``T // 2`` of each clip (Vimeo-90K-T).
        flip_ensemble: Average the model's output with its output on the time-reversed clip.
    """

    test_y: bool
    crop_border: int
    centre_frame_only: bool
    flip_ensemble: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.crop_border, bool) or not isinstance(self.crop_border, int):
            raise UserError(f"crop_border must be an integer, got {self.crop_border!r}")
        if self.crop_border < 0:
            raise UserError(f"crop_border must be >= 0, got {self.crop_border}")

    def describe(self) -> str:
        """One human-readable line, e.g. ``"Y, crop 4, all frames"``."""
        parts = [
            "Y" if self.test_y else "RGB",
            f"crop {self.crop_border}",
            "centre frame" if self.centre_frame_only else "all frames",
        ]
        if self.flip_ensemble:
            parts.append("temporal-flip ensemble")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, bool | int]:
        """JSON-ready fields."""
        return {
            "test_y": self.test_y,
            "crop_border": self.crop_border,
            "centre_frame_only": self.centre_frame_only,
            "flip_ensemble": self.flip_ensemble,
        }


# layout -> (test_y, crop border equals scale, centre_frame_only)
_TABLE: dict[str, tuple[bool, bool, bool]] = {
    "reds4": (False, False, False),
    "reds": (False, False, False),
    "vid4": (True, False, False),
    "vimeo": (True, False, True),
    "frames": (False, False, False),
    "sisr": (True, True, False),
}

LAYOUTS: tuple[str, ...] = tuple(_TABLE)
"""Layout names :func:`convention_for` knows."""


def convention_for(
    layout: str,
    scale: int,
    flip_ensemble: bool = False,
    test_y: bool | None = None,
    crop_border: int | None = None,
) -> MetricConvention:
    """The scoring convention of a dataset layout, with optional overrides.

    Args:
        layout: One of :data:`LAYOUTS` (case-insensitive).
        scale: Upscaling factor (>= 1); the SISR crop border equals it.
        flip_ensemble: Use temporal-flip self-ensemble.
        test_y: Override the colour space (``True`` = Y, ``False`` = RGB); ``None`` keeps the
            layout's default.
        crop_border: Override the border crop; ``None`` keeps the layout's default.

    Returns:
        The frozen :class:`MetricConvention`.
    """
    key = str(layout).lower()
    if key not in _TABLE:
        raise UserError(f"unknown dataset layout {layout!r}; valid layouts: {', '.join(LAYOUTS)}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise UserError(f"scale must be a positive integer, got {scale!r}")
    default_y, crop_is_scale, centre = _TABLE[key]
    return MetricConvention(
        test_y=default_y if test_y is None else bool(test_y),
        crop_border=(scale if crop_is_scale else 0) if crop_border is None else crop_border,
        centre_frame_only=centre,
        flip_ensemble=bool(flip_ensemble),
    )

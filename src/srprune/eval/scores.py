"""Per-frame scoring of clips and aggregation "average per clip first, then over clips"."""

from __future__ import annotations

import math
from typing import Any

import torch

from srprune.errors import UserError
from srprune.eval.conventions import MetricConvention
from srprune.eval.metrics import psnr, ssim, tensor_to_uint8

__all__ = ["ScoreBook", "frames_to_score", "score_clip"]


def frames_to_score(num_frames: int, conv: MetricConvention) -> list[int]:
    """Indices of the frames a clip of ``num_frames`` frames is scored on.

    Args:
        num_frames: Frames in the clip (>= 1).
        conv: Scoring convention.

    Returns:
        ``[num_frames // 2]`` when ``conv.centre_frame_only`` (index 3 of Vimeo's 7), else all.
    """
    if num_frames < 1:
        raise UserError("a clip needs at least one frame")
    return [num_frames // 2] if conv.centre_frame_only else list(range(num_frames))


def _as_clip(x: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise UserError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] != 3:
        raise UserError(f"{what} must have shape (T, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    return x


def score_clip(
    sr: torch.Tensor, gt: torch.Tensor, conv: MetricConvention
) -> list[tuple[float, float]]:
    """PSNR and SSIM of the scored frames of one clip.

    Each frame is rounded to uint8 first, then cropped and (if ``conv.test_y``) converted to Y.

    Args:
        sr: Super-resolved clip, float in [0, 1], ``(T, 3, H, W)``; a single image ``(3, H, W)``
            counts as one frame.
        gt: Ground truth, same shape.
        conv: Scoring convention.

    Returns:
        ``(psnr, ssim)`` per scored frame, in the order of :func:`frames_to_score`.
    """
    sr, gt = _as_clip(sr, "SR output"), _as_clip(gt, "ground truth")
    if sr.shape != gt.shape:
        raise UserError(
            f"SR output shape {tuple(sr.shape)} does not match ground truth {tuple(gt.shape)}"
        )
    out = []
    for t in frames_to_score(sr.shape[0], conv):
        a, b = tensor_to_uint8(sr[t]), tensor_to_uint8(gt[t])
        out.append(
            (
                psnr(a, b, conv.crop_border, conv.test_y),
                ssim(a, b, conv.crop_border, conv.test_y),
            )
        )
    return out


def _json_float(x: float) -> float | str:
    # Strict JSON has no infinity; identical frames give PSNR = inf.
    return x if math.isfinite(x) else str(x)


class ScoreBook:
    """Collects per-frame scores and averages per clip first, then over clips.

    Args:
        convention: Recorded in :meth:`to_dict` so a results file says how it was scored.
    """

    def __init__(self, convention: MetricConvention | None = None) -> None:
        self.convention = convention
        self._frames: dict[str, dict[int, tuple[float, float]]] = {}

    def add(self, clip_name: str, frame_index: int, psnr: float, ssim: float) -> None:
        """Record the scores of one frame.

        Args:
            clip_name: Clip (folder / sequence) the frame belongs to.
            frame_index: Index of the frame in its clip.
            psnr: PSNR in dB (may be ``inf``).
            ssim: SSIM.
        """
        frames = self._frames.setdefault(str(clip_name), {})
        idx = int(frame_index)
        if idx in frames:
            raise UserError(f"frame {idx} of clip {clip_name!r} was scored twice")
        frames[idx] = (float(psnr), float(ssim))

    def add_clip(
        self, clip_name: str, sr: torch.Tensor, gt: torch.Tensor, conv: MetricConvention
    ) -> list[tuple[float, float]]:
        """Score a clip with :func:`score_clip` and record each scored frame.

        Args:
            clip_name: Clip name.
            sr: Super-resolved clip ``(T, 3, H, W)`` or image ``(3, H, W)``.
            gt: Ground truth of the same shape.
            conv: Scoring convention.

        Returns:
            The ``(psnr, ssim)`` pairs, as :func:`score_clip` returns them.
        """
        scores = score_clip(sr, gt, conv)
        num_frames = sr.shape[0] if sr.dim() == 4 else 1
        for t, (p, s) in zip(frames_to_score(num_frames, conv), scores, strict=True):
            self.add(clip_name, t, p, s)
        return scores

    def __len__(self) -> int:
        return len(self._frames)

    def per_clip(self) -> dict[str, tuple[float, float]]:
        """Mean ``(psnr, ssim)`` of each clip over its frames, in the order clips were added."""
        out = {}
        for name, frames in self._frames.items():
            vals = list(frames.values())
            out[name] = (
                math.fsum(p for p, _ in vals) / len(vals),
                math.fsum(s for _, s in vals) / len(vals),
            )
        return out

    def mean(self) -> tuple[float, float]:
        """Mean ``(psnr, ssim)`` over clips of the per-clip means."""
        clips = self.per_clip()
        if not clips:
            raise UserError("no scores recorded")
        return (
            math.fsum(p for p, _ in clips.values()) / len(clips),
            math.fsum(s for _, s in clips.values()) / len(clips),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: convention, overall mean, per-clip means and per-frame scores.

        Non-finite PSNR (identical images) is written as the string ``"inf"``.
        """
        clips = {}
        for name, (p, s) in self.per_clip().items():
            frames = sorted(self._frames[name].items())
            clips[name] = {
                "psnr": _json_float(p),
                "ssim": s,
                "frames": [[t, _json_float(fp), fs] for t, (fp, fs) in frames],
            }
        result: dict[str, Any] = {
            "convention": None if self.convention is None else self.convention.to_dict(),
            "num_clips": len(clips),
            "clips": clips,
        }
        if clips:
            p, s = self.mean()
            result["psnr"], result["ssim"] = _json_float(p), s
        return result

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreBook:
        """Rebuild a book from :meth:`to_dict` output (per-frame scores are what count).

        Args:
            data: A dict as written by :meth:`to_dict`.

        Returns:
            A new :class:`ScoreBook`.
        """
        conv = data.get("convention")
        book = cls(MetricConvention(**conv) if conv else None)
        try:
            for name, clip in data["clips"].items():
                for t, p, s in clip["frames"]:
                    book.add(name, int(t), float(p), float(s))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"not a ScoreBook dict: {e}") from e
        return book

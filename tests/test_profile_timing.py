"""The interleaved timing helpers: what they time, how often, and per how many frames."""

from __future__ import annotations

import time

import torch
from torch import nn

from srprune.models.registry import TINY, build_model
from srprune.profile import latency_side_by_side, time_interleaved


def test_time_interleaved_rounds_order_and_per_item_counts() -> None:
    order: list[str] = []

    def call(name: str, seconds: float):
        def run() -> None:
            order.append(name)
            assert torch.is_inference_mode_enabled()
            time.sleep(seconds)
        return run

    runs = time_interleaved({"a": call("a", 0.02), "b": call("b", 0.0)}, warmup=1, repeats=3,
                            per={"a": 4, "b": 1})
    assert order == ["a", "b"] * 4  # one warm-up round, then three, always in turn
    assert [len(v) for v in runs.values()] == [3, 3]
    assert all(3.0 <= ms <= 50.0 for ms in runs["a"])  # 20+ ms over 4 items
    assert max(runs["b"]) < min(runs["a"]) * 4


class Sleeper(nn.Module):
    """Takes ``seconds`` per call and records the input shape; ``is_video`` as given."""

    def __init__(self, seconds: float, video: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.seconds, self.is_video, self.shapes = seconds, video, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        time.sleep(self.seconds)
        return x


def test_latency_side_by_side_times_video_per_frame_and_images_whole() -> None:
    video, image = Sleeper(0.03, video=True), Sleeper(0.03, video=False)
    runs = latency_side_by_side({"video": video, "image": image}, (8, 12), 3, warmup=1,
                                repeats=2)
    assert video.shapes == [(1, 3, 3, 8, 12)] * 3 and image.shapes == [(1, 3, 8, 12)] * 3
    assert all(len(v) == 2 for v in runs.values())
    assert all(10.0 <= ms < 25.0 for ms in runs["video"])  # 30 ms over 3 frames
    assert all(30.0 <= ms < 75.0 for ms in runs["image"])
    assert video.conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_latency_side_by_side_runs_real_models() -> None:
    torch.manual_seed(0)
    models = {k: build_model(TINY[k]).eval() for k in ("basicvsr", "edsr")}
    runs = latency_side_by_side(models, (16, 16), 2, warmup=0, repeats=2)
    assert all(len(v) == 2 and all(ms > 0 for ms in v) for v in runs.values())

"""The capability protocols (models/contract.py) and a streaming cell of any shape.

A toy causal video model defined here carries two states of different widths and needs two
previous frames; its ONNX cell, run frame by frame by the ONNX runner, equals its own stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srprune.export.metadata import ExportInfo
from srprune.export.onnx_writer import export_onnx
from srprune.export.runtime import ExportedModel
from srprune.infer.onnx_runner import exported_frames
from srprune.models.blocks import ResidualBlock
from srprune.models.contract import (
    CellSpec,
    CellState,
    RSCBlock,
    SRModel,
    VideoSRModel,
    declared_hidden,
    members,
    require,
)
from srprune.models.registry import build_model, create_model, tiny_configs


@dataclass(frozen=True, kw_only=True)
class ToyConfig:
    arch: str = "toy"
    scale: int = 2


class ToyCell(nn.Module):
    def __init__(self, model: ToyVideo) -> None:
        super().__init__()
        self.model = model

    def forward(self, lr: torch.Tensor, prev: torch.Tensor, prev2: torch.Tensor,
                fast: torch.Tensor, slow: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.step(lr, prev, prev2, fast, slow)


class ToyVideo(nn.Module):
    """Causal x2 video model: a 4-wide and a 2-wide state, reads the two frames before."""

    is_video = True
    causal = True
    flow_net = None
    hidden_states: dict[str, str | None] = {"fast": None, "slow": None}

    def __init__(self, config: ToyConfig | None = None) -> None:
        super().__init__()
        self.config = config or ToyConfig()
        self.a = nn.Conv2d(9 + 4, 4, 3, 1, 1)
        self.b = nn.Conv2d(4 + 2, 2, 3, 1, 1)
        self.out = nn.Conv2d(6, 12, 3, 1, 1)

    def step(self, lr: torch.Tensor, prev: torch.Tensor, prev2: torch.Tensor,
             fast: torch.Tensor, slow: torch.Tensor) -> tuple[torch.Tensor, ...]:
        fast = torch.relu(self.a(torch.cat([lr, prev, prev2, fast], 1)))
        slow = torch.tanh(self.b(torch.cat([fast, slow], 1)))
        sr = F.pixel_shuffle(self.out(torch.cat([fast, slow], 1)), 2)
        return sr + F.interpolate(lr, scale_factor=2, mode="nearest"), fast, slow

    def stream(self, frames: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        prev: list[torch.Tensor] = []
        for lr in frames:
            if not prev:
                prev = [lr, lr]
                fast = lr.new_zeros(lr.shape[0], 4, *lr.shape[-2:])
                slow = lr.new_zeros(lr.shape[0], 2, *lr.shape[-2:])
            sr, fast, slow = self.step(lr, prev[0], prev[1], fast, slow)
            prev = [lr, prev[0]]
            yield sr

    def forward(self, lrs: torch.Tensor, return_hidden: bool | str = False) -> torch.Tensor:
        return torch.stack(list(self.stream(lrs.unbind(1))), 1)

    def cell_spec(self) -> CellSpec:
        return CellSpec((CellState("fast", 4), CellState("slow", 2)), previous_frames=2)

    def export_module(self, kind: str, frames: int = 0) -> nn.Module:
        return ToyCell(self)

    def image_ports(self) -> tuple:
        return ()

    def precision_roles(self) -> dict:
        return {}

    def channel_groups(self, residual: str = "rsc") -> list:
        return []


def test_require_names_what_is_missing() -> None:
    image = create_model("edsr-1-8")
    assert require(image) is image
    with pytest.raises(TypeError, match=r"EDSR does not satisfy srprune's VideoSRModel contract "
                                        r"\(missing: hidden_states, stream, cell_spec, "
                                        r"export_module\)"):
        require(image, VideoSRModel)
    with pytest.raises(TypeError, match=r"RSCBlock contract \(missing: rsc_buffers"):
        require(nn.Conv2d(1, 1, 1), RSCBlock)
    with pytest.raises(TypeError, match=r"SRModel contract \(missing: config, is_video"):
        require(nn.Conv2d(1, 1, 1))
    video = create_model("basicvsr-uni-8-1")
    assert require(video, VideoSRModel) is video
    assert require(ResidualBlock(4), RSCBlock) is not None
    assert "cell_spec" in members(VideoSRModel) and "config" in members(VideoSRModel)
    assert "hidden_states" not in members(SRModel)


@pytest.mark.parametrize("name", sorted(tiny_configs()))
def test_every_registered_model_satisfies_its_capabilities(name: str) -> None:
    model = build_model(tiny_configs()[name])
    require(model, VideoSRModel if model.is_video else SRModel)
    if model.is_video and not model.causal:
        with pytest.raises(ValueError):
            model.cell_spec()


def test_hidden_states_are_a_video_capability() -> None:
    assert declared_hidden(create_model("edsr-1-8")) == {}
    assert set(declared_hidden(create_model("basicvsr-8-1"))) == {"backward", "forward"}


def test_basicvsr_declares_its_cell() -> None:
    spec = create_model("basicvsr-uni-8-1").cell_spec()
    assert spec.input_names() == ["lr", "prev_lr", "hidden"]
    assert spec.output_names() == ["sr", "new_hidden"]
    with pytest.raises(ValueError):
        create_model("basicvsr-8-1").cell_spec()


def test_cell_spec_round_trips_and_names_older_frames() -> None:
    spec = ToyVideo().cell_spec()
    assert CellSpec.from_dict(spec.to_dict()) == spec
    assert spec.input_names() == ["lr", "prev_lr", "prev_lr_2", "fast", "slow"]
    assert spec.output_names() == ["sr", "new_fast", "new_slow"]
    with pytest.raises(ValueError):
        CellSpec.from_dict({"states": [["x", 0]], "previous_frames": 1})


def test_metadata_of_files_before_the_cell_entry_still_reads() -> None:
    from srprune.models.registry import config_to_dict, create_model

    config = config_to_dict(create_model("basicvsr-uni-8-1").config)  # checked when read
    info = ExportInfo(kind="stream", scale=4, lr_size=None, frames=0,
                      cell=CellSpec((CellState("hidden", 8),), 1), opset=18, config=config,
                      structure={"convs": {}, "index": {}})
    props = info.to_props("0")
    assert props["hidden_channels"] == "8"
    old = {k: v for k, v in props.items() if k != "cell"}
    assert ExportInfo.from_props(old, "old.onnx") == info


def test_a_cell_with_two_states_and_two_previous_frames_exports_and_streams(
        tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    import srprune.export.metadata as metadata

    # the toy is no registered architecture, so the reader's config check (tests/
    # test_robust_metadata.py) is given the toy itself; the graph checks still run
    monkeypatch.setattr(metadata, "_model_of", lambda info: ToyVideo())
    torch.manual_seed(0)
    model = ToyVideo().eval()
    path = tmp_path / "toy.onnx"
    info = export_onnx(model, path, (8, 10))
    assert info.kind == "stream" and info.cell == model.cell_spec()
    runner = ExportedModel(path)
    assert runner.info.cell == model.cell_spec()
    g = torch.Generator().manual_seed(1)
    clip = [(torch.rand(8, 10, 3, generator=g) * 255).round().byte().numpy() for _ in range(5)]
    got = np.stack(list(exported_frames(runner, iter(clip))))
    lrs = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip])
    with torch.no_grad():
        ref = torch.cat(list(model.stream(lrs.unsqueeze(1).unbind(0)))).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)

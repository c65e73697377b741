"""Exported files without export: the streaming cell and window schedule in PyTorch, and the
one-line refusals (missing runtime, opset, foreign file)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from srprune.cli import main
from srprune.errors import UserError
from srprune.export.metadata import ExportInfo
from srprune.infer.onnx_runner import window_frames
from srprune.models.registry import create_model
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.surgery import remove_units


@pytest.mark.parametrize("mode", ["dense", "rsc", "coupled"])
def test_streaming_cell_in_pytorch_equals_forward(mode: str) -> None:
    torch.manual_seed(0)
    model = create_model("basicvsr-uni-8-2").eval()
    if mode != "dense":
        groups = model.channel_groups(mode)
        remove_units(model, groups, select_units(groups, score_groups(model, groups), 0.5))
    clip = torch.rand(1, 5, 3, 13, 17)
    cell = model.export_module("stream")
    hidden = torch.zeros(1, model.cell_spec().states[0].channels, 13, 17)
    prev = clip[:, 0]
    outs = []
    with torch.no_grad():
        for t in range(clip.shape[1]):
            sr, hidden = cell(clip[:, t], prev, hidden)
            prev = clip[:, t]
            outs.append(sr)
        ref = model(clip)
    torch.testing.assert_close(torch.stack(outs, 1), ref, atol=1e-5, rtol=1e-5)


def test_contract_flags() -> None:
    assert create_model("basicvsr-uni-8-1").causal
    assert not create_model("basicvsr-8-1").causal
    assert create_model("edsr-1-8").causal and create_model("esrb-1-8").causal
    with pytest.raises(ValueError):
        create_model("basicvsr-8-1").export_module("stream")


class _TorchWindow:
    """Stands in for an exported window file: runs the PyTorch model on exactly T frames."""

    def __init__(self, model: torch.nn.Module, t: int) -> None:
        self.model = model
        self.info = ExportInfo(kind="window", scale=4, lr_size=None, frames=t, cell=None,
                               opset=18, config={}, structure={})
        self.calls: list[int] = []

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        x = torch.from_numpy(inputs[0])
        self.calls.append(x.shape[1])
        with torch.no_grad():
            return [self.model(x).numpy()]


@pytest.mark.parametrize(("n", "t", "overlap"), [(9, 4, 1), (3, 4, 1), (4, 4, 0), (11, 5, 2)])
def test_window_schedule_covers_every_frame_with_full_windows(n: int, t: int, overlap: int
                                                              ) -> None:
    torch.manual_seed(0)
    model = create_model("basicvsr-8-1").eval()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (8, 9, 3), dtype=np.uint8) for _ in range(n)]
    runner = _TorchWindow(model, t)
    out = list(window_frames(runner, iter(frames), overlap))
    assert len(out) == n and set(runner.calls) == {t}
    if n >= t:  # the first window's leading frames are exactly the model on frames 0..T-1
        first = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255
                             for f in frames[:t]])[None]
        with torch.no_grad():
            ref = model(first)[0].numpy()
        np.testing.assert_allclose(np.stack(out[:t - overlap]), ref[:t - overlap], atol=1e-6)


def _exported_edsr(tmp_path: Path) -> Path:
    from srprune.export.onnx_writer import export_onnx

    path = tmp_path / "e.onnx"
    export_onnx(create_model("edsr-1-4", 2).eval(), path, (8, 8))
    return path


def test_refusals_are_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    onnx = pytest.importorskip("onnx")
    from srprune.export.runtime import ExportedModel

    path = _exported_edsr(tmp_path)
    frames = tmp_path / "in"
    frames.mkdir()
    from srprune.data.images import write_image
    write_image(frames / "0.png", np.zeros((8, 8, 3), np.uint8))

    def upscale_err(model: Path, *extra: str) -> str:
        capsys.readouterr()
        assert main(["upscale", "--model", str(model), "--input", str(frames),
                     "--output", str(tmp_path / "o"), "--quiet", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert not (tmp_path / "o").exists()
        return err

    # runtime missing
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert "needs onnxruntime" in upscale_err(path)
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert "needs the openvino package" in upscale_err(path, "--runtime", "openvino")
    monkeypatch.undo()
    # opset too old for srprune, and newer than the runtime knows
    proto = onnx.load(str(path))
    for version, expect in [(16, "opset 16; srprune runs opset >= 17"),
                            (99, "does not support ONNX opset 99")]:
        for o in proto.opset_import:
            if o.domain == "":
                o.version = version
        for prop in proto.metadata_props:  # the metadata must agree with the graph
            if prop.key == "opset":
                prop.value = str(version)
        bad = tmp_path / f"opset{version}.onnx"
        onnx.save(proto, str(bad))
        assert expect in upscale_err(bad)
    # an ONNX file that srprune did not write
    del proto.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(proto, str(foreign))
    assert "not an ONNX file exported by srprune" in upscale_err(foreign)
    with pytest.raises(UserError, match="unknown runtime"):
        ExportedModel(path, "tflite")


def test_export_refuses_old_opset_and_bad_suffix(tmp_path: Path) -> None:
    from srprune.export.onnx_writer import export_onnx

    with pytest.raises(UserError, match="opset >= 17"):
        export_onnx(create_model("edsr-1-4", 2), tmp_path / "x.onnx", (8, 8), opset=16)
    assert main(["export", "--model", "edsr-1-4", "--output", str(tmp_path / "x.pt")]) == 2

"""ONNX export: onnxruntime (and OpenVINO) equal PyTorch for every model kind, on real frames.

Each graph is exported once per module (the exporter takes seconds) at a tiny LR size.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from srprune.cli import main
from srprune.data.images import list_images, read_image, to_tensor
from srprune.data.synthetic import load_photo
from srprune.eval.metrics import tensor_to_uint8
from srprune.export.onnx_writer import export_onnx
from srprune.export.runtime import ExportedModel
from srprune.infer.io import FrameSink
from srprune.infer.onnx_runner import exported_frames, upscale_exported
from srprune.io.model_file import save_model
from srprune.models.registry import create_model
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.surgery import remove_units

H, W = 16, 20


def _model(name: str, scale: int = 4, kind: str = "dense") -> torch.nn.Module:
    """dense; compact (SSL removal, RSC); fmp (coupled channels removed + half the weights 0)."""
    torch.manual_seed(0)
    model = create_model(name, scale).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.05, 0.05)
    if kind == "dense":
        return model
    groups = model.channel_groups("rsc" if kind == "compact" else "coupled")
    remove_units(model, groups, select_units(groups, score_groups(model, groups), 0.5))
    if kind == "fmp":
        g = torch.Generator().manual_seed(2)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.weight.mul_(torch.rand(m.weight.shape, generator=g) > 0.5)
    return model


def _frames(n: int, h: int = H, w: int = W) -> list[np.ndarray]:
    """A real clip: a window panning across a bundled photo, 1-2 pixels per frame."""
    photo = (load_photo("astronaut")[:, 100:100 + 4 * h, 150:150 + 4 * w] * 255).round()
    photo = photo.byte().permute(1, 2, 0).numpy()[::2, ::2]
    return [np.ascontiguousarray(photo[2 * i:2 * i + h, i:i + w]) for i in range(n)]


def _torch_frames(model: torch.nn.Module, frames: list[np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        x = torch.stack([to_tensor(f) for f in frames])
        y = model(x[None])[0] if model.is_video else torch.cat([model(f[None]) for f in x])
    return y.numpy()


def _assert_parity(got: np.ndarray, ref: np.ndarray, atol: float = 1e-4) -> None:
    assert got.shape == ref.shape
    assert float(np.abs(got - ref).max()) <= atol
    for a, b in zip(got.reshape(-1, *got.shape[-3:]), ref.reshape(-1, *ref.shape[-3:]),
                    strict=True):
        qa, qb = (tensor_to_uint8(torch.from_numpy(np.ascontiguousarray(x))).astype(int)
                  for x in (a, b))
        assert np.abs(qa - qb).max() <= 1


CASES = {
    "edsr-dense-x2": ("edsr-2-8", 2, "dense"),
    "edsr-compact-x3": ("edsr-2-8", 3, "compact"),
    "esrb-compact-x4": ("esrb-2-16", 4, "compact"),
    "esrb-fmp-x2": ("esrb-2-16", 2, "fmp"),
    "edsr-fmp-x4": ("edsr-2-8", 4, "fmp"),
    "msrresnet-compact-x4": ("msrresnet-2-8", 4, "compact"),
    "srvgg-compact-x4": ("srvgg-8-2", 4, "compact"),
    "rrdbnet-coupled-x2": ("rrdbnet-8-1", 2, "fmp"),
    "uni-dense": ("basicvsr-uni-8-2", 4, "dense"),
    "uni-compact": ("basicvsr-uni-8-2", 4, "compact"),
    "uni-coupled": ("basicvsr-uni-8-2", 4, "fmp"),
    "bi-compact": ("basicvsr-8-2", 4, "compact"),
}
WINDOW = 3


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[torch.nn.Module, Path]]:
    """Every case's model and its exported file (made on first use)."""
    root = tmp_path_factory.mktemp("onnx")
    cache: dict[str, tuple[torch.nn.Module, Path]] = {}

    class Lazy(dict):
        def __missing__(self, key: str):
            name, scale, kind = CASES[key]
            model = _model(name, scale, kind)
            path = root / f"{key}.onnx"
            export_onnx(model, path, (H, W), frames=WINDOW)
            cache[key] = (model, path)
            self[key] = cache[key]
            return cache[key]

    return Lazy()


@pytest.mark.parametrize("case", ["edsr-dense-x2", "edsr-compact-x3", "esrb-compact-x4",
                                  "esrb-fmp-x2", "edsr-fmp-x4", "msrresnet-compact-x4",
                                  "srvgg-compact-x4", "rrdbnet-coupled-x2"])
def test_image_models_match_pytorch_in_onnxruntime(exported, case: str) -> None:
    model, path = exported[case]
    frames = _frames(3)
    got = np.stack(list(exported_frames(ExportedModel(path), iter(frames))))
    _assert_parity(got, _torch_frames(model, frames))


@pytest.mark.parametrize("case", ["uni-dense", "uni-compact", "uni-coupled"])
def test_uni_cell_frame_by_frame_equals_forward(exported, case: str) -> None:
    model, path = exported[case]
    frames = _frames(6)
    runner = ExportedModel(path)
    assert runner.info.kind == "stream"
    assert runner.info.cell == model.cell_spec()
    got = np.stack(list(exported_frames(runner, iter(frames))))
    _assert_parity(got, _torch_frames(model, frames), atol=1e-5)


def test_bidirectional_window_matches_forward(exported) -> None:
    model, path = exported["bi-compact"]
    runner = ExportedModel(path)
    assert (runner.info.kind, runner.info.frames) == ("window", WINDOW)
    frames = _frames(WINDOW)
    got = np.stack(list(exported_frames(runner, iter(frames))))
    _assert_parity(got, _torch_frames(model, frames))


@pytest.mark.parametrize("case", ["uni-compact", "esrb-fmp-x2"])
def test_openvino_matches_pytorch(exported, case: str) -> None:
    pytest.importorskip("openvino")
    model, path = exported[case]
    frames = _frames(4)
    got = np.stack(list(exported_frames(ExportedModel(path, "openvino"), iter(frames))))
    _assert_parity(got, _torch_frames(model, frames))


def test_metadata_describes_the_model(exported) -> None:
    model, path = exported["edsr-compact-x3"]
    info = ExportedModel(path).info
    assert (info.kind, info.scale, info.lr_size, info.opset) == ("image", 3, (H, W), 18)
    assert info.config["num_feat"] == 8 and info.structure["convs"]


def test_dynamic_size_image_export(tmp_path: Path) -> None:
    model = _model("edsr-2-8", 2, "compact")
    path = tmp_path / "dyn.onnx"
    assert export_onnx(model, path, None).lr_size is None
    runner = ExportedModel(path)
    for h, w in [(12, 12), (17, 23)]:
        frames = _frames(1, h, w)
        got = np.stack(list(exported_frames(runner, iter(frames))))
        _assert_parity(got, _torch_frames(model, frames))


def test_dynamic_size_export_pads_an_unshuffled_input(tmp_path: Path) -> None:
    """RRDBNet x2 unshuffles its input: odd sides are reflect-padded and cropped in the graph."""
    model = _model("rrdbnet-4-1", 2, "compact")
    path = tmp_path / "dyn.onnx"
    export_onnx(model, path, None)
    frames = _frames(1, 17, 23)
    got = np.stack(list(exported_frames(ExportedModel(path), iter(frames))))
    _assert_parity(got, _torch_frames(model, frames))


def test_cli_export_then_upscale(tmp_path: Path, capsys) -> None:
    model = _model("edsr-2-8", 2, "compact")
    src = save_model(tmp_path / "m.safetensors", model)
    out = tmp_path / "m.onnx"
    assert main(["export", "--model", str(src), "--output", str(out),
                 "--lr-size", f"{H}x{W}"]) == 0
    assert "onnxruntime vs PyTorch" in capsys.readouterr().out
    frames_dir = tmp_path / "in"
    frames_dir.mkdir()
    from srprune.data.images import write_image
    frames = _frames(2)
    for i, f in enumerate(frames):
        write_image(frames_dir / f"{i:03d}.png", f)
    assert main(["upscale", "--model", str(out), "--input", str(frames_dir),
                 "--output", str(tmp_path / "sr"), "--quiet"]) == 0
    got = np.stack([read_image(p) for p in list_images(tmp_path / "sr")]).astype(int)
    ref = np.stack([tensor_to_uint8(torch.from_numpy(f)) for f in _torch_frames(model, frames)])
    assert np.abs(got - ref.astype(int)).max() <= 1
    # same rules as the PyTorch path: an existing output is refused, nothing is overwritten
    assert main(["upscale", "--model", str(out), "--input", str(frames_dir),
                 "--output", str(tmp_path / "sr"), "--quiet"]) == 2
    # a frame size the graph was not exported for: one line, no output left behind
    small = tmp_path / "small"
    small.mkdir()
    write_image(small / "0.png", _frames(1, 12, 12)[0])
    capsys.readouterr()
    assert main(["upscale", "--model", str(out), "--input", str(small),
                 "--output", str(tmp_path / "sr2"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "exported for 16x20" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "sr2").exists()


def test_stream_upscale_is_atomic_and_counts(exported, tmp_path: Path) -> None:
    _, path = exported["uni-compact"]
    from srprune.infer.io import FrameSource

    class Src(FrameSource):
        def __init__(self, frames):
            super().__init__(Path("mem"), Fraction(24), len(frames), False)
            self.frames = frames

        def __iter__(self):
            return iter(self.frames)

    n = upscale_exported(ExportedModel(path), Src(_frames(4)),
                         FrameSink(tmp_path / "out", Fraction(24)), progress=False)
    assert n == 4 and len(list_images(tmp_path / "out")) == 4


def test_trained_compact_bidirectional_model_through_cli(tmp_path: Path) -> None:
    """The committed SSL-compact demo BasicVSR (trained): export a window, upscale real frames
    with onnxruntime, compare with PyTorch on the clip."""
    from srprune.io.model_file import load_model

    src = Path(__file__).parents[1] / "results/models/demo_basicvsr_ssl_p0.5_fp16.safetensors"
    out = tmp_path / "demo.onnx"
    assert main(["export", "--model", str(src), "--output", str(out), "--lr-size", f"{H}x{W}",
                 "--frames", "3", "--no-check"]) == 0
    frames_dir = tmp_path / "in"
    frames_dir.mkdir()
    from srprune.data.images import write_image
    frames = _frames(3)
    for i, f in enumerate(frames):
        write_image(frames_dir / f"{i:03d}.png", f)
    assert main(["upscale", "--model", str(out), "--input", str(frames_dir),
                 "--output", str(tmp_path / "sr"), "--quiet"]) == 0
    got = np.stack([read_image(p) for p in list_images(tmp_path / "sr")]).astype(int)
    ref = np.stack([tensor_to_uint8(torch.from_numpy(f))
                    for f in _torch_frames(load_model(src), frames)]).astype(int)
    assert np.abs(got - ref).max() <= 1

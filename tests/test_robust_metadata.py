"""Metadata that lies (issue 21): ONNX metadata_props and safetensors headers are untrusted.

Every case is one stderr line, exit 2, nothing written, and peak memory far below 1 GB for 16x16
frames whatever the metadata claims. The ONNX graphs are built by hand (an identity, a nearest
x2 Resize) with metadata copied from real srprune configs, so no export is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from robust_helpers import assert_one_line, leftovers, run_cli
from srprune.data.images import image_size, list_images, write_image
from srprune.export.metadata import CellSpec, CellState, ExportInfo
from srprune.io.model_file import save_model
from srprune.models.registry import config_to_dict, create_model

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
DEEP = "[" * 50_000 + "]" * 50_000


def _props(kind: str, name: str, x: int = 4) -> dict[str, str]:
    """Metadata srprune would write for ``name`` (scale ``x``) as a ``kind`` graph."""
    config = config_to_dict(create_model(name, x).config)
    info = ExportInfo(kind=kind, scale=x, lr_size=(16, 16),  # type: ignore[arg-type]
                      frames=3 if kind == "window" else 0,
                      cell=CellSpec((CellState("hidden", 8),), 1) if kind == "stream" else None,
                      opset=18, config=config,
                      structure={"convs": {}, "index": {}})
    return info.to_props("test")


def _graph(path: Path, props: dict[str, str], *, op: str = "Identity", rank: int = 4,
           inputs: tuple[str, ...] = ("lr",), outputs: tuple[str, ...] = ("sr",),
           declared_scale: int = 1, opset: int = 18, static: bool = True) -> Path:
    """A one-node graph: Identity (x1) or nearest Resize (x2) from inputs[0] to outputs[0]."""
    lead = [1, 3] if rank == 4 else [1, 3, 3]
    side: list[int | str] = [16, 16] if static else ["h", "w"]
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, lead + side) for n in inputs]
    out_side = [16 * declared_scale] * 2 if static else ["H", "W"]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, lead + out_side)
            for n in outputs]
    inits = []
    if op == "Resize":
        scales = [1.0] * (rank - 2) + [2.0, 2.0]
        inits = [helper.make_tensor("scales", TensorProto.FLOAT, [rank], scales)]
        nodes = [helper.make_node("Resize", [inputs[0], "", "scales"], [outputs[0]],
                                  mode="nearest")]
    else:
        nodes = [helper.make_node("Identity", [inputs[0]], [outputs[0]])]
    nodes += [helper.make_node("Identity", [inputs[-1]], [o]) for o in outputs[1:]]
    model = helper.make_model(helper.make_graph(nodes, "g", ins, outs, inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for t in range(3):
        write_image(folder / f"{t:03d}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    return folder


def _x2(**change: str) -> dict[str, str]:
    return {**_props("image", "edsr-1-4", 2), **change}


# name -> (graph kwargs, text the one line must contain)
ONNX_LIES = {
    "frames-1e9": ({"props": {**_props("window", "basicvsr-8-1"), "frames": "1000000000"},
                    "rank": 5, "inputs": ("lrs",), "outputs": ("srs",)}, "frames"),
    "frames-1000-vs-3": ({"props": {**_props("window", "basicvsr-8-1"), "frames": "1000"},
                          "rank": 5, "inputs": ("lrs",), "outputs": ("srs",)},
                         "does not describe its graph"),
    "hidden-negative": ({"props": {**_props("stream", "basicvsr-uni-8-1"),
                                   "hidden_channels": "-8"},
                         "inputs": ("lr", "prev_lr", "hidden"),
                         "outputs": ("sr", "new_hidden")}, "hidden_channels"),
    "cell-width-negative": ({"props": {**_props("stream", "basicvsr-uni-8-1"),
                                       "cell": '{"states": [["hidden", -8]], '
                                               '"previous_frames": 1}'},
                             "inputs": ("lr", "prev_lr", "hidden"),
                             "outputs": ("sr", "new_hidden")}, "must be >= 1"),
    "cell-1e9-states": ({"props": {**_props("stream", "basicvsr-uni-8-1"),
                                   "cell": '{"states": [["h", 8]], "previous_frames": 1e9}'},
                         "inputs": ("lr", "prev_lr", "hidden"),
                         "outputs": ("sr", "new_hidden")}, "previous_frames"),
    "legacy-hidden-negative": ({"props": {k: v for k, v in {
        **_props("stream", "basicvsr-uni-8-1"), "hidden_channels": "-8"}.items() if k != "cell"},
        "inputs": ("lr", "prev_lr", "hidden"), "outputs": ("sr", "new_hidden")},
        "must be >= 1"),
    "stream-kind-on-image-graph": ({"props": _x2(kind="stream", hidden_channels="8",
                                                 cell='{"states": [["hidden", 8]], '
                                                      '"previous_frames": 1}'),
                                    "op": "Resize"}, "kind"),
    "dynamic-on-static-graph": ({"props": _x2(lr_size="dynamic"), "op": "Resize"},
                                "does not describe its graph"),
    "static-on-dynamic-graph": ({"props": _x2(), "op": "Resize", "static": False},
                                "does not describe its graph"),
    "scale-0": ({"props": _x2(scale="0"), "op": "Resize"}, "scale"),
    "scale-8": ({"props": _x2(scale="8"), "op": "Resize"}, "scale"),
    "identity-claims-x2": ({"props": _x2()}, "returns 1x3x16x16"),
    "identity-declares-x2": ({"props": _x2(), "declared_scale": 2}, "returns 1x3x16x16"),
    "identity-copied-x4": ({"props": _props("image", "edsr-1-4", 4)}, "returns 1x3x16x16"),
    "opset-99": ({"props": _x2(opset="99"), "op": "Resize"}, "opset 99"),
    "deep-config": ({"props": _x2(config=DEEP), "op": "Resize"}, "nested"),
    "huge-config": ({"props": _x2(config='"' + "x" * (9 << 20) + '"'), "op": "Resize"},
                    "characters"),
    "bad-lr-size": ({"props": _x2(lr_size="16 by 16"), "op": "Resize"}, "HxW"),
    "config-not-srprune": ({"props": _x2(config='{"arch": "vgg"}'), "op": "Resize"},
                           "unknown architecture"),
    "wrong-names": ({"props": _x2(), "op": "Resize", "inputs": ("x",)}, "takes x"),
}


@pytest.mark.parametrize("case", list(ONNX_LIES))
def test_onnx_metadata_that_lies(case: str, frames: Path, tmp_path: Path, capsys) -> None:
    kwargs, expect = ONNX_LIES[case]
    path = _graph(tmp_path / "m.onnx", **kwargs)
    code, _, err = run_cli(capsys, ["upscale", "--model", path, "--input", frames,
                                    "--output", tmp_path / "out", "--quiet"])
    line = assert_one_line(code, err, "upscale", expect)
    assert "m.onnx" in line
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


def test_an_honest_hand_made_graph_runs(frames: Path, tmp_path: Path, capsys) -> None:
    """The control: a nearest x2 Resize with x2 metadata upscales every frame."""
    path = _graph(tmp_path / "m.onnx", _x2(), op="Resize")
    code, out, _ = run_cli(capsys, ["upscale", "--model", path, "--input", frames,
                                    "--output", tmp_path / "out", "--quiet"])
    assert code == 0 and "wrote 3 frames x2" in out
    written = list_images(tmp_path / "out")
    assert len(written) == 3 and {image_size(p) for p in written} == {(32, 32)}


def test_the_runtime_probe_decides_when_inference_cannot(frames: Path, tmp_path: Path, capsys,
                                                         monkeypatch) -> None:
    import srprune.export.runtime as runtime

    monkeypatch.setattr(runtime, "check_graph", lambda *a: False)  # inference "cannot tell"
    lying = _graph(tmp_path / "lie.onnx", _x2())
    code, _, err = run_cli(capsys, ["upscale", "--model", lying, "--input", frames,
                                    "--output", tmp_path / "out", "--quiet"])
    assert_one_line(code, err, "upscale", "returns 1x3x16x16")
    honest = _graph(tmp_path / "ok.onnx", _x2(), op="Resize")
    code, out, _ = run_cli(capsys, ["upscale", "--model", honest, "--input", frames,
                                    "--output", tmp_path / "out", "--quiet"])
    assert code == 0 and "wrote 3 frames x2" in out


@pytest.fixture(scope="module")
def good_file(tmp_path_factory) -> Path:
    return save_model(tmp_path_factory.mktemp("good") / "edsr.safetensors",
                      create_model("edsr-1-8", 2))


def _with_meta(src: Path, dst: Path, **change: str) -> Path:
    with safe_open(str(src), framework="pt") as f:
        meta = {**f.metadata(), **change}
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iter
    save_file(state, str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize("key", ["config", "structure", "extra", "packing"])
@pytest.mark.parametrize("command", ["profile", "upscale", "convert"])
def test_deep_json_in_a_model_file(key: str, command: str, good_file: Path, frames: Path,
                                   tmp_path: Path, capsys) -> None:
    bad = _with_meta(good_file, tmp_path / "deep.safetensors", **{key: DEEP})
    args = {"profile": ["profile", "--model", bad, "--lr-size", "16x16", "--no-latency"],
            "upscale": ["upscale", "--model", bad, "--input", frames, "--output",
                        tmp_path / "out"],
            "convert": ["convert", "--sparse", bad, tmp_path / "out.safetensors"]}[command]
    code, _, err = run_cli(capsys, args)
    assert_one_line(code, err, command, "nested 50000 levels deep")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.safetensors").exists()
    assert not leftovers(tmp_path)


_PEAK = ("import resource, sys, torch; torch.set_num_threads(1); from srprune.cli import main; "
         "code = main(sys.argv[1:]); "
         "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)")


def test_absurd_metadata_stays_far_below_a_gigabyte(good_file: Path, frames: Path,
                                                    tmp_path: Path) -> None:
    """Peak RSS of whole ``srprune upscale`` processes fed metadata claiming 10^9 frames and
    deep JSON: each is refused in one line well under 1 GB."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    models = [
        _graph(tmp_path / "frames.onnx", **ONNX_LIES["frames-1e9"][0]),
        _with_meta(good_file, tmp_path / "deep.safetensors", config=DEEP),
    ]
    for model in models:
        proc = subprocess.run([sys.executable, "-c", _PEAK, "upscale", "--model", str(model),
                               "--input", str(frames), "--output", str(tmp_path / "out"),
                               "--quiet"], capture_output=True, text=True, env=env, check=False)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        peak = int(proc.stdout.split("PEAK_KB")[1].split()[0]) * 1024
        assert peak < 1 << 30, (model.name, peak)
        assert not (tmp_path / "out").exists()


def test_bounded_json_counts_depth_outside_strings() -> None:
    from srprune.io.bounded_json import loads_bounded, nesting_depth

    assert nesting_depth('{"a": [1, {"b": "[[[[["}]}') == 3
    assert loads_bounded(json.dumps({"a": "]]]]" * 100})) == {"a": "]]]]" * 100}
    with pytest.raises(ValueError, match="nested 40 levels"):
        loads_bounded("[" * 40 + "]" * 40)
    with pytest.raises(ValueError, match="characters"):
        loads_bounded('"' + "x" * 100 + '"', max_chars=50)

"""`srprune test`, `upscale` and `profile` on exported files: ONNX in onnxruntime and OpenVINO,
OpenVINO IR (.xml, srprune metadata in rt_info), at any input size; refusals in one line.

The .onnx files are tiny models written by `srprune export` (scripts/make_exported_fixtures.py,
committed: exporting a video graph takes tens of seconds); the .xml files are made here from
them with openvino.save_model, the metadata copied under rt_info["srprune"].
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from srprune.cli import main
from srprune.data.images import list_images, read_image, write_image

pytest.importorskip("onnxruntime")
ov = pytest.importorskip("openvino")
onnx = pytest.importorskip("onnx")

FIXTURES = Path(__file__).parent / "fixtures" / "exported"
SIZES = {"near": (10, 12), "far": (8, 11)}  # LR sizes of the two clips (GT x4)


def _props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def _to_ir(onnx_path: Path, xml: Path, props: dict[str, str] | None = None) -> Path:
    from srprune.export.ir import set_ir_props

    model = ov.Core().read_model(str(onnx_path))
    set_ir_props(model, _props(onnx_path) if props is None else props)
    ov.save_model(model, str(xml), compress_to_fp16=False)
    return xml


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The fixtures plus .xml twins of the image and cell files."""
    out = tmp_path_factory.mktemp("exported")
    for f in FIXTURES.iterdir():
        shutil.copy(f, out / f.name)
    for name in ("image", "cell"):
        _to_ir(out / f"{name}.onnx", out / f"{name}.xml")
    return {p.name: p for p in out.iterdir()}


def _clips(root: Path, scale: int) -> Path:
    """A frames-layout set (GT only; LR made by bicubic) of two clips of different sizes."""
    rng = np.random.default_rng(0)
    for name, (h, w) in SIZES.items():
        base = rng.integers(0, 256, (h * scale, w * scale, 3)).astype(np.float64)
        for t in range(4 if name == "near" else 3):  # a drifting smooth pattern
            frame = np.clip(np.roll(base, t, axis=1) * 0.6 + 50, 0, 255).astype(np.uint8)
            write_image(root / "GT" / name / f"{t:08d}.png", frame)
    return root


def _scores(capsys, *args: str) -> dict[str, float]:
    capsys.readouterr()
    assert main(["test", *args, "--layout", "frames", "--json", "--threads", "1"]) == 0
    clips = json.loads(capsys.readouterr().out)["scores"]["clips"]
    return {name: c["psnr"] for name, c in clips.items()}


def _refused(capsys, args: list[str]) -> str:
    capsys.readouterr()
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(("name", "runtime"), [("window.onnx", "onnxruntime"),
                                               ("cell.xml", "openvino")])
def test_video_file_scores_clips_of_two_sizes(name: str, runtime: str, files, tmp_path: Path,
                                              capsys) -> None:
    data = _clips(tmp_path / "set", 4)
    got = _scores(capsys, "--model", str(files[name]), "--runtime", runtime, "--data", str(data))
    ref = _scores(capsys, "--model", str(files[name.split(".")[0] + ".safetensors"]),
                  "--data", str(data))
    assert set(got) == set(SIZES)
    # a cell is the causal model exactly; a 3-frame window is the model on the 3-frame clip
    exact = SIZES if name.startswith("cell") else ("far",)
    for clip in exact:
        assert got[clip] == pytest.approx(ref[clip], abs=0.02)
    assert abs(got["near"] - ref["near"]) < 3.0


def test_image_files_in_both_runtimes_and_fixed_sizes(files, tmp_path: Path, capsys) -> None:
    data = _clips(tmp_path / "set", 2)
    ref = _scores(capsys, "--model", str(files["image.safetensors"]), "--data", str(data))
    for args in (["--model", str(files["image.onnx"])],
                 ["--model", str(files["image.xml"])],
                 # fixed to 12x16: OpenVINO reshapes it for each clip's size
                 ["--model", str(files["image_12x16.onnx"]), "--runtime", "openvino"]):
        got = _scores(capsys, *args, "--data", str(data))
        assert got == pytest.approx(ref, abs=0.02), args
    err = _refused(capsys, ["test", "--model", str(files["image_12x16.onnx"]), "--data",
                            str(data), "--layout", "frames"])
    assert "re-export it with --lr-size dynamic" in err and "openvino" in err


def test_reference_takes_exported_files_on_either_side(files, tmp_path: Path, capsys) -> None:
    lr = tmp_path / "lr"
    rng = np.random.default_rng(1)
    for i in range(2):
        write_image(lr / f"{i}.png", rng.integers(0, 256, (9, 13, 3), dtype=np.uint8))
    for model, ref in (("image.xml", "image.safetensors"), ("image.safetensors", "image.onnx")):
        capsys.readouterr()
        assert main(["test", "--model", str(files[model]), "--reference", str(files[ref]),
                     "--data", str(lr), "--json", "--threads", "1"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert len(out["rows"]) == 2 and out["fidelity_psnr"] > 60, (model, ref)


def test_upscale_an_ir_at_any_size(files, tmp_path: Path, capsys) -> None:
    frames = tmp_path / "in"
    rng = np.random.default_rng(2)
    for t in range(3):
        write_image(frames / f"{t}.png", rng.integers(0, 256, (9, 11, 3), dtype=np.uint8))
    out = tmp_path / "sr"
    assert main(["upscale", "--model", str(files["cell.xml"]), "--input", str(frames),
                 "--output", str(out), "--quiet", "--threads", "1"]) == 0
    assert len(list_images(out)) == 3 and read_image(list_images(out)[0]).shape == (36, 44, 3)
    err = _refused(capsys, ["upscale", "--model", str(files["cell.xml"]), "--runtime",
                            "onnxruntime", "--input", str(frames), "--output",
                            str(tmp_path / "o2")])
    assert "runs in openvino only" in err and not (tmp_path / "o2").exists()


def _profile(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["profile", *args, "--json", "--repeats", "1", "--warmup", "0"]
                + ([] if "--threads" in args else ["--threads", "1"])) == 0
    return json.loads(capsys.readouterr().out)


def test_profile_counts_weights_macs_and_times_the_runtime(files, tmp_path: Path,
                                                           capsys) -> None:
    torch_row = _profile(capsys, "--model", str(files["image.safetensors"]), "--lr-size",
                         "16x20", "--no-latency")
    for args in (["--model", str(files["image.onnx"])],
                 ["--model", str(files["image.xml"]), "--threads", "2"]):
        row = _profile(capsys, *args, "--lr-size", "16x20")
        assert row["macs_per_frame"] == torch_row["macs_per_frame"]
        # the weights plus EDSR's 3 mean values
        assert row["params"] == torch_row["params"] + 3 == row["params_by_type"]["float32"]
        assert row["latency_ms_per_frame"] > 0
    cell = _profile(capsys, "--model", str(files["cell.xml"]), "--lr-size", "12x10")
    assert cell["kind"] == "stream" and cell["macs_per_frame"] > 0
    # an INT8 file (int8 conv weights behind DequantizeLinear), metadata kept
    int8 = _quantized(files["image.onnx"], tmp_path / "int8.onnx")
    row = _profile(capsys, "--model", str(int8), "--lr-size", "16x20")
    assert row["params_by_type"]["int8"] > 1000
    capsys.readouterr()
    assert main(["profile", "--model", str(int8), "--lr-size", "16x20", "--repeats", "1",
                 "--threads", "1"]) == 0
    assert "int8" in capsys.readouterr().out


def _quantized(source: Path, target: Path) -> Path:
    """The file with every conv weight stored as int8 behind a DequantizeLinear (QDQ, as
    onnxruntime's static quantization writes weights), srprune's metadata plus a
    ``quantization`` entry."""
    from onnx import helper, numpy_helper

    proto = onnx.load(str(source))
    weights = {t.name: t for t in proto.graph.initializer}
    nodes = []
    for node in proto.graph.node:
        if node.op_type == "Conv" and node.input[1] in weights:
            w = numpy_helper.to_array(weights.pop(node.input[1]))
            scale = np.float32(np.abs(w).max() / 127)
            name = node.input[1]
            proto.graph.initializer.remove(next(t for t in proto.graph.initializer
                                                if t.name == name))
            proto.graph.initializer.extend([
                numpy_helper.from_array(np.round(w / scale).astype(np.int8), name + "_q"),
                numpy_helper.from_array(np.array(scale, np.float32), name + "_s")])
            nodes.append(helper.make_node("DequantizeLinear", [name + "_q", name + "_s"],
                                          [name]))
        nodes.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "quantization", json.dumps({  # as `srprune quantize` writes it
        "runtime": "onnxruntime", "scheme": "int8 weights (test)",
        "kept_fp32": {"roles": [], "nodes": 0}, "calibration": {}})
    onnx.save(proto, str(target))
    return target


def test_refusals_are_one_line(files, tmp_path: Path, capsys) -> None:
    data = _clips(tmp_path / "set", 4)
    # an IR without srprune metadata, and one whose metadata describes another graph
    foreign = _to_ir(files["image.onnx"], tmp_path / "foreign.xml", props={})
    assert "not an OpenVINO IR exported by srprune" in _refused(
        capsys, ["profile", "--model", str(foreign), "--lr-size", "8x8"])
    liar = _to_ir(files["image.onnx"], tmp_path / "liar.xml", props=_props(files["cell.onnx"]))
    assert "does not describe its graph" in _refused(
        capsys, ["test", "--model", str(liar), "--data", str(data), "--layout", "frames"])
    (tmp_path / "nobin.xml").write_text(files["cell.xml"].read_text())
    assert "not a readable OpenVINO IR" in _refused(
        capsys, ["profile", "--model", str(tmp_path / "nobin.xml"), "--lr-size", "8x8"])
    # a cell fixed to 12x16: onnxruntime runs it at that size only, OpenVINO cannot reshape it
    cell = files["cell_12x16.onnx"]
    for runtime, expect in (("onnxruntime", "re-export it with --lr-size dynamic"),
                            ("openvino", "OpenVINO cannot reshape its graph to 8x11")):
        assert expect in _refused(capsys, ["test", "--model", str(cell), "--data", str(data),
                                           "--layout", "frames", "--runtime", runtime])
    # PyTorch-only flags, and an IR in onnxruntime
    assert "--chunk" in _refused(capsys, ["test", "--model", str(files["window.onnx"]),
                                          "--data", str(data), "--layout", "frames",
                                          "--chunk", "2"])
    assert "runs in openvino only" in _refused(
        capsys, ["profile", "--model", str(files["image.xml"]), "--runtime", "onnxruntime",
                 "--lr-size", "8x8"])

"""srprune quantize: INT8 files for onnxruntime and OpenVINO that load, run, stay close to the
float export and record what stayed float; bad calibration data and bad outputs are refused in
one line with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from srprune.cli import main
from srprune.data.images import write_image
from srprune.errors import UserError
from srprune.export.metadata import QUANTIZATION, ExportInfo, parse_quantization
from srprune.models.registry import create_model

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
SIZE = 16


def _frames(folder: Path, count: int, size: tuple[int, int] = (20, 24), seed: int = 0) -> Path:
    """A clip folder of smooth moving RGB frames."""
    rng = np.random.default_rng(seed)
    base = rng.random((size[0] + count, size[1] + count, 3))
    base = (base + np.roll(base, 1, 0) + np.roll(base, 1, 1)) / 3
    folder.mkdir(parents=True)
    for i in range(count):
        write_image(folder / f"{i:03d}.png", (255 * base[i:i + size[0], i:i + size[1]]).astype(
            np.uint8))
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Float exports of a tiny image and a tiny streaming video model, and calibration clips."""
    from srprune.export.onnx_writer import export_onnx

    root = tmp_path_factory.mktemp("quantize")
    torch.manual_seed(0)
    export_onnx(create_model("edsr-1-8", 2).eval(), root / "edsr.onnx", (SIZE, SIZE))
    export_onnx(create_model("basicvsr-uni-8-1").eval(), root / "uni.onnx", (SIZE, SIZE))
    calib = root / "calib"
    for c in range(2):
        _frames(calib / f"clip{c}", 5, seed=c)
    return {"edsr": root / "edsr.onnx", "uni": root / "uni.onnx", "calib": calib}


def _props(path: Path) -> dict[str, str]:
    if path.suffix == ".xml":
        import openvino as ov

        info = ov.Core().read_model(str(path)).get_rt_info()
        return {k: v.astype(str) for k, v in info["srprune"].items()} if "srprune" in info else {}
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def _run(path: Path, runtime: str, x: np.ndarray) -> np.ndarray:
    from srprune.quantize.report import open_model

    info = ExportInfo.from_props(_props(path), str(path))
    return open_model(path, runtime, info).run([x])[0]


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_int8_file_loads_runs_and_records_what_stayed_float(files, tmp_path, runtime) -> None:
    if runtime == "openvino":
        pytest.importorskip("nncf")
    from srprune.quantize.api import quantize

    out = tmp_path / ("int8.onnx" if runtime == "onnxruntime" else "int8.xml")
    report = quantize(files["edsr"], files["calib"], out, keep=["head", "tail"], repeats=1,
                      calib_frames=4)
    assert report.psnr_db > 30 and report.held_out_frames >= 1
    props = _props(out)
    record = parse_quantization(props[QUANTIZATION])
    assert record["runtime"] == runtime and record["kept_fp32"]["roles"] == ["head", "tail"]
    assert record["kept_fp32"]["nodes"] >= 2 and record["calibration"]["samples"] >= 1
    assert ExportInfo.from_props(props, str(out)).kind == "image"
    x = np.random.default_rng(0).random((1, 3, SIZE, SIZE), dtype=np.float32)
    fp32 = _run(files["edsr"], runtime, x)
    int8 = _run(out, runtime, x)
    mse = float(np.mean((np.clip(fp32, 0, 1) - np.clip(int8, 0, 1)) ** 2))
    assert 10 * np.log10(1 / max(mse, 1e-12)) > 30
    saved = json.loads(out.with_suffix(".quantize.json").read_text())
    assert saved["record"]["kept_fp32"]["roles"] == ["head", "tail"]
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(["int8.quantize.json", out.name]
                             + (["int8.bin"] if runtime == "openvino" else []))


def test_stream_cell_calibrates_through_its_states_and_keeps_the_default_roles(
        files, tmp_path, capsys) -> None:
    from srprune.quantize.api import DEFAULT_KEEP

    out = tmp_path / "uni_int8.onnx"
    assert main(["quantize", "--model", str(files["uni"]), "--calib", str(files["calib"]),
                 "--output", str(out), "--calib-frames", "6", "--drift-frames", "12",
                 "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"wrote {out}") and any("drift over 12 frames" in x for x in lines)
    record = parse_quantization(_props(out)[QUANTIZATION])
    assert record["kept_fp32"]["roles"] == list(DEFAULT_KEEP["onnxruntime"])
    assert record["kept_fp32"]["nodes"] >= len(DEFAULT_KEEP["onnxruntime"])
    report = json.loads(out.with_suffix(".quantize.json").read_text())
    assert report["kind"] == "stream" and report["drift"]["frames"] == 12
    assert report["psnr_db"] > 30


def test_roles_map_to_the_declared_modules(files) -> None:
    import onnx

    from srprune.quantize.roles import check_roles, declared_roles, node_scopes, role_nodes

    proto = onnx.load(str(files["uni"]))
    info = ExportInfo.from_props({p.key: p.value for p in proto.metadata_props}, "uni")
    roles = declared_roles(info)
    assert set(roles) >= {"head", "tail", "flow"}
    nodes = role_nodes(proto.graph, roles)
    by_name = {n.name: n for n in proto.graph.node}
    for role, names in nodes.items():
        assert names, role
        for name in names:
            assert any(s.startswith(roles[role]) for s in node_scopes(by_name[name]))
    assert {by_name[n].op_type for n in nodes["head"]} == {"Conv"}
    with pytest.raises(UserError, match="no role 'body'.*its roles: head"):
        check_roles(["body"], roles, "--keep-fp32")


def test_quantization_metadata_is_checked() -> None:
    good = {"runtime": "openvino", "scheme": "x", "calibration": {},
            "kept_fp32": {"roles": ["flow"], "nodes": 3}}
    assert parse_quantization(json.dumps(good)) == good
    for bad in ("[]", "{", json.dumps({**good, "runtime": "tensorrt"}),
                json.dumps({**good, "kept_fp32": {"roles": "flow", "nodes": 3}}),
                json.dumps({**good, "kept_fp32": {"roles": [], "nodes": -1}}),
                "[" * 100 + "]" * 100):
        with pytest.raises(UserError, match="metadata.quantization"):
            parse_quantization(bad)


def _refused(argv: list[str], folder: Path, capsys, match: str) -> None:
    before = sorted(folder.iterdir())
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert match in err, err
    assert sorted(folder.iterdir()) == before


def test_bad_calibration_and_outputs_are_one_line_with_nothing_written(
        files, tmp_path, capsys, monkeypatch) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "q.onnx"
    base = ["quantize", "--model", str(files["edsr"]), "--output", str(out), "--repeats", "1"]
    (tmp_path / "empty").mkdir()
    gray = tmp_path / "gray"
    gray.mkdir()
    from PIL import Image

    for i in range(4):
        Image.fromarray(np.zeros((20, 20), np.uint8)).save(gray / f"{i}.png")
    few = _frames(tmp_path / "few" / "clip", 2)
    small = _frames(tmp_path / "small" / "clip", 5, size=(12, 12))
    cases = [(["--calib", str(tmp_path / "empty")], "no LR frames"),
             (["--calib", str(gray)], "grayscale"),
             (["--calib", str(few.parent)], "has 2 frames; quantizing needs at least 4"),
             (["--calib", str(small.parent)], "smaller than the --lr-size 16x16"),
             (["--calib", str(files["calib"]), "--runtime", "tensorrt"], "invalid choice"),
             (["--calib", str(files["calib"]), "--runtime", "openvino"], "writes a .xml file"),
             (["--calib", str(files["calib"]), "--keep-fp32", "flow"], "no role 'flow'")]
    for extra, match in cases:
        _refused(base + extra, out_dir, capsys, match)

    import onnxruntime.quantization as ortq

    def broken(model, output, reader, **kwargs):
        raise RuntimeError("Unsupported op in node_conv2d_1 while quantizing")

    monkeypatch.setattr(ortq, "quantize_static", broken)
    _refused(base + ["--calib", str(files["calib"])], out_dir, capsys,
             "cannot quantize this graph at Conv node node_conv2d_1")


def test_existing_output_needs_force(files, tmp_path, capsys) -> None:
    out = tmp_path / "q.onnx"
    out.write_text("old")
    argv = ["quantize", "--model", str(files["edsr"]), "--calib", str(files["calib"]),
            "--output", str(out), "--repeats", "1", "--quantize-all"]
    _refused(argv, tmp_path, capsys, "exists; remove it or choose another name (or pass --force")
    assert out.read_text() == "old"
    assert main([*argv, "--force"]) == 0
    record = parse_quantization(_props(out)[QUANTIZATION])
    assert record["kept_fp32"] == {"roles": [], "nodes": 0}

"""Write the tiny exported files tests/test_exported_commands.py runs (tests/fixtures/exported/).

Exporting a video graph takes tens of seconds (the exporter traces SPyNet's pyramid), too long
for the test suite, so the files are made once here with ``srprune export`` itself and
committed:

    python scripts/make_exported_fixtures.py

The exporter's per-node tracing notes (node ``metadata_props``: about 0.7 MB of the window
graph) are removed afterwards to keep the files small; the graph and srprune's metadata are
left as written.

Models (random weights from a fixed seed, tiny widths, SPyNet of width 2; saved as srprune
files beside the exports so the tests compare against PyTorch):

* ``image.onnx`` / ``image_12x16.onnx``: EDSR x2 (1 block, 4 channels), dynamic / fixed 12x16;
* ``window.onnx``: bidirectional BasicVSR (4 channels, 1 block), 3-frame window, dynamic;
* ``cell.onnx`` / ``cell_12x16.onnx``: unidirectional BasicVSR, streaming cell, dynamic / fixed
  12x16 (a graph OpenVINO cannot reshape to another size).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from srprune.cli import main
from srprune.io.model_file import save_model
from srprune.models.basicvsr import BasicVSR, BasicVSRConfig
from srprune.models.registry import create_model

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "exported"


def _bias(model: torch.nn.Module) -> torch.nn.Module:
    """Non-zero biases, so a graph that dropped one would differ."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.05, 0.05)
    return model.eval()


def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    video = {name: _bias(BasicVSR(BasicVSRConfig(num_feat=4, num_block=1, recon_feat=4,
                                                 flow_feat=2, bidirectional=bidirectional)))
             for name, bidirectional in (("window", True), ("cell", False))}
    return {"image": _bias(create_model("edsr-1-4", 2)), **video}


def strip_node_notes(path: Path) -> None:
    """Remove the exporter's per-node ``metadata_props`` (tracing notes) from an ONNX file."""
    import onnx

    proto = onnx.load(str(path))
    for node in proto.graph.node:
        del node.metadata_props[:]
    onnx.save(proto, str(path))


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    exports = {"image": ["dynamic", "12x16"], "window": ["dynamic"], "cell": ["dynamic", "12x16"]}
    for name, model in models().items():
        weights = save_model(out / f"{name}.safetensors", model)
        for size in exports[name]:
            target = out / (f"{name}.onnx" if size == "dynamic" else f"{name}_{size}.onnx")
            assert main(["export", "--model", str(weights), "--output", str(target),
                         "--lr-size", size, "--frames", "3", "--force"]) == 0
            strip_node_notes(target)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    write(parser.parse_args().out)

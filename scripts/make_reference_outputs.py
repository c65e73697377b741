"""Write the reference outputs of BasicSR's own SRVGGNetCompact and RRDBNet modules.

BasicSR's source is read from an unpacked BasicSR release (nothing is downloaded at run time):

    pip download --no-deps basicsr==1.4.2 -d /tmp/bsr
    tar xzf /tmp/bsr/basicsr-1.4.2.tar.gz -C /tmp/bsr
    python scripts/make_reference_outputs.py --basicsr-src /tmp/bsr/basicsr-1.4.2

Only ``basicsr/archs/{srvgg,rrdbnet,arch_util}_arch.py`` are executed, unmodified; the
package-level imports they need but never call (registry, logger, deformable-conv ops,
torchvision) are stubbed. For every case of ``tests/formula_weights.py`` the module's weights
come from a closed formula (no RNG), a formula input runs through it, and the output is
written to ``tests/fixtures/{srvgg,rrdbnet}_reference.safetensors`` (float32, one tensor per
case). tests/test_srvgg.py and tests/test_rrdbnet.py rebuild the same weights, import them
through srprune's BasicSR importer and compare.
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from basicsr_loader import load_basicsr_archs  # noqa: E402

from formula_weights import (  # noqa: E402
    RRDBNET_CASES,
    SRVGG_CASES,
    formula_image,
    formula_state,
)


def load_basicsr_arch(src: Path, name: str) -> types.ModuleType:
    """``basicsr.archs.<name>`` executed from ``src`` with its unused imports stubbed."""
    return load_basicsr_archs(src, [name], restub=False)


@torch.no_grad()
def reference_outputs(cls: type[nn.Module], cases: dict, **fixed: object
                      ) -> dict[str, torch.Tensor]:
    """Output of ``cls(**fixed, **kwargs)`` with formula weights on the formula input, per case."""
    out = {}
    for name, (kwargs, (h, w)) in cases.items():
        model = cls(**fixed, **kwargs).eval()
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        model.load_state_dict(formula_state(shapes), strict=True)
        out[name] = model(formula_image(h, w)).contiguous()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--basicsr-src", type=Path, required=True,
                        help="an unpacked BasicSR release (the folder holding basicsr/)")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures")
    args = parser.parse_args()
    srvgg = load_basicsr_arch(args.basicsr_src, "srvgg_arch").SRVGGNetCompact
    rrdb = load_basicsr_arch(args.basicsr_src, "rrdbnet_arch").RRDBNet
    args.out.mkdir(parents=True, exist_ok=True)
    for stem, tensors in (
            ("srvgg_reference", reference_outputs(srvgg, SRVGG_CASES)),
            ("rrdbnet_reference", reference_outputs(rrdb, RRDBNET_CASES, num_in_ch=3,
                                                    num_out_ch=3))):
        path = args.out / f"{stem}.safetensors"
        save_file(tensors, str(path), metadata={"source": "BasicSR 1.4.2 archs, formula "
                                                          "weights (tests/formula_weights.py)"})
        print(f"{path}: {', '.join(f'{k} {tuple(v.shape)}' for k, v in tensors.items())}")


if __name__ == "__main__":
    main()

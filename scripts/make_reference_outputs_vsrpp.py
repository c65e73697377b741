"""Write the reference output of BasicSR's own BasicVSR++ module (alignment on).

BasicSR's source is read from an unpacked BasicSR release (nothing is downloaded at run time):

    pip download --no-deps basicsr==1.4.2 -d /tmp/bsr
    tar xzf /tmp/bsr/basicsr-1.4.2.tar.gz -C /tmp/bsr
    python scripts/make_reference_outputs_vsrpp.py --basicsr-src /tmp/bsr/basicsr-1.4.2

``basicsr/archs/{basicvsrpp,basicvsr,spynet,arch_util}_arch.py`` are executed unmodified. What
they import but cannot have here is stubbed: the registry and logger; ``basicsr.ops.dcn``'s
``ModulatedDeformConvPack`` by a plain module holding the same attributes and parameters (the
parent BasicSR's alignment overrides everything else of); and ``torchvision.ops.deform_conv2d``,
which BasicSR 1.4.2's alignment calls, by :func:`naive_deform_conv2d` below: corner-by-corner
bilinear gathers and an einsum, written independently of srprune's grid_sample version. BasicSR
builds the alignment only when ``torch.cuda.is_available()``; it is patched to True while the
module is built, so the alignment exists and runs (on the CPU).

The weights come from tests/vsrpp_reference.py's formula (no RNG), the clip too; the output is
written, on a stride-4 pixel grid, to ``tests/fixtures/basicvsrpp_reference.safetensors``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from unittest import mock

import torch
from safetensors.torch import save_file
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from basicsr_loader import load_basicsr_archs  # noqa: E402

from vsrpp_reference import (  # noqa: E402
    BASICSR_KWARGS,
    STRIDE,
    formula_clip,
    formula_params,
)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _bilinear(img: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """img (N,C,H,W) at real positions (N,h,w): four gathered corners, zero outside, and zero
    from one pixel outside the frame onwards (DCN kernels' convention)."""
    n, c, h_in, w_in = img.shape
    inside = (py > -1) & (py < h_in) & (px > -1) & (px < w_in)
    y0, x0 = torch.floor(py), torch.floor(px)
    flat = img.reshape(n, c, -1)
    acc = torch.zeros(n, c, *py.shape[1:], dtype=img.dtype)
    for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
        for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            ok = inside & (yy >= 0) & (yy < h_in) & (xx >= 0) & (xx < w_in)
            idx = (yy.clamp(0, h_in - 1) * w_in + xx.clamp(0, w_in - 1)).long()
            vals = flat.gather(2, idx.reshape(n, 1, -1).expand(n, c, -1)).view(acc.shape)
            acc += vals * (wy * wx * ok)[:, None]
    return acc


def naive_deform_conv2d(x, offset, weight, bias=None, stride=1, padding=0, dilation=1,
                        mask=None):  # noqa: ANN001, ANN201 - torchvision's signature
    """``torchvision.ops.deform_conv2d`` for stride 1: offsets (G, K, (dy, dx)), masks (G, K)."""
    assert _pair(stride) == (1, 1)
    (ph, pw), (dh, dw) = _pair(padding), _pair(dilation)
    n, c, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    k_all = kh * kw
    groups = offset.shape[1] // (2 * k_all)
    cg = c // groups
    ys = torch.arange(h, dtype=x.dtype).view(1, h, 1)
    xs = torch.arange(w, dtype=x.dtype).view(1, 1, w)
    cols = x.new_zeros(n, c, k_all, h, w)
    for g in range(groups):
        for k in range(k_all):
            i, j = divmod(k, kw)
            py = ys - ph + i * dh + offset[:, g * 2 * k_all + 2 * k]
            px = xs - pw + j * dw + offset[:, g * 2 * k_all + 2 * k + 1]
            m = mask[:, g * k_all + k] if mask is not None else torch.ones_like(py)
            cols[:, g * cg:(g + 1) * cg, k] = _bilinear(x[:, g * cg:(g + 1) * cg], py, px) \
                * m[:, None]
    out = torch.einsum("ock,nckhw->nohw", weight.reshape(c_out, c, k_all), cols)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class _ModulatedDeformConvPack(nn.Module):
    """BasicSR's ``ModulatedDeformConv`` attributes and parameters (its forward is unused)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, deformable_groups=1, bias=True):  # noqa: ANN001
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.groups, self.deformable_groups = groups, deformable_groups
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels // groups,
                                               *self.kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None


def load_basicsr_basicvsrpp(src: Path) -> type[nn.Module]:
    """BasicSR's ``BasicVSRPlusPlus`` class, executed from ``src``."""
    module = load_basicsr_archs(
        src, ["arch_util", "spynet_arch", "basicvsr_arch", "basicvsrpp_arch"],
        dcn_pack=_ModulatedDeformConvPack, deform_conv2d=naive_deform_conv2d)
    return module.BasicVSRPlusPlus


@torch.no_grad()
def reference_output(cls: type[nn.Module]) -> torch.Tensor:
    """BasicSR's output on the formula clip with formula weights, on the stride grid."""
    with mock.patch("torch.cuda.is_available", return_value=True):
        model = cls(**BASICSR_KWARGS).eval()
    if len(model.deform_align) != 4:
        raise SystemExit("BasicSR built no alignment modules")
    params = formula_params({k: tuple(v.shape) for k, v in model.named_parameters()})
    model.load_state_dict({**model.state_dict(), **params}, strict=True)
    out = model(formula_clip())
    return out[..., ::STRIDE, ::STRIDE].contiguous()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--basicsr-src", type=Path, required=True,
                        help="an unpacked BasicSR release (the folder holding basicsr/)")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures")
    args = parser.parse_args()
    out = reference_output(load_basicsr_basicvsrpp(args.basicsr_src))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "basicvsrpp_reference.safetensors"
    save_file({"output": out}, str(path), metadata={
        "source": "BasicSR 1.4.2 basicvsrpp_arch, alignment on, formula weights "
                  "(tests/vsrpp_reference.py)"})
    print(f"{path}: output {tuple(out.shape)}, mean {out.mean():.6f}, std {out.std():.6f}")


if __name__ == "__main__":
    main()

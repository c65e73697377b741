"""Import BasicSR, mmagic and EDSR-PyTorch checkpoints into srprune's models, strictly.

The architecture is read from the tensor shapes (``--arch`` can name it instead); the foreign
names are mapped onto srprune's (BasicSR's) names; the key sets and shapes must then match the
model built from that config exactly, or one :class:`~srprune.errors.UserError` names every
missing, unexpected and mis-shaped key. Activations have no weights: a BasicVSR's activation
(``lrelu`` as in BasicSR and mmagic, ``relu`` in the official SSL code) is the caller's statement.

Public API: :func:`import_checkpoint`, :func:`load_spynet_into`, :class:`ImportReport`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from srprune.errors import UserError
from srprune.io.import_keymaps import (
    EDSR_MEANSHIFT,
    edsr_pytorch_body_conv_index,
    is_spynet_only,
    native_key,
)
from srprune.io.import_load import Unwrapped, is_srprune_file, read_checkpoint, unwrap
from srprune.models.basicvsr import BasicVSRConfig
from srprune.models.blocks import ACTIVATIONS
from srprune.models.edsr import DIV2K_RGB_MEAN, EDSRConfig
from srprune.models.msrresnet import MSRResNetConfig
from srprune.models.registry import build_model
from srprune.models.spynet import SpyNet

Source = Literal["basicsr", "mmagic", "edsr-pytorch", "auto"]
SOURCE_NAMES = {"basicsr": "BasicSR", "mmagic": "mmagic", "edsr-pytorch": "EDSR-PyTorch"}
ARCH_NAMES = ("basicvsr", "basicvsr-uni", "basicvsr-C-B", "basicvsr-uni-C-B", "edsr", "edsr-B-C",
              "msrresnet", "msrresnet-B-C")
MAX_LISTED = 20
# The EDSR paper's large model (32 blocks x 256) and its published weights use res_scale 0.1.
_EDSR_PAPER_LARGE = (256, 32)


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        path: the checkpoint read.
        source: the layout it was read as (``basicsr``, ``mmagic``, ``edsr-pytorch``).
        container: where the state dict was found (``'params_ema' entry``, ...).
        config: the inferred model config (None for a SPyNet loaded into an existing model).
        ignored: checkpoint keys deliberately left out, as written in the file.
        notes: assumptions the import made (activation, filled buffers, derived fields).
        loaded: number of tensors loaded.
        params: parameters of the imported module.
    """

    path: str
    source: str
    container: str
    config: Any
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    loaded: int = 0
    params: int = 0

    def describe_model(self) -> str:
        """``basicvsr (num_feat=64, num_block=30, ...)`` or ``SPyNet``."""
        if self.config is None:
            return "SPyNet"
        fields = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(self.config).items()
                           if k != "arch")
        return f"{self.config.arch} ({fields})"

    def summary(self) -> str:
        """One paragraph for the command line."""
        text = (f"Imported {self.describe_model()} from the {SOURCE_NAMES[self.source]} "
                f"checkpoint {Path(self.path).name} ({self.container}): {self.loaded} tensors "
                f"loaded strictly, {self.params:,} parameters.")
        if self.ignored:
            text += (f" Ignored {len(self.ignored)} checkpoint key"
                     f"{'s' if len(self.ignored) != 1 else ''}: {_listing(self.ignored)}.")
        else:
            text += " No checkpoint keys were ignored."
        return " ".join([text, *self.notes])


def _listing(items: list[str], limit: int = MAX_LISTED) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def check_state_dict(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
                     path: str | Path, what: str, original: dict[str, str] | None = None) -> None:
    """Raise one UserError naming every missing, unexpected and mis-shaped key.

    Args:
        expected: the target module's ``state_dict()``.
        state: the renamed checkpoint tensors.
        what: the target, for the message (``basicvsr (num_feat=...)``).
        original: native name -> the name in the file, to report unexpected keys as written.
    """
    original = original or {}
    missing = [k for k in expected if k not in state]
    unexpected = [original.get(k, k) for k in state if k not in expected]
    mismatched = []
    for k, v in state.items():
        if k in expected and tuple(v.shape) != tuple(expected[k].shape):
            name = k if original.get(k, k) == k else f"{k} [{original[k]}]"
            mismatched.append(f"{name} {_shape(v)} in the checkpoint vs {_shape(expected[k])}")
    if not (missing or unexpected or mismatched):
        return
    parts = [f"{label} ({len(keys)}): {_listing(keys)}"
             for label, keys in (("missing", missing), ("unexpected", unexpected),
                                 ("shape mismatch", mismatched)) if keys]
    raise UserError(f"{path} does not match {what}: " + "; ".join(parts))


# -- architecture ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ArchSpec:
    """What ``--arch`` pins down; None fields are inferred from the tensor shapes."""

    family: str
    bidirectional: bool | None = None
    num_feat: int | None = None
    num_block: int | None = None


def parse_arch(name: str | None) -> ArchSpec | None:
    """``basicvsr``, ``basicvsr-uni``, ``basicvsr-C-B``, ``basicvsr-uni-C-B``, ``edsr``,
    ``edsr-B-C`` (the registry's names) -> an :class:`ArchSpec`."""
    if name is None:
        return None
    text = name.strip().lower()
    m = re.fullmatch(r"basicvsr(-uni)?(?:-(\d+)-(\d+))?", text)
    if m:
        return ArchSpec("basicvsr", bidirectional=None if not m[1] and not m[2] else not m[1],
                        num_feat=int(m[2]) if m[2] else None,
                        num_block=int(m[3]) if m[3] else None)
    m = re.fullmatch(r"(edsr|msrresnet)(?:-(\d+)-(\d+))?", text)
    if m:
        return ArchSpec(m[1], num_block=int(m[2]) if m[2] else None,
                        num_feat=int(m[3]) if m[3] else None)
    raise UserError(f"cannot import into architecture {name!r}; choose one of "
                    f"{', '.join(ARCH_NAMES)}")


def detect_family(keys: list[str]) -> str | None:
    """``basicvsr``, ``msrresnet``, ``edsr`` or ``spynet`` from native key names; None when
    unclear."""
    if any(k.startswith(("forward_trunk.", "backward_trunk.")) for k in keys):
        return "basicvsr"
    if any(k.startswith("upconv1.") for k in keys):
        return "msrresnet" if any(k.startswith("conv_first.") for k in keys) else "basicvsr"
    if any(k.startswith(("conv_first.", "conv_after_body.", "body.")) for k in keys):
        return "edsr"
    if is_spynet_only(keys):
        return "spynet"
    return None


def _max_index(keys: list[str], pattern: str) -> int | None:
    found = [int(m[1]) for k in keys if (m := re.match(pattern, k))]
    return max(found) if found else None


def _first_dim(state: dict[str, torch.Tensor], path: Path, field_name: str,
               candidates: list[tuple[str, int]]) -> int:
    for key, dim in candidates:
        t = state.get(key)
        if t is not None and t.dim() > dim:
            return int(t.shape[dim])
    names = ", ".join(k for k, _ in candidates)
    raise UserError(f"{path}: cannot infer {field_name} (none of {names} is present); "
                    "name the architecture with --arch")


def infer_basicvsr_config(state: dict[str, torch.Tensor], path: Path, act: str,
                          spec: ArchSpec | None) -> BasicVSRConfig:
    """BasicVSR config from native-named tensors: C from ``forward_trunk.main.0``, B by counting
    blocks, bidirectional = a backward trunk exists, recon_feat from ``conv_hr``."""
    keys = list(state)
    spec = spec or ArchSpec("basicvsr")
    bidirectional = spec.bidirectional
    if bidirectional is None:
        bidirectional = any(k.startswith("backward_trunk.") for k in keys)
    num_feat = spec.num_feat or _first_dim(state, path, "num_feat", [
        ("forward_trunk.main.0.weight", 0), ("backward_trunk.main.0.weight", 0),
        ("fusion.weight", 0), ("upconv1.weight", 1)])
    num_block = spec.num_block
    if num_block is None:
        last = _max_index(keys, r"^(?:forward|backward)_trunk\.main\.2\.(\d+)\.")
        num_block = 0 if last is None else last + 1
    recon_feat = 64
    if "conv_hr.weight" in state:
        recon_feat = int(state["conv_hr.weight"].shape[0])
    elif "upconv2.weight" in state:
        recon_feat = int(state["upconv2.weight"].shape[0]) // 4
    return BasicVSRConfig(num_feat=num_feat, num_block=num_block, bidirectional=bidirectional,
                          act=act, recon_feat=recon_feat)


def _edsr_scale(state: dict[str, torch.Tensor], path: Path, num_feat: int) -> int:
    convs = sorted((int(m[1]), state[k]) for k in state
                   if (m := re.fullmatch(r"upsample\.(\d+)\.weight", k)))
    outs = [int(w.shape[0]) for _, w in convs]
    if outs == [9 * num_feat]:
        return 3
    if outs and all(o == 4 * num_feat for o in outs):
        return 2 ** len(outs)
    shapes = ", ".join(f"upsample.{i}.weight {_shape(w)}" for i, w in convs) or "none"
    raise UserError(f"{path}: cannot infer the scale from the upsampler convs ({shapes}); "
                    f"expected one conv of {9 * num_feat} filters (x3) or convs of "
                    f"{4 * num_feat} filters (x2 each) for num_feat {num_feat}")


def _edsr_meanshift(raw: dict[str, torch.Tensor], path: Path, rgb_range: float | None
                    ) -> tuple[float, tuple[float, float, float], list[str]]:
    """``img_range`` and ``rgb_mean`` from EDSR-PyTorch's MeanShift convs.

    EDSR-PyTorch builds ``sub_mean`` with weight I/std and bias -rgb_range*mean/std and
    ``add_mean`` with +rgb_range*mean/std. srprune's EDSR needs std = 1. Only the product
    rgb_range*mean is stored, so rgb_range is taken from ``rgb_range`` or, when None, from the
    bias magnitude (255 when any |bias| > 1, else 1), and mean = -bias / rgb_range.
    """
    present = [k for k in EDSR_MEANSHIFT if k in raw]
    if not present:
        img_range = float(rgb_range or 255.0)
        return img_range, DIV2K_RGB_MEAN, [
            f"The checkpoint has no MeanShift tensors: assumed rgb_range {img_range:g} and "
            "the DIV2K mean."]
    if len(present) != len(EDSR_MEANSHIFT):
        missing = [k for k in EDSR_MEANSHIFT if k not in raw]
        raise UserError(f"{path} has an incomplete MeanShift: missing {', '.join(missing)}")
    eye = torch.eye(3, dtype=torch.float64)
    sub_w, add_w = (raw[f"{n}.weight"].double() for n in ("sub_mean", "add_mean"))
    sub_b, add_b = (raw[f"{n}.bias"].double() for n in ("sub_mean", "add_mean"))
    if sub_w.shape != (3, 3, 1, 1) or add_w.shape != (3, 3, 1, 1) or sub_b.shape != (3,) \
            or add_b.shape != (3,):
        raise UserError(f"{path}: MeanShift tensors have unexpected shapes "
                        f"(sub_mean.weight {_shape(sub_w)}, sub_mean.bias {_shape(sub_b)})")
    for name, w in (("sub_mean", sub_w), ("add_mean", add_w)):
        if not torch.allclose(w.view(3, 3), eye, atol=1e-6, rtol=0):
            raise UserError(f"{path}: {name}.weight is not the identity (rgb_std != 1); "
                            "srprune's EDSR supports rgb_std = (1, 1, 1) only")
    if not torch.allclose(add_b, -sub_b, rtol=1e-5, atol=1e-6):
        raise UserError(f"{path}: add_mean.bias {add_b.tolist()} is not the negative of "
                        f"sub_mean.bias {sub_b.tolist()}")
    notes = []
    if rgb_range is None:
        rgb_range = 255.0 if float(sub_b.abs().max()) > 1.0 else 1.0
        notes.append(f"rgb_range {rgb_range:g} inferred from the MeanShift bias (override with "
                     "--rgb-range).")
    mean = (-sub_b / rgb_range).tolist()
    if not all(0.0 <= m <= 1.0 for m in mean):
        raise UserError(f"{path}: MeanShift gives an RGB mean {mean} outside [0, 1] for "
                        f"rgb_range {rgb_range:g}; pass the right --rgb-range")
    if all(abs(m - d) < 1e-6 for m, d in zip(mean, DIV2K_RGB_MEAN, strict=True)):
        rgb_mean = DIV2K_RGB_MEAN  # float32 rounding of the standard DIV2K mean
    else:
        rgb_mean = tuple(float(np.format_float_positional(np.float32(m), unique=True))
                         for m in mean)
        notes.append(f"RGB mean {rgb_mean} taken from the MeanShift bias.")
    return float(rgb_range), rgb_mean, notes  # type: ignore[return-value]


def _feat_and_blocks(state: dict[str, torch.Tensor], path: Path, spec: ArchSpec | None,
                     width_from: list[tuple[str, int]]) -> tuple[int, int]:
    """(num_feat, num_block) of a ``body.N.conv1/conv2`` model: as ``--arch`` names them, else
    the width from the first present tensor of ``width_from`` and the blocks by counting."""
    num_feat = (spec.num_feat if spec else None) or _first_dim(state, path, "num_feat",
                                                                width_from)
    num_block = spec.num_block if spec else None
    if num_block is None:
        last = _max_index(list(state), r"^body\.(\d+)\.conv[12]\.")
        num_block = 0 if last is None else last + 1
    return num_feat, num_block


def infer_edsr_config(state: dict[str, torch.Tensor], path: Path, spec: ArchSpec | None,
                      res_scale: float | None, img_range: float, rgb_mean: tuple[float, ...],
                      notes: list[str]) -> EDSRConfig:
    """EDSR config: C from ``conv_first``, B by counting blocks, scale from the upsampler."""
    num_feat, num_block = _feat_and_blocks(state, path, spec, [
        ("conv_first.weight", 0), ("conv_after_body.weight", 0), ("conv_last.weight", 1)])
    scale = _edsr_scale(state, path, num_feat)
    if res_scale is None:
        res_scale = 1.0
        if (num_feat, num_block) == _EDSR_PAPER_LARGE:
            res_scale = 0.1
            notes.append("res_scale 0.1 assumed for the EDSR paper's 32 x 256 model (it has no "
                          "weights; override with --res-scale).")
    return EDSRConfig(num_feat=num_feat, num_block=num_block, scale=scale,
                      res_scale=float(res_scale), img_range=float(img_range),
                      rgb_mean=tuple(float(m) for m in rgb_mean))  # type: ignore[arg-type]


def infer_msrresnet_config(state: dict[str, torch.Tensor], path: Path,
                           spec: ArchSpec | None) -> MSRResNetConfig:
    """MSRResNet config: C from ``conv_first``, B by counting blocks, scale from the
    upconvs (``upconv2`` present: x4; else ``upconv1`` writes s^2 C channels)."""
    num_feat, num_block = _feat_and_blocks(state, path, spec, [
        ("conv_first.weight", 0), ("conv_hr.weight", 0), ("conv_last.weight", 1)])
    if "upconv2.weight" in state:
        scale = 4
    else:
        ratio = _first_dim(state, path, "scale", [("upconv1.weight", 0)]) // max(1, num_feat)
        scale = {4: 2, 9: 3}.get(ratio, 0)
        if not scale:
            raise UserError(f"{path}: upconv1 writes {ratio} x num_feat channels; an MSRResNet "
                            "has 4 (x2) or 9 (x3)")
    return MSRResNetConfig(num_feat=num_feat, num_block=num_block, scale=scale)


# -- import ---------------------------------------------------------------------------------
def _rename(un: Unwrapped, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Native-named tensors and native -> file name map (consumed tensors are dropped)."""
    state: dict[str, torch.Tensor] = {}
    original: dict[str, str] = {}
    for k, v in un.state.items():
        new = native_key(un.source, k)
        if new is None:
            continue
        if new in state:
            raise UserError(f"{path}: {un.original[k]!r} and {original[new]!r} both map to "
                            f"{new!r}")
        state[new] = v
        original[new] = un.original[k]
    return state, original


def _fill_spynet_buffers(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor],
                         prefix: str, notes: list[str]) -> int:
    """SPyNet's ImageNet mean/std are constants BasicSR's SPyNet files leave out: fill them.

    Returns the number of tensors filled in.
    """
    if not any(k.startswith(prefix) for k in state):
        return 0
    filled = [prefix + b for b in ("mean", "std") if prefix + b not in state]
    for k in filled:
        state[k] = expected[k].clone()
    if filled:
        notes.append(f"Filled the SPyNet buffers {' and '.join(filled)} with the ImageNet "
                     "defaults (absent from the checkpoint).")
    return len(filled)


def _count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _dtype_note(state: dict[str, torch.Tensor]) -> list[str]:
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in state.values()
                     if v.dtype != torch.float32})
    return [f"Converted {', '.join(dtypes)} tensors to float32."] if dtypes else []


def import_checkpoint(path: str | Path, source: Source = "auto", arch: str | None = None,
                      act: str = "lrelu", params_key: str | None = None, *,
                      res_scale: float | None = None, rgb_range: float | None = None
                      ) -> tuple[nn.Module, ImportReport]:
    """Build the srprune model a foreign checkpoint describes and load its weights strictly.

    Args:
        path: a ``.pth``/``.pt`` checkpoint (read with ``weights_only=True``) or a foreign
            ``.safetensors`` file.
        source: ``basicsr``, ``mmagic``, ``edsr-pytorch`` or ``auto`` (from container and names).
        arch: None to infer everything from the shapes, or a name that pins the family and
            optionally the sizes: ``basicvsr``, ``basicvsr-uni``, ``basicvsr-C-B``,
            ``basicvsr-uni-C-B``, ``edsr``, ``edsr-B-C``.
        act: BasicVSR activation, ``lrelu`` (BasicSR, mmagic) or ``relu`` (official SSL code).
        params_key: BasicSR container entry ``params`` or ``params_ema``; None picks
            ``params_ema`` when present, else ``params``.
        res_scale: EDSR residual scaling (not stored in weights); None means 1, or 0.1 for the
            paper's 32 x 256 model.
        rgb_range: EDSR pixel range; None infers it from EDSR-PyTorch's MeanShift (else 255).

    A checkpoint holding only SPyNet weights needs ``arch`` naming a BasicVSR: the returned
    model then has the imported SPyNet and freshly initialised (seed 0) other weights.

    Returns:
        The model (eval mode, CPU) and an :class:`ImportReport`.

    Raises:
        UserError: unreadable or unsafe file, unknown layout, or any key/shape mismatch.
    """
    path = Path(path)
    if act not in ACTIVATIONS:
        raise UserError(f"unknown activation {act!r}; choose one of {', '.join(ACTIVATIONS)}")
    spec = parse_arch(arch)
    if is_srprune_file(path):
        raise UserError(f"{path} is already an srprune model file; load it directly")
    un = unwrap(read_checkpoint(path), path, source, params_key)
    state, original = _rename(un, path)
    notes: list[str] = []
    fresh: dict[str, torch.Tensor] = {}  # freshly initialised tensors (SPyNet-only files)
    family = detect_family(list(state))
    if family is None and spec is None:
        raise UserError(f"{path}: cannot tell the architecture from its keys "
                        f"({_listing(list(un.original.values()), 8)}); name it with --arch")
    if spec is not None and family not in (None, spec.family) and not (
            family == "spynet" and spec.family == "basicvsr"):
        raise UserError(f"{path} looks like a {family} checkpoint, not {arch}")

    if family == "spynet":
        if spec is None or spec.family != "basicvsr":
            raise UserError(f"{path} holds only SPyNet weights; pass --arch basicvsr[-uni][-C-B] "
                            "to start a BasicVSR from them, or import it with --spynet")
        base = BasicVSRConfig()
        config = BasicVSRConfig(num_feat=spec.num_feat or base.num_feat,
                                num_block=spec.num_block or base.num_block,
                                bidirectional=True if spec.bidirectional is None
                                else spec.bidirectional, act=act)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build_model(config)
        original = {"spynet." + k: v for k, v in original.items()}
        fresh = {k: v for k, v in model.state_dict().items() if not k.startswith("spynet.")}
        state = {**fresh, **{"spynet." + k: v for k, v in state.items()}}
        notes.append("Only SPyNet weights were imported; every other weight is freshly "
                     "initialised (seed 0).")
    elif (spec.family if spec else family) == "basicvsr":
        config = infer_basicvsr_config(state, path, act, spec)
        model = build_model(config)
    elif (spec.family if spec else family) == "msrresnet":
        config = infer_msrresnet_config(state, path, spec)
        model = build_model(config)
    else:
        img_range, rgb_mean = float(rgb_range or 255.0), DIV2K_RGB_MEAN
        if un.source == "edsr-pytorch":
            body_convs = edsr_pytorch_body_conv_index(un.state)
            last = _max_index(list(un.state), r"^body\.(\d+)\.body\.")
            if len(body_convs) > 1 or (body_convs and last is not None and body_convs[0] <= last):
                convs = ", ".join(f"body.{i}" for i in body_convs)
                raise UserError(f"{path}: the plain body conv ({convs}) must be the single, last "
                                "body entry of an EDSR-PyTorch model")
            img_range, rgb_mean, ms_notes = _edsr_meanshift(un.state, path, rgb_range)
            notes += ms_notes
        config = infer_edsr_config(state, path, spec, res_scale, img_range, rgb_mean, notes)
        model = build_model(config)

    expected = model.state_dict()
    filled = 0
    if isinstance(config, BasicVSRConfig):
        filled = _fill_spynet_buffers(state, expected, "spynet.", notes)
        notes.insert(0, "Activation lrelu by default: activations carry no weights, so pass "
                        "--act relu for checkpoints of the official SSL code." if act == "lrelu"
                     else "Activation relu as stated (activations carry no weights).")
    check_state_dict(expected, state, path, f"{config.arch} ({_config_fields(config)})",
                     original)
    model.load_state_dict(state, strict=True)
    notes += _dtype_note(state)
    report = ImportReport(str(path), un.source, un.container, config, ignored=un.ignored,
                          notes=notes, loaded=len(state) - len(fresh) - filled,
                          params=_count_params(model))
    return model.eval(), report


def _config_fields(config: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items() if k != "arch")


def _spynet_of(model: nn.Module) -> nn.Module:
    if isinstance(model, SpyNet):
        return model
    spynet = getattr(model, "spynet", None)
    if not isinstance(spynet, SpyNet):
        raise UserError(f"{type(model).__name__} has no SPyNet to load weights into")
    return spynet


def load_spynet_into(model: nn.Module, path: str | Path, source: Source = "auto",
                     params_key: str | None = None) -> ImportReport:
    """Load SPyNet weights into ``model.spynet`` (or into ``model`` if it is a SpyNet), strictly.

    Accepts BasicSR's SPyNet files (``{'params': {'basic_module.{l}.basic_module.{0,2,4,6,8}.*'}}``,
    usually without the mean/std buffers, which are then filled with the ImageNet defaults),
    mmagic's (``basic_module.{l}.basic_module.{0..4}.conv.*``), and full BasicVSR checkpoints of
    either layout, whose ``spynet.*`` tensors are taken and the rest reported as ignored.
    """
    path = Path(path)
    target = _spynet_of(model)
    if source == "edsr-pytorch":
        raise UserError("EDSR-PyTorch checkpoints hold no SPyNet")
    un = unwrap(read_checkpoint(path), path, source, params_key)
    state, original = _rename(un, path)
    ignored = list(un.ignored)
    if any(k.startswith("spynet.") for k in state):
        ignored += [original[k] for k in state if not k.startswith("spynet.")]
        original = {k[len("spynet."):]: original[k] for k in state if k.startswith("spynet.")}
        state = {k[len("spynet."):]: v for k, v in state.items() if k.startswith("spynet.")}
    notes: list[str] = []
    expected = target.state_dict()
    filled = _fill_spynet_buffers(state, expected, "", notes)
    check_state_dict(expected, state, path, "SPyNet", original)
    target.load_state_dict(state, strict=True)
    notes += _dtype_note(state)
    return ImportReport(str(path), un.source, un.container, None, ignored=ignored, notes=notes,
                        loaded=len(state) - filled, params=_count_params(target))

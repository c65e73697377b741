"""Import BasicSR, mmagic and EDSR-PyTorch checkpoints into srprune's models, strictly.

A generic driver over the architectures' registrations: the file is read and unwrapped, its keys
are renamed through every family's key map for the file's layout, the family is detected from the
native names (each family's detector, in priority order; ``--arch`` can name it instead), the
family infers its config from the tensor shapes, and the key sets and shapes must then match the
model built from that config exactly, or one :class:`~srprune.errors.UserError` names every
missing, unexpected and mis-shaped key. The per-family pieces (key maps, detection, shape
inference, options such as BasicVSR's activation or EDSR's ``res_scale``) are each family's
:class:`~srprune.models.import_spec.ArchImporter`, next to its model file.

Public API: :func:`import_checkpoint`, :func:`load_spynet_into`, :class:`ImportReport`,
:func:`parse_arch`, :func:`detect_family`, :func:`import_options`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from srprune.errors import UserError
from srprune.io.import_keymaps import importable_specs, native_key
from srprune.io.import_load import Unwrapped, is_srprune_file, read_checkpoint, unwrap
from srprune.models.import_spec import ImportContext, ImportOption, PartialImport
from srprune.models.limits import check_value
from srprune.models.registry import build_model
from srprune.models.spec import SPECS, ModelSpec

Source = Literal["basicsr", "mmagic", "edsr-pytorch", "auto"]
SOURCE_NAMES = {"basicsr": "BasicSR", "mmagic": "mmagic", "edsr-pytorch": "EDSR-PyTorch"}
MAX_LISTED = 20
_KNOWN_CONTAINERS = ("params", "params_ema", "state_dict")


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
        part: the sub-module loaded when ``config`` is None (``SPyNet``).
    """

    path: str
    source: str
    container: str
    config: Any
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    loaded: int = 0
    params: int = 0
    part: str = ""

    def describe_model(self) -> str:
        """``basicvsr (num_feat=64, num_block=30, ...)`` or ``SPyNet``."""
        if self.config is None:
            return self.part
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
def arch_names() -> tuple[str, ...]:
    """The ``--arch`` names: every importable family's name patterns (``edsr-B-C``), in
    registration order."""
    return tuple(p.label for spec in SPECS.values() if spec.importer for p in spec.names)


ARCH_NAMES = arch_names()


@dataclass(frozen=True)
class ArchSpec:
    """What ``--arch`` pins down: the family's spec and the config fields its name fixes; every
    other config field reads as None (inferred from the tensor shapes)."""

    spec: ModelSpec
    pinned: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def family(self) -> str:
        """The architecture (``basicvsr``)."""
        return self.spec.arch

    def __getattr__(self, name: str) -> Any:
        spec = self.__dict__.get("spec")
        if spec is not None and name in spec.field_names:
            return self.pinned.get(name)
        raise AttributeError(name)


def parse_arch(name: str | None) -> ArchSpec | None:
    """An ``--arch`` name (one of :func:`arch_names`, e.g. ``basicvsr-uni-C-B``, ``edsr-B-C``)
    -> an :class:`ArchSpec`; None for None."""
    if name is None:
        return None
    for spec in (s for s in SPECS.values() if s.importer):
        for pattern in spec.names:
            m = pattern.match(name)
            if m:
                return ArchSpec(spec, pattern.fields(m))
    raise UserError(f"cannot import into architecture {name!r}; choose one of "
                    f"{', '.join(arch_names())}")


def _detect(keys: list[str]) -> tuple[ModelSpec, PartialImport | None] | None:
    specs = importable_specs()
    for spec in specs:
        if spec.importer.detect(keys):
            return spec, None
    for spec in specs:
        part = spec.importer.partial
        if part is not None and part.detect(keys):
            return spec, part
    return None


def detect_family(keys: list[str]) -> str | None:
    """The architecture native key names belong to (its detectors in priority order), the name
    of a sub-module-only file (``spynet``), or None when unclear."""
    found = _detect(keys)
    if found is None:
        return None
    spec, part = found
    return part.name if part is not None else spec.arch


# -- options --------------------------------------------------------------------------------
def import_options() -> tuple[ImportOption, ...]:
    """Every importable family's options, once each (``srprune convert`` adds them as flags)."""
    seen: dict[str, ImportOption] = {}
    for spec in importable_specs():
        for opt in spec.importer.options:
            seen.setdefault(opt.name, opt)
    return tuple(seen.values())


def _given_options(values: dict[str, Any]) -> dict[str, Any]:
    """The options given (not None), each checked against its bound."""
    known = {o.name: o for o in import_options()}
    given = {k: v for k, v in values.items() if v is not None}
    for name, value in given.items():
        opt = known.get(name)
        if opt is None:
            raise UserError(f"unknown import option {name!r}; known: {', '.join(known)}")
        check_value(f"{opt.flag} ({opt.what})", opt.bound, value)
    return given


def _check_options_apply(spec: ModelSpec, given: dict[str, Any], path: Path) -> None:
    own = {o.name for o in spec.importer.options}
    for name in given:
        if name not in own:
            flag = next(o.flag for o in import_options() if o.name == name)
            titles = [s.title for s in importable_specs()
                      if any(o.name == name for o in s.importer.options)]
            raise UserError(f"{flag} applies to {' and '.join(titles)} checkpoints; {path} is "
                            f"{spec.arch}")


# -- import ---------------------------------------------------------------------------------
def _open_container(obj: Any, path: Path, source: str, params_key: str | None) -> Unwrapped:
    """:func:`unwrap`, after taking the state dict out of a container entry an architecture
    declares (``ArchImporter.containers``)."""
    extra = [c for s in importable_specs() for c in s.importer.containers
             if c not in _KNOWN_CONTAINERS]
    entry = next((c for c in extra if isinstance(obj, dict) and isinstance(obj.get(c), dict)), None)
    if entry is None or source not in ("auto", "basicsr") or params_key is not None or any(
            k in obj for k in _KNOWN_CONTAINERS):
        return unwrap(obj, path, source, params_key)
    un = unwrap(obj[entry], path, source)
    un.container = f"{entry!r} entry"
    un.ignored = [str(k) for k in obj if k != entry] + un.ignored
    return un


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


def _choose_family(ctx: ImportContext, choice: ArchSpec | None, un: Unwrapped, arch: str | None
                   ) -> tuple[ModelSpec, PartialImport | None]:
    """The family (and sub-module-only part) from the detectors and ``--arch``."""
    found = _detect(list(ctx.state))
    if found is None:
        if choice is None:
            raise UserError(f"{ctx.path}: cannot tell the architecture from its keys "
                            f"({_listing(list(un.original.values()), 8)}); name it with --arch")
        return choice.spec, None
    spec, part = found
    if choice is not None and choice.spec.arch != spec.arch:
        raise UserError(f"{ctx.path} looks like a {part.name if part else spec.arch} checkpoint, "
                        f"not {arch}")
    if part is not None and choice is None:
        raise UserError(f"{ctx.path} holds only {part.title} weights; {part.hint}")
    return spec, part


def _start_from_part(ctx: ImportContext, spec: ModelSpec, part: PartialImport,
                     original: dict[str, str]) -> tuple[nn.Module, Any, int, dict[str, str]]:
    """A model around a sub-module-only file: the rest freshly initialised (seed 0).

    Returns the model, its config, the number of fresh tensors and the renamed file names.
    """
    config = spec.config_cls(**part.config(ctx))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(config)
    fresh = {k: v for k, v in model.state_dict().items() if not k.startswith(part.prefix)}
    ctx.state = {**fresh, **{part.prefix + k: v for k, v in ctx.state.items()}}
    ctx.notes.append(f"Only {part.title} weights were imported; every other weight is freshly "
                     "initialised (seed 0).")
    return model, config, len(fresh), {part.prefix + k: v for k, v in original.items()}


def _count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _dtype_note(state: dict[str, torch.Tensor]) -> list[str]:
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in state.values()
                     if v.dtype != torch.float32})
    return [f"Converted {', '.join(dtypes)} tensors to float32."] if dtypes else []


def import_checkpoint(path: str | Path, source: Source = "auto", arch: str | None = None,
                      act: str | None = None, params_key: str | None = None, *,
                      res_scale: float | None = None, rgb_range: float | None = None,
                      **options: Any) -> tuple[nn.Module, ImportReport]:
    """Build the srprune model a foreign checkpoint describes and load its weights strictly.

    Args:
        path: a ``.pth``/``.pt`` checkpoint (read with ``weights_only=True``) or a foreign
            ``.safetensors`` file.
        source: ``basicsr``, ``mmagic``, ``edsr-pytorch`` or ``auto`` (from container and names).
        arch: None to infer everything from the shapes, or a name that pins the family and
            optionally the sizes (:func:`arch_names`: ``basicvsr``, ``basicvsr-uni-C-B``,
            ``edsr-B-C``, ...).
        act: BasicVSR activation, ``lrelu`` (BasicSR, mmagic; the default) or ``relu``
            (official SSL code).
        params_key: BasicSR container entry ``params`` or ``params_ema``; None picks
            ``params_ema`` when present, else ``params``.
        res_scale: EDSR residual scaling (not stored in weights); None means 1, or 0.1 for the
            paper's 32 x 256 model.
        rgb_range: EDSR pixel range; None infers it from EDSR-PyTorch's MeanShift (else 255).
        options: other families' import options (:func:`import_options`); None = not given.

    A checkpoint holding only SPyNet weights needs ``arch`` naming a BasicVSR: the returned
    model then has the imported SPyNet and freshly initialised (seed 0) other weights.

    Returns:
        The model (eval mode, CPU) and an :class:`ImportReport`.

    Raises:
        UserError: unreadable or unsafe file, unknown layout, an option the family does not
            take, or any key/shape mismatch.
    """
    path = Path(path)
    given = _given_options({"act": act, "res_scale": res_scale, "rgb_range": rgb_range,
                            **options})
    choice = parse_arch(arch)
    if is_srprune_file(path):
        raise UserError(f"{path} is already an srprune model file; load it directly")
    un = _open_container(read_checkpoint(path), path, source, params_key)
    state, original = _rename(un, path)
    ctx = ImportContext(path, un.source, state, un.state,
                        pinned=dict(choice.pinned) if choice else {}, options=given)
    spec, part = _choose_family(ctx, choice, un, arch)
    _check_options_apply(spec, given, path)
    fresh = 0
    if part is not None:
        model, config, fresh, original = _start_from_part(ctx, spec, part, original)
    else:
        config = spec.config_cls(**spec.importer.infer_config(ctx))
        model = build_model(config)
    expected = model.state_dict()
    filled = spec.importer.finish(ctx, expected) if spec.importer.finish else 0
    check_state_dict(expected, ctx.state, path, f"{config.arch} ({_config_fields(config)})",
                     original)
    model.load_state_dict(ctx.state, strict=True)
    report = ImportReport(str(path), un.source, un.container, config, ignored=un.ignored,
                          notes=ctx.notes + _dtype_note(ctx.state),
                          loaded=len(ctx.state) - fresh - filled, params=_count_params(model))
    return model.eval(), report


def _config_fields(config: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items() if k != "arch")


# -- sub-module-only files ------------------------------------------------------------------
def _part(name: str) -> tuple[ModelSpec, PartialImport]:
    for spec in importable_specs():
        part = spec.importer.partial
        if part is not None and part.name == name:
            return spec, part
    raise UserError(f"no registered architecture imports {name} files")


def load_part_into(model: nn.Module, path: str | Path, name: str, source: Source = "auto",
                   params_key: str | None = None) -> ImportReport:
    """Load a sub-module's weights (a :class:`~srprune.models.import_spec.PartialImport`, e.g.
    ``spynet``) into ``model``'s sub-module, or into ``model`` if it is one, strictly.

    Accepts files of the sub-module alone and full checkpoints of its family, whose
    ``prefix.*`` tensors are taken and the rest reported as ignored.
    """
    path = Path(path)
    spec, part = _part(name)
    attr = part.prefix.rstrip(".")
    target = model if isinstance(model, part.module_cls) else getattr(model, attr, None)
    if not isinstance(target, part.module_cls):
        raise UserError(f"{type(model).__name__} has no {part.title} to load weights into")
    if source in SOURCE_NAMES and source != "basicsr" and source not in spec.importer.key_maps:
        raise UserError(f"{SOURCE_NAMES[source]} checkpoints hold no {part.title}")
    un = unwrap(read_checkpoint(path), path, source, params_key)
    state, original = _rename(un, path)
    ignored = list(un.ignored)
    if any(k.startswith(part.prefix) for k in state):
        ignored += [original[k] for k in state if not k.startswith(part.prefix)]
        original = {k[len(part.prefix):]: original[k] for k in state if k.startswith(part.prefix)}
        state = {k[len(part.prefix):]: v for k, v in state.items() if k.startswith(part.prefix)}
    notes: list[str] = []
    expected = target.state_dict()
    filled = part.fill(state, expected, "", notes) if part.fill else 0
    check_state_dict(expected, state, path, part.title, original)
    target.load_state_dict(state, strict=True)
    notes += _dtype_note(state)
    return ImportReport(str(path), un.source, un.container, None, ignored=ignored, notes=notes,
                        loaded=len(state) - filled, params=_count_params(target), part=part.title)


def load_spynet_into(model: nn.Module, path: str | Path, source: Source = "auto",
                     params_key: str | None = None) -> ImportReport:
    """Load SPyNet weights into ``model.spynet`` (or into ``model`` if it is a SpyNet), strictly.

    Accepts BasicSR's SPyNet files (``{'params': {'basic_module.{l}.basic_module.{0,2,4,6,8}.*'}}``,
    usually without the mean/std buffers, which are then filled with the ImageNet defaults),
    mmagic's (``basic_module.{l}.basic_module.{0..4}.conv.*``), and full BasicVSR checkpoints of
    either layout, whose ``spynet.*`` tensors are taken and the rest reported as ignored.
    """
    return load_part_into(model, path, "spynet", source, params_key)

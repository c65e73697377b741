"""Execute BasicSR's own architecture files from an unpacked release, unmodified.

Shared by scripts/make_reference_outputs.py, scripts/make_reference_outputs_vsrpp.py and
bench/vs_basicsr.py. Only ``basicsr/archs/<name>.py`` files run; the package-level imports
they need but never call (registry, logger, deformable-conv ops, torchvision, distutils'
``LooseVersion`` on Pythons without distutils) are stubbed in ``sys.modules``.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path

from torch import nn


def stub(name: str, **attrs: object) -> types.ModuleType:
    """Register an empty module ``name`` holding ``attrs`` in ``sys.modules``."""
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


class Registry:
    """BasicSR's ``ARCH_REGISTRY``: ``register`` returns the class unchanged."""

    def register(self, obj: object = None, suffix: object = None) -> object:
        return obj if obj is not None else (lambda o: o)


class LooseVersion(tuple):
    """``distutils.version.LooseVersion`` as BasicSR compares torch versions: (major, minor)."""

    def __new__(cls, text: str) -> LooseVersion:
        return super().__new__(cls, (int(p) for p in text.split("+")[0].split(".")[:2]))


def _install_stubs(archs: Path, dcn_pack: type[nn.Module],
                   deform_conv2d: Callable[..., object] | None) -> None:
    stub("basicsr", __path__=[])
    stub("basicsr.utils", get_root_logger=lambda *a, **k: None, scandir=lambda *a, **k: [])
    stub("basicsr.utils.registry", ARCH_REGISTRY=Registry())
    stub("basicsr.ops", __path__=[])
    stub("basicsr.ops.dcn", ModulatedDeformConvPack=dcn_pack, modulated_deform_conv=None)
    stub("basicsr.archs", __path__=[str(archs)])
    if deform_conv2d is not None:
        tv = stub("torchvision", __path__=[], __version__="0.0")
        tv.ops = stub("torchvision.ops", deform_conv2d=deform_conv2d)
    elif importlib.util.find_spec("torchvision") is None:
        stub("torchvision", __version__="0.0")
    try:
        import distutils.version  # noqa: F401
    except ImportError:
        stub("distutils", __path__=[])
        stub("distutils.version", LooseVersion=LooseVersion)


def load_basicsr_archs(src: Path, names: Sequence[str], *, dcn_pack: type[nn.Module] = nn.Module,
                       deform_conv2d: Callable[..., object] | None = None,
                       restub: bool = True) -> types.ModuleType:
    """Execute ``basicsr/archs/<name>.py`` of the release at ``src`` for each of ``names`` in
    order (as ``basicsr.archs.<name>``) and return the last module.

    Args:
        dcn_pack: the class standing in for ``basicsr.ops.dcn.ModulatedDeformConvPack``.
        deform_conv2d: if given, ``torchvision`` is stubbed with ``ops.deform_conv2d`` set to
            it; otherwise torchvision is stubbed only when it is not installed.
        restub: install the stubs even when an earlier call did (``False``: keep them, so
            modules loaded before stay importable from the same stub package).

    Raises:
        SystemExit: a file is missing (not an unpacked BasicSR release).
    """
    archs = src / "basicsr" / "archs"
    for name in names:
        if not (archs / f"{name}.py").is_file():
            raise SystemExit(f"{archs / (name + '.py')} not found: unpack a BasicSR release")
    if restub or "basicsr.archs" not in sys.modules:
        _install_stubs(archs, dcn_pack, deform_conv2d)
    module = None
    for name in names:
        spec = importlib.util.spec_from_file_location(f"basicsr.archs.{name}",
                                                      archs / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module

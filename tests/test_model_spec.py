"""One registration per architecture: complete specs, unknown archs refused everywhere, and a toy
architecture registered here (this file only) that the registry, the bounds and memory checks and
the checkpoint importer then know."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from srprune.errors import UserError
from srprune.io.importers import detect_family, import_checkpoint, parse_arch
from srprune.models import registry
from srprune.models.import_spec import ArchImporter, ImportOption, count_blocks, first_dim
from srprune.models.limits import (
    BLOCKS,
    FEAT,
    check_config,
    check_config_dict,
    inference_floats_per_pixel,
    residual_trunk_floats,
)
from srprune.models.spec import (
    EXPORT_KINDS,
    SPECS,
    MemoryModel,
    NamePattern,
    image_export,
    register_arch,
    spec_for,
    unregister_arch,
)
from srprune.resources import RUNTIME_BYTES, estimate_inference_bytes, estimate_training_bytes

BUILTIN = ("basicvsr", "edsr", "esrb", "msrresnet", "bicubic")


@pytest.mark.parametrize("arch", BUILTIN)
def test_builtin_spec_is_complete(arch):
    spec = spec_for(arch)
    assert spec.model_cls is registry.ARCHS[arch][1]
    assert spec.config_cls().arch == arch
    assert spec.names and spec.scales and "scale" in spec.bounds
    assert set(spec.bounds) <= spec.field_names
    for pattern in spec.names:  # every name parses to a buildable config of this family
        name = pattern.label.replace("-C-B", "-8-2").replace("-B-C", "-2-8").replace("-N-C", "-2-8")
        cfg = registry.config_from_name(name, spec.scales[-1])
        assert cfg.arch == arch
        check_config(cfg)
        if spec.importer is not None:  # --arch takes the same names
            assert parse_arch(name).family == arch
    default = spec.config_cls()
    per_frame, fixed = spec.memory.inference(default)
    assert per_frame > 0 and fixed >= 0 and spec.memory.training(default) >= 0
    assert spec.export_kind(default) in EXPORT_KINDS
    for label, cfg in spec.tiny.items():
        assert cfg.arch == arch and registry.TINY[label] is cfg


def test_export_forms():
    assert spec_for("basicvsr").export_kind(registry.config_from_name("basicvsr")) == "window"
    assert spec_for("basicvsr").export_kind(registry.config_from_name("basicvsr-uni")) == "stream"
    assert spec_for("edsr").export_kind(registry.config_from_name("edsr")) == "image"


def test_scales_come_from_the_spec():
    with pytest.raises(UserError, match="is a x4 model; --scale 2"):
        registry.config_from_name("basicvsr", 2)
    with pytest.raises(UserError, match="x2, x3, x4 only; --scale 5"):
        registry.config_from_name("edsr", 5)
    assert registry.config_from_name("bicubic", 8).scale == 8


@dataclass(frozen=True, kw_only=True)
class VGGConfig:
    """A config of an unregistered architecture."""

    arch: str = "vgg"
    scale: int = 2


def test_unknown_arch_is_an_error_everywhere():
    cfg = VGGConfig()
    for call in (lambda: spec_for("vgg"), lambda: registry.build_model(cfg),
                 lambda: registry.config_from_dict({"arch": "vgg", "scale": 2}),
                 lambda: registry.config_from_dict({"scale": 2}),
                 lambda: check_config(cfg), lambda: check_config_dict({"arch": "vgg"}),
                 lambda: inference_floats_per_pixel(cfg),
                 lambda: estimate_inference_bytes(cfg, (8, 8)),
                 lambda: estimate_training_bytes(cfg, (8, 8), 1, 1)):
        with pytest.raises(UserError, match=r"unknown architecture .*known: basicvsr, .*edsr"):
            call()
    with pytest.raises(UserError, match="cannot import into architecture 'vgg'"):
        parse_arch("vgg")


# -- a toy architecture: everything below is what its own model file would hold -------------
@dataclass(frozen=True, kw_only=True)
class ToyConfig:
    """conv(3 -> C), ``num_block`` x (conv, ReLU), conv(C -> 3 s^2), pixel shuffle."""

    arch: str = "toy"
    num_feat: int = 8
    num_block: int = 1
    scale: int = 2


class Toy(nn.Module):
    """A tiny image SR net in BasicSR-style names."""

    is_video = False
    causal = True
    flow_net = None
    hidden_states: dict[str, str | None] = {}

    def __init__(self, config: ToyConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ToyConfig()
        self.conv_first = nn.Conv2d(3, cfg.num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[nn.Sequential(nn.Conv2d(cfg.num_feat, cfg.num_feat, 3, 1, 1),
                                                  nn.ReLU()) for _ in range(cfg.num_block)])
        self.conv_up = nn.Conv2d(cfg.num_feat, 3 * cfg.scale ** 2, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(cfg.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv_up(self.body(self.conv_first(x))))


TOY_REGISTRATION = dict(
    arch="toy", title="Toy", config=ToyConfig,
    names=(NamePattern("toy", r"toy"),
           NamePattern("toy-B-C", r"toy-(\d+)-(\d+)",
                       lambda m: {"num_block": int(m[1]), "num_feat": int(m[2])})),
    tiny={"toy": ToyConfig(num_feat=4)},
    bounds={"num_feat": FEAT, "num_block": BLOCKS, "scale": ("int", (2, 3))},
    scales=(2, 3),
    memory=MemoryModel(lambda c: (float(4 * c.num_feat + 3 * c.scale ** 2), 0.0),
                       lambda c: residual_trunk_floats(c.num_feat, c.num_block)),
    export=image_export,
)
"""What ``@register_arch(...)`` on ``Toy`` would say in the toy's model file."""


@pytest.fixture
def toy():
    """The toy registered for one test (a model file's decorator, applied here so that the
    registration can be undone)."""
    register_arch(**TOY_REGISTRATION)(Toy)
    yield SPECS["toy"]
    unregister_arch("toy")
    assert "toy" not in SPECS


def test_toy_is_built_by_name_bounded_and_estimated(toy):
    model = registry.create_model("toy-3-6", scale=3)
    assert isinstance(model, Toy) and len(model.body) == 3 and model.config.num_feat == 6
    assert model(torch.rand(1, 3, 5, 5)).shape == (1, 3, 15, 15)
    assert "toy-B-C" in registry.model_names() and "toy" in registry.tiny_configs()
    with pytest.raises(UserError, match="x2, x3 only; --scale 4"):
        registry.config_from_name("toy", 4)
    with pytest.raises(UserError, match="toy num_feat 0 is out of bounds"):
        registry.build_model(ToyConfig(num_feat=0))
    with pytest.raises(UserError, match="toy num_block must be a whole number"):
        registry.config_from_dict({"arch": "toy", "num_block": 1.5})
    with pytest.raises(UserError, match="unknown toy config keys: width"):
        registry.config_from_dict({"arch": "toy", "width": 3})
    cfg = registry.config_from_dict(registry.config_to_dict(model.config))
    assert cfg == model.config
    assert inference_floats_per_pixel(cfg) == (4 * 6 + 27, 0.0)
    weights = sum(p.numel() for p in model.parameters()) * 4
    assert estimate_inference_bytes(cfg, (10, 10)) == \
        2 * weights + 100 * (4 * 6 + 27) * 4 + RUNTIME_BYTES
    kept = (2 * 3 + 2) * 2 * 6  # residual_trunk_floats(6, 3)
    assert estimate_training_bytes(cfg, (10, 10), 1, 1) == \
        4 * weights + 100 * (4 * 6 + 27 + kept) * 4
    assert toy.export_kind(cfg) == "image"


def test_duplicate_registration_is_refused(toy):
    class Other(Toy):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_arch(**TOY_REGISTRATION)(Other)


# -- the toy's importer: also what its own file would hold ----------------------------------
def _toy_detect(keys):
    return any(k.startswith("conv_up.") for k in keys) and any(
        re.match(r"body\.\d+\.0\.", k) for k in keys)


def _toy_infer(ctx):
    fields = {"num_feat": ctx.pinned.get("num_feat") or first_dim(ctx, "num_feat", [
        ("conv_first.weight", 0)]),
        "num_block": count_blocks(list(ctx.state), r"^body\.(\d+)\.0\.")}
    ctx.notes.append("Toy import.")
    out = first_dim(ctx, "scale", [("conv_up.weight", 0)])
    return {**fields, "scale": ctx.options.get("toy_scale") or int(round((out / 3) ** 0.5))}


TOY_IMPORTER = ArchImporter(
    key_maps={}, detect=_toy_detect, infer_config=_toy_infer, priority=5,
    options=(ImportOption("toy_scale", "--toy-scale", ("int", (2, 3)), "toy scale",
                          "toy scale (default: from conv_up)"),),
    containers=("model",))


@pytest.fixture
def toy_importable():
    register_arch(**TOY_REGISTRATION, importer=TOY_IMPORTER)(Toy)
    yield SPECS["toy"]
    unregister_arch("toy")


def test_toy_imports_from_a_basicsr_state_dict(toy_importable, tmp_path):
    torch.manual_seed(0)
    native = Toy(ToyConfig(num_feat=5, num_block=2, scale=3)).eval()
    sd = native.state_dict()
    assert detect_family(list(sd)) == "toy" and parse_arch("toy-2-5").num_feat == 5
    x = torch.rand(1, 3, 4, 6)
    for container in ("params", "model"):
        path = tmp_path / f"{container}.pth"
        torch.save({container: sd, "epoch": 3}, path)
        model, report = import_checkpoint(path)
        assert model.config == native.config and report.loaded == len(sd)
        assert report.container == f"{container!r} entry" and report.ignored == ["epoch"]
        assert "Toy import." in report.notes
        assert torch.equal(model(x), native(x))
    assert import_checkpoint(path, toy_scale=3)[0].config.scale == 3
    with pytest.raises(UserError, match="shape mismatch"):
        import_checkpoint(path, toy_scale=2)
    with pytest.raises(UserError, match="--toy-scale .* out of bounds"):
        import_checkpoint(path, toy_scale=7)
    with pytest.raises(UserError, match="looks like a toy checkpoint, not edsr"):
        import_checkpoint(path, arch="edsr")
    with pytest.raises(UserError, match="--act applies to BasicVSR.* checkpoints; .* is toy"):
        import_checkpoint(path, act="relu")
    edsr = tmp_path / "edsr.pth"
    torch.save({"params": registry.build_model(registry.TINY["edsr"]).state_dict()}, edsr)
    with pytest.raises(UserError, match="--toy-scale applies to Toy checkpoints; .* is edsr"):
        import_checkpoint(edsr, toy_scale=2)


def test_unregistered_families_do_not_import(tmp_path):
    sd = Toy(ToyConfig()).state_dict()
    path = tmp_path / "toy.pth"
    torch.save({"params": sd}, path)
    with pytest.raises(UserError):  # EDSR's detector takes it (body.*) and fails on its shapes
        import_checkpoint(path)
    with pytest.raises(UserError, match="cannot import into architecture 'toy'; choose one of "
                                        "basicvsr, "):
        import_checkpoint(path, arch="toy")
    with pytest.raises(UserError, match="unknown import option 'toy_scale'"):
        import_checkpoint(path, toy_scale=2)

"""The library API as a user calls it: ``srprune.Pruner`` on their own modules (a plain
``nn.Sequential`` SR net, a traced graph with a residual stream, a pixel shuffle and a
concatenation, an srprune model that declares its groups), and the README's example verbatim."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import srprune
from srprune.errors import UserError
from srprune.models.registry import create_model
from srprune.pruning.trace import UnsupportedGraph, trace_groups

README = Path(__file__).resolve().parents[1] / "README.md"
SHORT = srprune.GrowingL2Schedule(delta=0.05, t1=1, tau=0.5, t2=4)


class Clipped(nn.Conv2d):
    """A user's conv subclass with its own forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).clamp(-0.3, 0.3)


def sequential_sr(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                         Clipped(16, 12, 3, padding=1), nn.PixelShuffle(2))


class TracedNet(nn.Module):
    """A residual stream, a concatenation and a pixel shuffle feeding a conv."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 16, 3, padding=1)
        self.body1 = nn.Conv2d(16, 16, 3, padding=1)
        self.body2 = nn.Conv2d(16, 16, 3, padding=1)
        self.a = nn.Conv2d(16, 8, 1)
        self.b = nn.Conv2d(16, 6, 3, padding=1)
        self.fuse = nn.Conv2d(14, 16, 3, padding=1)
        self.up = nn.Conv2d(16, 8 * 4, 3, padding=1)
        self.tail = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + 0.5 * self.body2(F.relu(self.body1(feat)))
        cat = torch.cat([F.leaky_relu(self.a(feat), 0.1), self.b(feat)], dim=1)
        up = F.relu(F.pixel_shuffle(self.up(F.relu(self.fuse(cat))), 2))
        return self.tail(up) + F.interpolate(x, scale_factor=2, mode="bilinear")


def _train(model: nn.Module, pruner: srprune.Pruner, x: torch.Tensor, steps: int = 6) -> None:
    y = torch.rand_like(model(x))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = F.l1_loss(model(x), y) + pruner.penalty()
        loss.backward()
        opt.step()
        opt.zero_grad()
        pruner.step()


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("method", ["ssl", "l1", "assl", "assl-shared"])
def test_a_sequential_sr_net_is_pruned_end_to_end(method: str) -> None:
    model = sequential_sr()
    x = torch.rand(2, 3, 8, 10)
    dense = _params(model)
    pruner = srprune.Pruner(model, x, method=method, ratio=0.5, schedule=SHORT, align_iters=2)
    _train(model, pruner, x)
    with torch.no_grad():
        masked = pruner.mask()(x)
    clipped = model[2]
    compact = pruner.finalize()
    assert compact is model and type(compact) is nn.Sequential and len(compact) == 4
    assert compact[2] is clipped and type(clipped) is Clipped and clipped.in_channels == 8
    assert compact[0].out_channels == 8 and _params(compact) < dense
    with torch.no_grad():
        out = compact(x)
    assert out.shape == (2, 3, 16, 20) and out.abs().max() <= 0.3
    torch.testing.assert_close(out, masked, atol=1e-5, rtol=1e-5)


def test_traced_groups_follow_streams_concatenation_and_pixel_shuffle() -> None:
    x = torch.rand(1, 3, 6, 7)
    by_mode = {m: {g.name: g for g in trace_groups(TracedNet(), x, m)}
               for m in ("coupled", "fixed", "rsc")}
    g = by_mode["coupled"]
    assert set(g) == {"stream:head", "body1", "a", "b", "fuse", "up"}
    stream = g["stream:head"]
    assert {p.module for p in stream.producers} == {"head", "body2"}
    assert {p.module for p in stream.consumers} == {"body1", "a", "b"}
    assert [(p.module, p.offset) for p in g["b"].consumers] == [("fuse", 8)]
    assert [(p.module, p.offset) for p in g["a"].consumers] == [("fuse", 0)]
    assert (g["up"].units, g["up"].role, g["up"].producers[0].unit) == (8, "pixel_shuffle", 4)
    assert g["up"].consumers[0].unit == 1
    assert set(by_mode["fixed"]) == set(by_mode["rsc"]) == set(g) - {"stream:head"}


@pytest.mark.parametrize("method", ["ssl", "l1", "assl"])
def test_a_traced_graph_masked_equals_compact(method: str) -> None:
    torch.manual_seed(0)
    model = TracedNet()
    x = torch.rand(2, 3, 6, 7)
    pruner = srprune.Pruner(model, x, method=method, ratio=0.4, schedule=SHORT, align_iters=2)
    _train(model, pruner, x, steps=4)
    with torch.no_grad():
        masked = pruner.mask()(x)
        out = pruner.finalize()(x)
    assert model.tail.in_channels < 8 or model.fuse.out_channels < 16
    if method == "assl":  # the stream shrinks as one coupled group
        assert model.head.out_channels == model.body2.out_channels < 16
    torch.testing.assert_close(out, masked, atol=1e-5, rtol=1e-5)


def test_a_declared_srprune_model_uses_its_rsc_groups() -> None:
    torch.manual_seed(0)
    model = create_model("edsr-2-8", 2)
    x = torch.rand(1, 3, 8, 8)
    pruner = srprune.Pruner(model, x, method="ssl", ratio=0.5, schedule=SHORT)
    assert {g.role for g in pruner.groups} >= {"rsc_in", "rsc_out"}
    _train(model, pruner, x, steps=3)
    with torch.no_grad():
        masked = pruner.mask()(x)
        torch.testing.assert_close(pruner.finalize()(x), masked, atol=1e-5, rtol=1e-5)


class Unsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.BatchNorm2d(8)
        self.tail = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.norm(self.conv(x)))


class Flattening(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.conv(x), 1)


class Branching(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) if x.sum() > 0 else x


@pytest.mark.parametrize(("net", "says"), [
    (Unsupported(), "node 'norm' (call_module norm): a BatchNorm2d module"),
    (Flattening(), "node 'flatten' (call_function flatten)"),
    (Branching(), "torch.fx cannot trace Branching"),
])
def test_unsupported_graphs_get_one_clear_error(net: nn.Module, says: str) -> None:
    with pytest.raises(UnsupportedGraph, match=re.escape(says)) as err:
        srprune.Pruner(net, torch.rand(1, 3, 6, 6), method="l1")
    assert "\n" not in str(err.value)


def test_scratch_and_unknown_methods_are_refused() -> None:
    with pytest.raises(UserError, match="from scratch"):
        srprune.Pruner(sequential_sr(), torch.rand(1, 3, 4, 4), method="scratch")
    with pytest.raises(UserError, match="unknown pruning method"):
        srprune.Pruner(sequential_sr(), torch.rand(1, 3, 4, 4), method="nope")


def test_public_names_are_exported_lazily() -> None:
    assert set(srprune.__all__) >= {"Pruner", "trace_groups", "GrowingL2Schedule", "Group",
                                    "register_handler", "SizeModel", "METHODS"}
    for name in srprune.__all__:
        assert getattr(srprune, name) is not None
    with pytest.raises(AttributeError):
        srprune.no_such_name  # noqa: B018


def _readme_example() -> str:
    text = README.read_text()
    section = text[text.index("## Pruning your own model"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs_verbatim(capsys) -> None:
    code = _readme_example()
    scope: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), scope)  # noqa: S102 - our own README
    compact = scope["compact"]
    assert compact is scope["model"] and isinstance(compact, nn.Sequential)
    assert _params(compact) < scope["dense_params"]
    assert capsys.readouterr().out.strip()

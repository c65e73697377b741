"""The per-layer-type handler interface: a user registers a layer type and the pruner scores,
scales, folds, removes and counts its channels without any library edit; surgery narrows layers
in place, so a user's conv subclass keeps its forward."""

from __future__ import annotations

import torch
from torch import nn

from srprune.profile import count_macs, count_params
from srprune.pruning.criteria import score_groups, select_units
from srprune.pruning.groups import Group, Port
from srprune.pruning.handlers import HANDLERS, Conv2dHandler, handler_for, register_handler
from srprune.pruning.scales import UnitScales
from srprune.pruning.sizes import SizeModel
from srprune.pruning.structure import apply_structure, describe_structure
from srprune.pruning.surgery import remove_units
from srprune.pruning.targets import fit_selection


class MyConv(nn.Conv2d):
    """A user's conv subclass: found through its base class's handler."""


class PointwiseLinear(nn.Module):
    """A user's layer: a per-pixel linear map over channels (not a Conv2d)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in))
        self.bias = nn.Parameter(torch.randn(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oc,nchw->nohw", self.weight, x) + self.bias.view(1, -1, 1, 1)


class PointwiseHandler(Conv2dHandler):
    def widths(self, layer):
        return layer.weight.shape[1], layer.weight.shape[0]

    def channel_l1(self, layer, axis):
        w = layer.weight.detach().abs().double()
        return (w.sum(1) if axis == "out" else w.sum(0)).cpu()

    def weights_per_channel(self, layer, axis):
        return layer.weight.shape[1 if axis == "out" else 0]

    def weights(self, layer, c_in, c_out):
        return c_in * c_out

    def params(self, layer, c_in, c_out):
        return c_in * c_out + c_out

    def positions(self, layer, output):
        return output.shape[0] * output.shape[2] * output.shape[3]

    def resized(self, layer, c_in, c_out):
        return PointwiseLinear(c_in, c_out)

    @torch.no_grad()
    def scale_channels(self, layer, axis, index, factor):
        if axis == "out":
            layer.weight[index] *= factor.view(-1, 1)
            layer.bias[index] *= factor
        else:
            layer.weight[:, index] *= factor.view(1, -1)

    @torch.no_grad()
    def shrink(self, layer, keep_out, keep_in):
        new = PointwiseLinear(len(keep_in), len(keep_out))
        new.weight.copy_(layer.weight[keep_out][:, keep_in])
        new.bias.copy_(layer.bias[keep_out])
        return new


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = PointwiseLinear(3, 8)
        self.b = MyConv(8, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_subclass_uses_base_handler() -> None:
    assert handler_for(MyConv(2, 2, 1)) is HANDLERS[nn.Conv2d]
    assert handler_for(PointwiseLinear(2, 2)) is None


def test_registered_layer_type_is_pruned_exactly(monkeypatch) -> None:
    monkeypatch.setitem(HANDLERS, PointwiseLinear, PointwiseHandler())
    register_handler(PointwiseLinear, HANDLERS[PointwiseLinear])
    torch.manual_seed(0)
    net = Net().eval()
    groups = [Group("a", 8, producers=(Port("a", "out"),), consumers=(Port("b", "in"),))]
    removed = select_units(groups, score_groups(net, groups), 0.5)
    x = torch.rand(1, 3, 5, 6)
    scales = UnitScales(net, groups).attach()
    scales.zero_units(removed)
    masked = net(x)
    scales.fold()
    remove_units(net, groups, removed)
    assert net.a.weight.shape == (4, 3) and net.b.in_channels == 4
    torch.testing.assert_close(net(x), masked, atol=1e-6, rtol=1e-6)


class Gated(nn.Conv2d):
    """A user's conv subclass with its own forward (its output clipped)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).clamp(-0.2, 0.2)


class GatedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = Gated(3, 8, 3, padding=1)
        self.b = Gated(8, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_removal_narrows_a_conv_subclass_in_place() -> None:
    torch.manual_seed(0)
    net = GatedNet().eval()
    groups = [Group("a", 8, producers=(Port("a", "out"),), consumers=(Port("b", "in"),))]
    removed = select_units(groups, score_groups(net, groups), 0.5)
    x = torch.rand(1, 3, 5, 6)
    scales = UnitScales(net, groups).attach()
    scales.zero_units(removed)
    masked = net(x)
    scales.fold()
    a, b = net.a, net.b
    remove_units(net, groups, removed)
    assert net.a is a and net.b is b and type(net.a) is Gated
    assert (a.out_channels, b.in_channels, b.weight.shape[1]) == (4, 4, 4)
    torch.testing.assert_close(net(x), masked, atol=1e-6, rtol=1e-6)
    assert net(x).abs().max() <= 0.2 < nn.Conv2d.forward(net.b, torch.relu(net.a(x))).abs().max()
    # a saved compact model is rebuilt by resizing the dense model's layers in place
    rebuilt = apply_structure(GatedNet(), describe_structure(net, GatedNet()))
    rebuilt.load_state_dict(net.state_dict())
    assert type(rebuilt.a) is Gated
    torch.testing.assert_close(rebuilt.eval()(x), masked, atol=1e-6, rtol=1e-6)


def test_registered_layer_type_is_counted_by_target_sizing(monkeypatch) -> None:
    """SizeModel (what ``--target`` sizes with) asks the handler: a registered layer's params and
    MACs after any removal equal the profiler's count of the compact model."""
    monkeypatch.setitem(HANDLERS, PointwiseLinear, PointwiseHandler())
    torch.manual_seed(0)
    net = Net().eval()
    groups = [Group("a", 8, producers=(Port("a", "out"),), consumers=(Port("b", "in"),))]
    lr = (5, 6)
    sizes = SizeModel(net, lr)
    assert set(sizes.layers) == {"a", "b"}
    dense_macs, _ = count_macs(net, lr)
    assert sizes.macs(groups, {}) == dense_macs == 5 * 6 * (3 * 8 + 8 * 3 * 9)
    scores = score_groups(net, groups)
    target = 0.6 * dense_macs
    fit = fit_selection(groups, scores, "global", "min", 0, lambda r: sizes.macs(groups, r),
                        target)
    predicted = sizes.macs(groups, fit.removed), sizes.params(groups, fit.removed)
    compact = remove_units(net, groups, fit.removed)
    assert predicted == (count_macs(compact, lr)[0], count_params(compact)[0])
    assert fit.size == predicted[0] and 0 < len(fit.removed["a"]) < 8

"""FMP's equivalences: generated weights reproduce a plain conv, masked equals compact, and the
budget accountant agrees with the profiler on the extracted model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from srprune.models.edsr import EDSR, EDSRConfig
from srprune.models.esrb import ESRB, ESRBConfig
from srprune.profile import count_macs, count_params
from srprune.pruning.fmp.hyperconv import HyperWeight, hyper_of, install
from srprune.pruning.fmp.latents import LatentBank, Segment, axis_layouts
from srprune.pruning.fmp.search import FMPSearch
from srprune.pruning.fmp.settings import FMPSettings
from srprune.pruning.groups import filter_group

LR = (12, 14)


def tiny_models() -> list[tuple[str, nn.Module]]:
    return [("esrb-x4", ESRB(ESRBConfig(num_feat=12, num_block=2, scale=4, esa_feat=4))),
            ("edsr-x2", EDSR(EDSRConfig(num_feat=8, num_block=2, scale=2))),
            ("edsr-x3", EDSR(EDSRConfig(num_feat=8, num_block=2, scale=3))),
            ("edsr-x4", EDSR(EDSRConfig(num_feat=8, num_block=2, scale=4)))]


def test_generated_weight_in_a_plain_conv_reproduces_the_hyper_conv() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 7, 3, padding=1)
    group = filter_group("g", "conv", [], 7)

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = conv

    holder = Holder()
    layouts = axis_layouts(holder, [group])
    bank = LatentBank([group], layouts)
    hyper = install(conv, bank, layouts[("conv", "in")], layouts[("conv", "out")])
    assert isinstance(hyper, HyperWeight) and hyper_of(conv) is hyper
    x = torch.randn(2, 5, 9, 9)
    y = conv(x)
    plain = nn.Conv2d(5, 7, 3, padding=1)
    with torch.no_grad():
        plain.weight.copy_(hyper.generated())
        plain.bias.copy_(conv.bias)
    torch.testing.assert_close(plain(x), y, rtol=1e-5, atol=1e-6)
    # the weight really is generated from the latents: changing one moves it
    before = conv.weight.detach().clone()
    with torch.no_grad():
        bank.latent("g")[3] += 1.0
    assert not torch.allclose(conv.weight[3], before[3])
    torch.testing.assert_close(conv.weight[2], before[2])
    y.sum().backward()
    assert bank.latent("g").grad is not None and hyper.indicator.grad is not None


def test_pixel_shuffle_units_repeat_their_latent() -> None:
    bank_groups = [filter_group("ps", "conv", [], 3, unit=4)]

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 12, 1)

    layouts = axis_layouts(Holder(), bank_groups)
    assert layouts[("conv", "out")] == [Segment(0, 12, "group:ps", 4)]
    bank = LatentBank(bank_groups, layouts)
    vec = bank.axis_vector(layouts[("conv", "out")])
    assert torch.equal(vec, bank.latent("ps").repeat_interleave(4))
    bank.alive("ps")[1] = False
    assert bank.channel_mask(layouts[("conv", "out")]).tolist() == [1.0] * 4 + [0.0] * 4 + [1.0] * 4


def _random_prune(search: FMPSearch, seed: int) -> None:
    """Kill some units in every group (keeping >= 1) and ~30 % of the weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for group in search.groups:
            alive = search.bank.alive(group.name)
            kill = torch.rand(group.units, generator=g) < 0.4
            kill[torch.randint(group.units, (1,), generator=g)] = False
            alive &= ~kill
            search.bank.latent(group.name)[~alive] = 0.0
        for h in search.hypers.values():
            h.weight_alive &= torch.rand(h.weight_alive.shape, generator=g) > 0.3


@pytest.mark.parametrize("name,model", tiny_models(), ids=lambda v: v if isinstance(v, str) else "")
def test_masked_model_equals_compact_and_accountant_equals_profiler(name: str, model: nn.Module
                                                                     ) -> None:
    torch.manual_seed(1)
    search = FMPSearch(model, FMPSettings(seed=1), LR)
    _random_prune(search, 2)
    x = torch.rand(1, 3, *LR)
    model.eval()
    with torch.no_grad():
        masked = model(x)
    _, chan, nonzero = search.accountant.counts(search.conv_states())
    compact = search.extract().eval()
    with torch.no_grad():
        torch.testing.assert_close(compact(x), masked, rtol=1e-4, atol=1e-5)
    params, nz_params = count_params(compact)
    assert params == chan.params
    assert nz_params == nonzero.params
    macs, _ = count_macs(compact, LR)
    assert macs == pytest.approx(chan.macs, rel=1e-9)
    assert not any(hasattr(m, "parametrizations") for m in compact.modules())


def test_ratios_start_at_zero_and_add_up() -> None:
    model = ESRB(ESRBConfig(num_feat=12, num_block=2, scale=4, esa_feat=4))
    search = FMPSearch(model, FMPSettings(), LR)
    r = search.ratios()
    assert r.channel == 0 and r.weight == 0 and r.remaining == 1
    _random_prune(search, 0)
    for metric in ("params", "flops"):
        r = search.accountant.ratios(search.conv_states(), metric)
        dense, _, nz = search.accountant.counts(search.conv_states())
        assert 0 < r.channel < 1 and 0 < r.weight < 1
        assert r.remaining == pytest.approx(nz.get(metric) / dense.get(metric))


@pytest.mark.parametrize("scale,lr,macs_g", [(2, (360, 640), 1877.75), (4, (180, 320), 474.21)])
def test_accountant_counts_the_dense_esrb_6_256_like_the_profiler(scale: int, lr: tuple[int, int],
                                                                  macs_g: float) -> None:
    from srprune.pruning.fmp.budget import Accountant, ConvState

    model = ESRB(ESRBConfig(num_feat=256, num_block=6, scale=scale))
    acc = Accountant(model, lr)
    states = {n: ConvState(torch.ones(m.out_channels), torch.ones(m.in_channels), None,
                           m.bias is not None)
              for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    dense, chan, nz = acc.counts(states)
    assert dense == chan == nz
    assert dense.params == count_params(model)[0]
    assert dense.macs / 1e9 == pytest.approx(macs_g, abs=0.01)

"""Temporal-flip and x8 geometric self-ensembles with fake models."""

import pytest
import torch
import torch.nn.functional as F

from srprune.errors import UserError
from srprune.eval.ensemble import flip_ensemble, geometric_ensemble


def _lrs(n=2, t=5, c=3, h=4, w=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, t, c, h, w, generator=g)


class _Recorder:
    """Fake video model: a causal running sum over time (order-dependent, like a recurrence)."""

    def __init__(self):
        self.shapes = []

    def __call__(self, x):
        self.shapes.append(tuple(x.shape))
        return x.cumsum(dim=1)


def test_concat_mode_is_basicsr_flip_seq():
    x = _lrs()
    run = _Recorder()
    out = flip_ensemble(run, x)
    assert run.shapes == [(2, 10, 3, 4, 6)]  # one call on the 2T-frame sequence
    # by hand: first half = cumsum(x); second half = sum(x) + cumsum(flip(x)), then flipped back
    expected = 0.5 * (x.cumsum(1) + (x.sum(1, keepdim=True) + x.flip(1).cumsum(1)).flip(1))
    torch.testing.assert_close(out, expected)


def test_separate_mode_is_two_runs():
    x = _lrs()
    run = _Recorder()
    out = flip_ensemble(run, x, mode="separate")
    assert run.shapes == [(2, 5, 3, 4, 6)] * 2
    torch.testing.assert_close(out, 0.5 * (x.cumsum(1) + x.flip(1).cumsum(1).flip(1)))
    assert not torch.allclose(out, flip_ensemble(run, x, mode="concat"))


@pytest.mark.parametrize("mode", ["concat", "separate"])
def test_framewise_model_is_unchanged_by_flip_ensemble(mode):
    x = _lrs()

    def run(v):  # per-frame x2 nearest upsampling: no temporal dependence
        n, t = v.shape[:2]
        return F.interpolate(v.flatten(0, 1), scale_factor=2).unflatten(0, (n, t))

    out = flip_ensemble(run, x, mode=mode)
    assert out.shape == (2, 5, 3, 8, 12)
    torch.testing.assert_close(out, run(x))


def test_flip_ensemble_errors():
    with pytest.raises(UserError, match=r"\(N, T, C, h, w\)"):
        flip_ensemble(lambda v: v, torch.zeros(5, 3, 4, 4))
    with pytest.raises(UserError, match="mode"):
        flip_ensemble(lambda v: v, _lrs(), mode="twice")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="run returned"):
        flip_ensemble(lambda v: v[:, :1], _lrs())


def test_geometric_ensemble_of_equivariant_model_is_identity():
    x = _lrs()[:, 0]  # (N, C, h, w), h != w

    def run(v):
        return F.interpolate(v, scale_factor=3, mode="nearest")

    torch.testing.assert_close(geometric_ensemble(run, x), run(x))


@pytest.mark.parametrize("shape", [(2, 3, 4, 6), (1, 2, 3, 5, 7)])
def test_geometric_ensemble_undoes_each_transform(shape):
    # run adds the column index: the average of the 8 back-mapped column/row ramps is the
    # constant (w - 1 + h - 1) / 4, which only comes out if every transform is undone correctly
    x = torch.rand(shape)
    h, w = shape[-2:]
    calls = []

    def run(v):
        calls.append(tuple(v.shape[-2:]))
        return v + torch.arange(v.shape[-1], dtype=v.dtype)

    out = geometric_ensemble(run, x)
    assert len(calls) == 8 and calls.count((h, w)) == 4 and calls.count((w, h)) == 4
    torch.testing.assert_close(out, x + (h + w - 2) / 4)


def test_geometric_ensemble_errors():
    with pytest.raises(UserError):
        geometric_ensemble(lambda v: v, torch.zeros(4, 4))
    with pytest.raises(RuntimeError, match="shape"):
        geometric_ensemble(lambda v: v[..., :3, :], torch.zeros(1, 3, 4, 6))

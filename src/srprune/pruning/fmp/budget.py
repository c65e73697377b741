"""FMP's budget: params and MACs of the masked network, pruning ratios, convergence criteria.

Ratios are fractions of the dense network's total in the chosen metric (supplement Table 3):

* channel ratio: removed by channel pruning (every weight of a removed channel);
* weight ratio: removed by weight pruning (zero weights inside the channels that remain);
* total remaining = 1 - channel ratio - weight ratio.

MACs follow the profiler's convention (conv multiply-accumulates, one per non-zero weight per
output position; positions and weight counts from the layers' handlers, as
:mod:`srprune.pruning.sizes` counts them), so the accountant's count of a masked model equals the
profiler's non-zero count of the extracted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from srprune.pruning.groups import conv_layers
from srprune.pruning.handlers import handler_for
from srprune.pruning.sizes import layer_positions

Metric = Literal["params", "flops"]
Criterion = Literal["channel", "weight", "total_fixed", "total"]
METRICS: tuple[str, ...] = ("params", "flops")
CRITERIA: tuple[str, ...] = ("channel", "weight", "total_fixed", "total")


@dataclass(frozen=True)
class Counts:
    """Params and MACs at one level of pruning."""

    params: float
    macs: float

    def get(self, metric: Metric) -> float:
        return self.params if metric == "params" else self.macs


@dataclass(frozen=True)
class Ratios:
    """Pruned fractions of the dense total, by channel and by weight pruning."""

    channel: float
    weight: float

    @property
    def total(self) -> float:
        return self.channel + self.weight

    @property
    def remaining(self) -> float:
        return 1.0 - self.total


@dataclass(frozen=True)
class ConvState:
    """What the accountant needs of one conv: kept channels and the weights still alive."""

    out_mask: torch.Tensor  # (c_out,) 0/1
    in_mask: torch.Tensor  # (c_in,) 0/1
    weight_alive: torch.Tensor | None  # (c_out, c_in, kh, kw) bool; None: all alive
    has_bias: bool


class Accountant:
    """Counts params and MACs of a (masked) model from per-conv states.

    Args:
        model: the dense model (plain convs), used once for shapes and output sizes.
        lr_size: LR input size at which MACs are counted (image models: per forward).
    """

    def __init__(self, model: nn.Module, lr_size: tuple[int, int]) -> None:
        if model.is_video:
            raise ValueError("the FMP accountant counts image models only")
        self.positions = output_positions(model, lr_size)
        self.convs = conv_layers(model)
        self.handlers = {}
        for name, conv in self.convs.items():
            if conv.groups != 1:
                raise ValueError(f"{name}: grouped convolutions are not supported")
            self.handlers[name] = handler_for(conv)
        dense = sum(h.params(self.convs[n], *h.widths(self.convs[n]))
                    for n, h in self.handlers.items())
        self.other_params = sum(p.numel() for p in model.parameters()) - dense

    def counts(self, states: dict[str, ConvState]) -> tuple[Counts, Counts, Counts]:
        """(dense, after channel pruning, non-zero) counts for the given conv states."""
        dense_p = dense_m = chan_p = chan_m = nz_p = nz_m = 0.0
        for name, st in states.items():
            conv, handler, pos = self.convs[name], self.handlers[name], self.positions[name]
            c_out, c_in = st.out_mask.numel(), st.in_mask.numel()
            kept_out, kept_in = int(st.out_mask.sum()), int(st.in_mask.sum())
            if st.weight_alive is None:
                nz = float(handler.weights(conv, kept_in, kept_out))
            else:
                block = st.out_mask[:, None, None, None] * st.in_mask[None, :, None, None]
                nz = float((st.weight_alive * block).sum())
            bias_all, bias_kept = (c_out, kept_out) if st.has_bias else (0, 0)
            dense_w, chan_w = handler.weights(conv, c_in, c_out), handler.weights(conv, kept_in,
                                                                                  kept_out)
            dense_p += dense_w + bias_all
            dense_m += dense_w * pos
            chan_p += chan_w + bias_kept
            chan_m += chan_w * pos
            nz_p += nz + bias_kept
            nz_m += nz * pos
        o = self.other_params
        return (Counts(dense_p + o, dense_m), Counts(chan_p + o, chan_m),
                Counts(nz_p + o, nz_m))

    def ratios(self, states: dict[str, ConvState], metric: Metric) -> Ratios:
        """Channel and weight pruning ratios in ``metric``."""
        dense, chan, nz = self.counts(states)
        d = dense.get(metric)
        return Ratios(channel=(d - chan.get(metric)) / d, weight=(chan.get(metric) -
                                                                  nz.get(metric)) / d)


def output_positions(model: nn.Module, lr_size: tuple[int, int]) -> dict[str, int]:
    """Output positions (``N * H_out * W_out`` over all calls) of every conv for one LR image."""
    return layer_positions(model, torch.empty(1, 3, *lr_size, device="meta"))


def converged(criterion: Criterion, r: Ratios, gamma_c: float, gamma_w: float,
              tol: float = 0.0) -> bool:
    """Whether the search has reached its budget under ``criterion`` (supplement Sec. 2.2)."""
    if criterion == "channel":
        return r.channel >= gamma_c - tol
    if criterion == "weight":
        return r.weight >= gamma_w - tol
    if criterion == "total_fixed":
        return r.channel >= gamma_c - tol and r.weight >= gamma_w - tol
    if criterion == "total":
        return r.total >= gamma_c + gamma_w - tol
    raise ValueError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")


def active(criterion: Criterion, r: Ratios, gamma_c: float, gamma_w: float,
           tol: float = 0.0) -> tuple[bool, bool]:
    """Whether channel and weight pruning still go on. Under Total Fixed a budget that is met
    stops its own pruning while the other continues; otherwise both run until convergence."""
    if criterion == "total_fixed":
        return r.channel < gamma_c - tol, r.weight < gamma_w - tol
    return True, True

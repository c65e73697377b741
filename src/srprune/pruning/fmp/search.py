"""FMP's search: the network trained through its hypernetwork while channels and weights go.

After every optimiser step (a trainer callback, :meth:`FMPSearch.after_step`):

* a proximal step on each group's latent, ``z <- sign(z) max(|z| - lambda_c lr, 0)``, and with
  ``weight_reg: l1`` the same on the weight indicators; entries below their threshold are removed
  for good (monotone masks; a group never drops below ``min_units``);
* every ``check_every`` iterations the accountant measures the masked network, and the run stops
  (:class:`~srprune.protocols.StopTraining`) once the criterion is met. Under Total Fixed a met
  budget freezes its own kind of pruning.

A search that has not converged when its iterations run out is completed by removing the
smallest latents (channel budgets) or indicators (weight budgets), and says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from srprune.protocols import StopTraining
from srprune.pruning.fmp.budget import Accountant, ConvState, Ratios, active, converged
from srprune.pruning.fmp.hyperconv import HyperWeight, bake, install
from srprune.pruning.fmp.latents import LatentBank, axis_layouts
from srprune.pruning.fmp.settings import FMPSettings
from srprune.pruning.groups import Group, conv_layers
from srprune.pruning.surgery import remove_units


def _soft_threshold_(x: torch.Tensor, amount: float) -> None:
    x.copy_(torch.sign(x) * torch.clamp(x.abs() - amount, min=0.0))


def image_convs(model: nn.Module) -> set[str]:
    """Paths of the convs that read or write image channels, as the model declares them (its
    ``image_ports``)."""
    return {port.module for port in model.image_ports()}


def _hold_(x: torch.Tensor, where: torch.Tensor, value: float) -> None:
    """Set ``|x| = value`` at ``where`` (a mask or indices; sign kept, zeros become +value)."""
    x[where] = torch.where(x[where] < 0, -value, value)


class FMPSearch:
    """The hypernetwork-parametrised model and everything that prunes it.

    Args:
        model: a plain, freshly built image-SR model; hypernetworks are installed on every conv
            and its latents are registered as ``model.fmp_latents``.
        settings: the ``fmp`` section.
        lr_size: LR size at which the budget counts MACs.
    """

    def __init__(self, model: nn.Module, settings: FMPSettings, lr_size: tuple[int, int]) -> None:
        self.s = settings
        self.model = model
        self.accountant = Accountant(model, lr_size)
        self.groups: list[Group] = model.channel_groups(settings.residual)
        layouts = axis_layouts(model, self.groups)
        gen = torch.Generator().manual_seed(settings.seed)
        self.bank = LatentBank(self.groups, layouts, gen)
        model.add_module("fmp_latents", self.bank)
        self.hypers: dict[str, HyperWeight] = {}
        self.has_bias: dict[str, bool] = {}
        for path, conv in conv_layers(model).items():
            self.has_bias[path] = conv.bias is not None
            self.hypers[path] = install(conv, self.bank, layouts[(path, "in")],
                                        layouts[(path, "out")], settings.embed, gen)
        image = image_convs(model) if settings.dense_image_convs else set()
        self.weight_prunable = {path: path not in image for path in self.hypers}
        self.channels_on, self.weights_on = True, True
        self.history: list[dict[str, float]] = []
        self.converged_at: int | None = None

    # -- measuring ---------------------------------------------------------------------------
    def conv_states(self) -> dict[str, ConvState]:
        """Kept channels and live weights of every conv, as the accountant reads them."""
        bank = self.bank
        return {path: ConvState(bank.channel_mask(h.out_segments).detach().cpu(),
                                bank.channel_mask(h.in_segments).detach().cpu(),
                                h.weight_alive.cpu(), self.has_bias[path])
                for path, h in self.hypers.items()}

    def ratios(self) -> Ratios:
        return self.accountant.ratios(self.conv_states(), self.s.metric)  # type: ignore[arg-type]

    def converged(self, r: Ratios) -> bool:
        s = self.s
        return converged(s.criterion, r, s.gamma_c, s.gamma_w, s.tolerance)  # type: ignore[arg-type]

    # -- optimisation ------------------------------------------------------------------------
    def param_groups(self, model: nn.Module, lr: float) -> list[dict[str, Any]]:
        """Adam groups: the network and hypernetworks (``main``, at ``lr``), ``latents`` and
        ``indicators`` (at their own rates from the settings, else ``lr``)."""
        latents = [p for p in self.bank.parameters()]
        indicators = [h.indicator for h in self.hypers.values()]  # all: kept ones still learn
        special = {id(p) for p in (*latents, *indicators)}
        main = [p for p in model.parameters() if p.requires_grad and id(p) not in special]
        return [{"name": "main", "params": main, "lr": lr},
                {"name": "latents", "params": latents, "lr": self.s.latent_lr or lr},
                {"name": "indicators", "params": indicators, "lr": self.s.indicator_lr or lr}]

    def indicator_penalty(self, model: nn.Module, batch: Mapping[str, torch.Tensor],
                          output: object, step: int) -> dict[str, torch.Tensor]:
        """The L2 loss term on live indicators (``weight_reg: l2``)."""
        if not self.weights_on:
            return {}
        total = sum((h.indicator * h.weight_alive).pow(2).sum()
                    for path, h in self.hypers.items() if self.weight_prunable[path])
        return {"indicator_l2": self.s.lambda_w * total}

    def caps(self, r: Ratios) -> tuple[float, float]:
        """How far channel and weight pruning may go now without passing the budget."""
        s, total = self.s, self.s.gamma_c + self.s.gamma_w
        if s.criterion == "channel":
            return s.gamma_c, math.inf
        if s.criterion == "weight":
            return math.inf, s.gamma_w
        if s.criterion == "total_fixed":
            return s.gamma_c, s.gamma_w
        return total - r.weight, total - r.channel

    @torch.no_grad()
    def prune_channels(self, lr: float) -> None:
        """Proximal step on the latents; units under the threshold are removed, smallest first,
        as far as the budget allows (the others are held at the threshold)."""
        doomed: list[tuple[float, str, int]] = []
        for g in self.groups:
            z, alive = self.bank.latent(g.name), self.bank.alive(g.name)
            if self.channels_on:
                _soft_threshold_(z, self.s.lambda_c * lr)
                floor = min(self.s.min_units, int(alive.sum()))
                below = alive & (z.abs() < self.s.threshold_c)
                spare = int(alive.sum()) - floor
                order = torch.argsort(z.abs())
                picked = [int(i) for i in order if below[i]][:max(0, spare)]
                doomed += [(float(z[i].abs()), g.name, i) for i in picked]
                held = below.clone()
                held[picked] = False
                _hold_(z, held, self.s.threshold_c)
            z[~alive] = 0.0
        if doomed:
            self._remove_capped(sorted(doomed))

    def _remove_capped(self, doomed: list[tuple[float, str, int]]) -> None:
        """Remove units in order until the channel cap is reached (the unit that reaches it
        goes too, so a budget is always met); hold the rest at the threshold."""
        cap = self.caps(self.ratios())[0]
        for k, (_, name, i) in enumerate(doomed):
            if self.ratios().channel >= cap:
                for _, rest_name, j in doomed[k:]:
                    _hold_(self.bank.latent(rest_name), torch.tensor([j]), self.s.threshold_c)
                return
            self.bank.alive(name)[i] = False
            self.bank.latent(name)[i] = 0.0

    @torch.no_grad()
    def prune_weights(self, lr: float) -> None:
        """Sparsity step on the indicators; weights whose indicator falls under
        ``threshold_w`` are removed, smallest gated value ``|I O|`` first, as far as the
        budget allows."""
        if not self.weights_on:
            for h in self.hypers.values():
                h.indicator[~h.weight_alive] = 0.0
            return
        candidates = []
        for path, h in self.hypers.items():
            ind = h.indicator
            if not self.weight_prunable[path]:
                continue
            if self.s.weight_reg == "l1":
                _soft_threshold_(ind, self.s.lambda_w * lr)
            below = h.weight_alive & (ind.abs() < self.s.threshold_w)
            if bool(below.any()):
                candidates.append((path, below, (ind * h.generated()).abs()))
            ind[~h.weight_alive] = 0.0
        if candidates:
            self._remove_weights_capped(candidates)

    def _remove_weights_capped(self, candidates: list[tuple[str, torch.Tensor, torch.Tensor]]
                               ) -> None:
        """Remove candidate weights, smallest relative value first, until the weight cap is
        reached (the weight that reaches it goes too); the rest are held at the threshold."""
        r = self.ratios()
        allowed = self.caps(r)[1] - r.weight
        dense = self.accountant.counts(self.conv_states())[0].get(self.s.metric)  # type: ignore[arg-type]
        costs, values, owner, flat = [], [], [], []
        for k, (path, below, rel) in enumerate(candidates):
            h = self.hypers[path]
            block = h.channel_mask().expand(h.shape)
            unit = 1.0 if self.s.metric == "params" else float(self.accountant.positions[path])
            idx = torch.nonzero(below.flatten()).flatten()
            costs.append(block.reshape(-1)[idx] * unit / dense)
            values.append(rel.flatten()[idx])
            owner.append(torch.full_like(idx, k))
            flat.append(idx)
        cost, value = torch.cat(costs), torch.cat(values)
        owners, flats = torch.cat(owner), torch.cat(flat)
        order = torch.argsort(value)
        take = torch.zeros_like(value, dtype=torch.bool)
        before = torch.cumsum(cost[order], 0) - cost[order]  # pruned ahead of each candidate
        take[order] = before < allowed
        for k, (path, _, _) in enumerate(candidates):
            h = self.hypers[path]
            mine = owners == k
            gone, held = flats[mine & take], flats[mine & ~take]
            h.weight_alive.view(-1)[gone] = False
            ind = h.indicator.view(-1)
            ind[gone] = 0.0
            _hold_(ind, held, self.s.threshold_w)

    def after_step(self, done: int, logs: dict[str, float]) -> None:
        """Trainer callback: sparsity steps, then the budget check every ``check_every``."""
        self.prune_channels(logs.get("lr/latents", 0.0))
        self.prune_weights(logs.get("lr/indicators", 0.0))
        if done % self.s.check_every and done != self.s.search_iters:
            return
        r = self.ratios()
        self.history.append({"iter": done, "channel": r.channel, "weight": r.weight,
                             "remaining": r.remaining, "loss": logs.get("loss", math.nan)})
        if self.converged(r):
            self.converged_at = done
            raise StopTraining
        s = self.s
        self.channels_on, self.weights_on = active(s.criterion, r, s.gamma_c, s.gamma_w,  # type: ignore[arg-type]
                                                   s.tolerance)

    # -- finishing ---------------------------------------------------------------------------
    @torch.no_grad()
    def complete(self) -> Ratios:
        """Meet the budget by removing the smallest latents / indicators (a search that ran
        out of iterations); returns the final ratios."""
        s = self.s
        r = self.ratios()
        channel_short = s.criterion in ("channel", "total") or (
            s.criterion == "total_fixed" and r.channel < s.gamma_c - s.tolerance)
        if channel_short:
            while not self._channel_budget_met(r):
                if not self._remove_smallest_units():
                    break
                r = self.ratios()
        if not self.converged(r):
            self._remove_smallest_weights()
            r = self.ratios()
        return r

    def _channel_budget_met(self, r: Ratios) -> bool:
        s = self.s
        if s.criterion == "total":
            return self.converged(r)
        return r.channel >= s.gamma_c - s.tolerance

    def _remove_smallest_units(self) -> bool:
        """Remove the alive units with the smallest |z| (1 % of those alive, at least one)."""
        candidates = []
        for g in self.groups:
            alive = self.bank.alive(g.name)
            if int(alive.sum()) <= self.s.min_units:
                continue
            z = self.bank.latent(g.name).abs()
            candidates += [(float(z[i]), g.name, int(i)) for i in torch.nonzero(alive).flatten()]
        if not candidates:
            return False
        candidates.sort()
        n = max(1, len(candidates) // 100)
        for _, name, i in candidates[:n]:
            alive = self.bank.alive(name)
            if int(alive.sum()) > self.s.min_units:
                alive[i] = False
                self.bank.latent(name)[i] = 0.0
        return True

    def _remove_smallest_weights(self) -> None:
        """Remove the fewest smallest-|indicator| weights that meet the budget (bisection)."""
        prunable = {p: h for p, h in self.hypers.items() if self.weight_prunable[p]}
        values = torch.cat([h.indicator.abs()[h.weight_alive].flatten()
                            for h in prunable.values()]).sort().values
        saved = {p: h.weight_alive.clone() for p, h in prunable.items()}

        def apply(k: int) -> Ratios:
            cut = values[k - 1] if k > 0 else -math.inf
            for p, h in prunable.items():
                h.weight_alive.copy_(saved[p] & (h.indicator.abs() > cut))
            return self.ratios()

        lo, hi = 0, len(values)
        if not self.converged(apply(hi)):  # weights alone cannot meet it: leave them be
            apply(0)
            return
        while lo < hi:
            mid = (lo + hi) // 2
            if self.converged(apply(mid)):
                hi = mid
            else:
                lo = mid + 1
        apply(lo)
        for h in self.hypers.values():
            h.indicator[~h.weight_alive] = 0.0

    def extract(self) -> nn.Module:
        """The plain compact model: weights generated once, removed channels gone, removed
        weights exactly zero (the search model is consumed)."""
        removed = self.bank.removed_units()
        model = bake(self.model)
        del model.fmp_latents
        return remove_units(model, self.groups, removed)

    def selection(self) -> dict[str, Any]:
        """Per-group rows (the format of SSL's ``selection.json``) plus per-conv densities."""
        removed = self.bank.removed_units()
        rows = [{"group": g.name, "role": g.role, "layer": g.layer, "units": g.units,
                 "removed": removed[g.name].tolist()} for g in self.groups]
        density = {p: float(h.weight_alive.float().mean()) for p, h in self.hypers.items()}
        return {"groups": rows, "weight_density": density,
                "units": sum(g.units for g in self.groups),
                "removed": sum(len(v) for v in removed.values())}

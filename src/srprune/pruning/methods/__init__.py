"""Pruning methods as recipes over the shared parts (see :mod:`.recipe`).

* ``ssl``: SSL / RSCL (Xia et al.): RSC residual blocks, pixel-shuffle units, global min-L1
  selection, growing L2 on the selected scaling factors, removal, Temporal Finetuning.
* ``l1``: L1-norm filter pruning (Li et al., ICLR 2017): one-shot, the residual blocks' last
  convs and the streams left whole, then plain finetuning.
* ``scratch``: the SSL-compact architecture trained from random weights for twice as long.
* ``assl``: aligned structured sparsity (Zhang et al., NeurIPS 2021) as srprune expresses it:
  every conv that writes a residual stream shares one index set (``coupled`` groups, so the
  hidden state itself shrinks), local ranking, growing L2 on the selected units' scales, then
  plain finetuning. ASSL reaches the shared index set through per-layer weight-norm scales and an
  alignment loss; here the sharing is structural (one gamma per stream unit), so that loss has
  nothing left to align and is not computed.
"""

from __future__ import annotations

from srprune.errors import UserError
from srprune.pruning.methods.recipe import Recipe

SSL = Recipe("ssl", residual="rsc", scope="global", order="min", regularize=True,
             temporal_finetune=True)
L1 = Recipe("l1", residual="fixed", scope="global", order="min")
SCRATCH = SSL.but(name="scratch", regularize=False, temporal_finetune=False, reinit=True,
                  finetune_factor=2.0)

ASSL = Recipe("assl", residual="coupled", scope="local", order="min", regularize=True)

METHODS: dict[str, Recipe] = {r.name: r for r in (SSL, L1, SCRATCH, ASSL)}


def get_recipe(name: str) -> Recipe:
    """The recipe of a method name; an unknown name lists the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"unknown pruning method {name!r}; choose one of "
                        f"{', '.join(METHODS)}") from None

"""Pruning methods as recipes over the shared parts (see :mod:`.recipe`).

* ``ssl``: SSL / RSCL (Xia et al.): RSC residual blocks, pixel-shuffle units, global min-L1
  selection with per-weight mean scores (as the authors' released code ranks; the paper's
  ``sum`` is ``prune.score_norm: sum``; results/score_norm.md), growing L2 on the selected
  scaling factors, removal, Temporal Finetuning.
* ``l1``: L1-norm filter pruning (Li et al., ICLR 2017): one-shot, the residual blocks' last
  convs and the streams left whole, then plain finetuning.
* ``scratch``: the SSL-compact architecture trained from random weights for twice as long.
* ``assl``: Aligned Structured Sparsity Learning (Zhang et al., NeurIPS 2021): every producer
  conv weight-normalised (``W = s V / ||V||``, ``s`` starting at ``||W||``), local min-L1
  selection per layer, growing L2 on the selected filters' scales and biases; the convs that
  write one residual stream first get the alignment term ``-mean(M M^T)`` on their soft masks,
  then all take the first writer's index set, and the stream (the hidden state) shrinks as one
  coupled group; plain finetuning.
* ``assl-shared``: the structural shortcut of ASSL: the same coupled groups and local selection,
  but one SSL gamma per stream unit shared by all writers (aligned by construction, so no
  alignment term and no weight norm).
"""

from __future__ import annotations

from srprune.errors import UserError
from srprune.pruning.methods.recipe import Recipe

SSL = Recipe("ssl", residual="rsc", scope="global", order="min", regularize=True,
             temporal_finetune=True, score_norm="mean")
L1 = Recipe("l1", residual="fixed", scope="global", order="min")
SCRATCH = SSL.but(name="scratch", regularize=False, temporal_finetune=False, reinit=True,
                  finetune_factor=2.0)
ASSL = Recipe("assl", residual="coupled", scope="local", order="min", regularize=True,
              scales="weight_norm")
ASSL_SHARED = ASSL.but(name="assl-shared", scales="gamma")

METHODS: dict[str, Recipe] = {r.name: r for r in (SSL, L1, SCRATCH, ASSL, ASSL_SHARED)}


def get_recipe(name: str) -> Recipe:
    """The recipe of a method name; an unknown name lists the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"unknown pruning method {name!r}; choose one of "
                        f"{', '.join(METHODS)}") from None

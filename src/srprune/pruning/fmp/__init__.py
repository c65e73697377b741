"""FMP, Flexible Meta Pruning (hypernetwork-based joint channel and weight pruning).

The parts, each in its own file:

* :mod:`.latents`: one latent vector per channel group (shared by every conv that produces or
  reads it, repeated ``s^2`` times for pixel-shuffle units) and the layout of every conv axis;
* :mod:`.hyperconv`: the per-conv hypernetwork that generates a weight from its input and output
  latents, gated by per-weight indicators, installed with ``torch.nn.utils.parametrize``;
* :mod:`.budget`: the accountant (params and MACs of the masked network) and the four
  convergence criteria (Channel, Weight, Total Fixed, Total);
* :mod:`.search`: proximal steps, mask updates and budget checks during training (a trainer
  callback and loss term, through :mod:`srprune.protocols`), completion of an unconverged search
  and extraction of the plain compact model (channels removed, pruned weights exactly zero);
* :mod:`.settings`: the ``fmp`` config section.

The run itself (``srprune prune --method fmp``: search -> finetune -> report) is
:mod:`srprune.runs.fmp`.
"""

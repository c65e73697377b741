"""Training machinery shared by ``srprune train`` and the pruning methods' stages.

- ``config``: typed, frozen ``TrainConfig`` loaded from YAML with ``--set`` overrides;
- ``losses``: Charbonnier and the temporal (hidden-state) loss; ``terms``: pluggable loss terms;
- ``schedule``: cosine annealing with restarts (BasicSR semantics), fixed-flow warm-up;
- ``batches``: batches as a pure function of (seed, step), so resume and DDP are exact;
- ``checkpoint``: resumable state readable with ``torch.load(weights_only=True)``;
- ``distributed``: torchrun / DDP helpers; ``loop``: the ``Trainer``;
- ``datasets`` / ``validate``: the data section of a config and validation scoring;
- ``run``: a whole run from a config (what the command calls).

Submodules are imported explicitly (``from srprune.train.loop import Trainer``); this package
imports nothing itself. What plugs into the trainer from below (loss terms, ``StopTraining``)
is defined in :mod:`srprune.protocols`, so the pruning core never imports this package.
"""

"""Batches that are a pure function of (seed, step): what makes resume and DDP exact.

No stateful iterator decides what a step sees. Step ``s`` of a run with global batch ``B`` takes
the sample positions ``s*B .. s*B+B-1`` of an endless stream of epochs, each epoch a permutation
of the dataset seeded by ``(seed, epoch)``. Each sample is fetched with the key ``(step, index)``:
datasets with ``set_epoch`` get ``set_epoch(step)`` before the item is read (their augmentation is
seeded by the epoch and index), other datasets run under generators seeded by
``(seed, step, index)``. Hence

- a run resumed at step ``s`` sees exactly the batches of an uninterrupted run, whatever the
  number of workers, and
- DDP rank ``r`` of ``W`` takes slice ``r`` of the same global batch, so ``W`` processes with
  ``B / W`` samples each see the samples of one process with ``B``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (NumPy's SeedSequence hashing)."""
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(2, np.uint64)[0]
               >> np.uint64(1))


def epoch_permutation(seed: int, epoch: int, length: int) -> np.ndarray:
    """The order of the dataset's ``length`` samples in ``epoch``."""
    return np.random.default_rng(_mix(seed, epoch, 0x5A17)).permutation(length)


def global_batch(seed: int, step: int, batch_size: int, length: int) -> list[int]:
    """Dataset indices of the global batch of ``step``."""
    out: list[int] = []
    cache: dict[int, np.ndarray] = {}
    for pos in range(step * batch_size, (step + 1) * batch_size):
        epoch, offset = divmod(pos, length)
        if epoch not in cache:
            cache[epoch] = epoch_permutation(seed, epoch, length)
        out.append(int(cache[epoch][offset]))
    return out


def shard(items: list[Any], rank: int, world_size: int) -> list[Any]:
    """Rank ``rank``'s contiguous slice of a global batch (its length must divide evenly)."""
    if len(items) % world_size:
        raise ValueError(f"global batch of {len(items)} does not split over {world_size} ranks")
    per = len(items) // world_size
    return items[rank * per:(rank + 1) * per]


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields, for steps ``start .. stop-1``, this rank's ``(step, index)`` keys.

    Args:
        length: Dataset length.
        batch_size: Global batch size (all ranks together).
        seed: Run seed.
        start, stop: Step range.
        rank, world_size: This process's slice of each global batch.
    """

    def __init__(self, length: int, batch_size: int, seed: int, start: int, stop: int,
                 rank: int = 0, world_size: int = 1) -> None:
        if length < 1:
            raise ValueError("the training dataset is empty")
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by {world_size} ranks")
        self.length, self.batch_size, self.seed = length, batch_size, seed
        self.start, self.stop = start, stop
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.stop):
            indices = global_batch(self.seed, step, self.batch_size, self.length)
            yield [(step, i) for i in shard(indices, self.rank, self.world_size)]


class StepKeyedDataset(Dataset):
    """Wraps a map-style dataset so that item ``(step, index)`` is deterministic.

    Args:
        dataset: Any map-style dataset returning dicts of tensors.
        seed: Run seed (mixed into the per-item generator seeds).
    """

    def __init__(self, dataset: Any, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        step, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(step)
            return self.dataset[index]
        seed = _mix(self.seed, step, index)
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                random.seed(seed)
                np.random.seed(seed % 2**32)
                return self.dataset[index]
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)

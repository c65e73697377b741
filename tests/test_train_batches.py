"""Batches as a pure function of (seed, step): determinism and DDP sharding."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from srprune.train.batches import (
    StepBatchSampler,
    StepKeyedDataset,
    epoch_permutation,
    global_batch,
    shard,
)


class _Noise(Dataset):
    def __len__(self) -> int:
        return 5

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"lq": torch.rand(2) + index}


class _Epochs(Dataset):
    def __init__(self) -> None:
        self.epoch = 0

    def __len__(self) -> int:
        return 3

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[int, int]:
        return self.epoch, index


def test_global_batch_walks_epochs_without_repeats() -> None:
    seen = [i for step in range(4) for i in global_batch(7, step, 5, 10)]  # two epochs
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10))
    assert seen[:10] == epoch_permutation(7, 0, 10).tolist()
    assert global_batch(7, 3, 5, 10) == global_batch(7, 3, 5, 10)
    assert global_batch(7, 0, 5, 10) != global_batch(8, 0, 5, 10)
    assert len(global_batch(0, 2, 8, 3)) == 8  # batch larger than the dataset


def test_shards_partition_the_global_batch() -> None:
    full = list(StepBatchSampler(10, 4, 0, 2, 5))
    ranks = [list(StepBatchSampler(10, 4, 0, 2, 5, rank=r, world_size=2)) for r in range(2)]
    for step_batch, a, b in zip(full, *ranks, strict=True):
        assert step_batch == a + b
    assert shard([1, 2, 3, 4], 1, 2) == [3, 4]
    resumed = list(StepBatchSampler(10, 4, 0, 3, 5))
    assert resumed == full[1:]


def test_keyed_items_are_deterministic_and_leave_global_rng_alone() -> None:
    ds = StepKeyedDataset(_Noise(), seed=3)
    torch.manual_seed(0)
    a = ds[(4, 2)]["lq"]
    state = torch.get_rng_state()
    torch.manual_seed(99)
    b = ds[(4, 2)]["lq"]
    assert torch.equal(a, b)
    assert not torch.equal(a, ds[(5, 2)]["lq"])
    torch.set_rng_state(state)
    before = torch.get_rng_state()
    ds[(1, 1)]
    assert torch.equal(before, torch.get_rng_state())


def test_set_epoch_datasets_get_the_step() -> None:
    ds = StepKeyedDataset(_Epochs(), seed=0)
    assert ds[(17, 2)] == (17, 2)

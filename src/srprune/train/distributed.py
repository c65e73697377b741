"""torchrun + DistributedDataParallel: environment, process group, wrapping, reductions.

Launch with ``torchrun --nproc_per_node N -m srprune.cli train --config ...``. ``data.batch_size``
is the *global* batch: each rank trains on its slice of the same global batch
(:mod:`srprune.train.batches`), DDP averages the gradients, and the logged losses are averaged
over ranks, so N processes reproduce one process with the full batch. Only rank 0 writes logs,
TensorBoard events, checkpoints and the final model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from srprune.errors import UserError


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a torchrun job (rank 0 of 1 when not launched by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files."""
        return self.rank == 0


def detect() -> DistEnv:
    """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as torchrun sets them."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as e:
        raise UserError(f"bad torchrun environment ({e})") from None
    return DistEnv(rank, world, local)


def device_for(env: DistEnv, device: str) -> str:
    """One GPU per process: ``cuda`` becomes ``cuda:<LOCAL_RANK>`` under torchrun."""
    if env.enabled and device == "cuda":
        return f"cuda:{env.local_rank}"
    return device


def init(env: DistEnv, device: str) -> None:
    """Join the process group (gloo on CPU, nccl on CUDA); nothing for a single process."""
    if not env.enabled or dist.is_initialized():
        return
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo",
                            rank=env.rank, world_size=env.world_size)


def shutdown(env: DistEnv) -> None:
    """Leave the process group (after a final barrier)."""
    if env.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait for every rank."""
    if env.enabled and dist.is_initialized():
        dist.barrier()


def wrap(model: nn.Module, env: DistEnv, device: str,
         find_unused_parameters: bool = False) -> nn.Module:
    """``model`` in DDP when distributed (over the parameters that currently require grad)."""
    if not env.enabled:
        return model
    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids,
                                   find_unused_parameters=find_unused_parameters)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or ``model`` itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def broadcast_from_main(value: Any, env: DistEnv) -> Any:
    """Rank 0's ``value`` on every rank (picklable; ``value`` itself for one process)."""
    if not env.enabled or not dist.is_initialized():
        return value
    box = [value if env.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean_over_ranks(values: Mapping[str, float], env: DistEnv,
                    device: str = "cpu") -> dict[str, float]:
    """Average scalar logs over ranks (every rank must call this at the same step)."""
    if not env.enabled or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= env.world_size
    return dict(zip(keys, t.tolist(), strict=True))

"""Shared test settings: deterministic seeds and one CPU thread.

Tiny convolutions run faster on one thread than on two, and a shared 2-core machine otherwise
oversubscribes badly (a tiny conv went from 0.3 ms to 80 ms).
"""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)

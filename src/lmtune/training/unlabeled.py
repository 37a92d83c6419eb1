"""The second stream: unlabeled batches drawn beside the Trainer's labeled ones."""
from __future__ import annotations

import torch


class UnlabeledStream:
    """Endless random batches over a pool, from its own generator (so drawing them never moves
    the global RNG the labeled side uses for dropout and shuffling). `next(allowed)` draws from
    the rows in `allowed` (all when None); when that set changes, a new permutation starts."""

    def __init__(self, dataset, batch_size: int, collate, seed: int):
        self.dataset = dataset
        self.batch_size = batch_size
        self.collate = collate
        self.generator = torch.Generator().manual_seed(seed)
        self._rows: list[int] | None = None
        self._order: list[int] = []

    def next(self, allowed: list[int] | None = None) -> dict | None:
        rows = list(range(len(self.dataset))) if allowed is None else list(allowed)
        if not rows:
            return None
        if rows != self._rows:
            self._rows, self._order = rows, []
        take = []
        while len(take) < min(self.batch_size, len(rows)):
            if not self._order:
                perm = torch.randperm(len(rows), generator=self.generator).tolist()
                self._order = [rows[i] for i in perm]
            take.append(self._order.pop())
        return self.collate([self.dataset[i] for i in take])

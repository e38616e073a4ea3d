"""The training stream: an endless sequence of batches that is a pure function of the step.

Batch s depends only on (seed, s, rank, world_size), never on what was drawn before. Resuming at step k
therefore needs no saved sampler state (just start at k), and all ranks agree on every global batch
without communicating: each takes its own slice of the same permutation.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

_SEED_STRIDE = 1_000_003  # (seed, epoch) pairs map to distinct seeds while epoch < this stride


def epoch_seed(seed: int, epoch: int) -> int:
    """The permutation seed of one epoch, wrapped into the range torch.Generator accepts."""
    return (seed * _SEED_STRIDE + epoch) % 2**64


class StepBatchSampler(Sampler[list[int]]):
    """Infinite batch sampler: epochs of fresh permutations, each cut into global batches of B * W.

    At global step s, with per_epoch = n // (B * W) whole global batches per epoch (the remainder is
    dropped, so every batch is full): the epoch is s // per_epoch, its permutation comes from
    `epoch_seed(seed, epoch)`, the global batch is slice s % per_epoch of it, and rank r takes the r-th
    B-sized part.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        seed: int,
        start_step: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1 or world_size < 1 or start_step < 0:
            raise ValueError(
                f"need batch_size >= 1, world_size >= 1 and start_step >= 0, "
                f"got {batch_size}, {world_size} and {start_step}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        global_batch = batch_size * world_size
        if num_samples < global_batch:
            raise ValueError(
                f"the dataset has {num_samples} samples, fewer than one global batch of "
                f"{global_batch} (batch_size {batch_size} x world_size {world_size})"
            )
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size
        self.per_epoch = num_samples // global_batch

    def batch_at(self, step: int) -> list[int]:
        """The indices this rank loads at global step `step`."""
        return self._rank_slice(self._permutation(step // self.per_epoch), step).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        return (indices.tolist() for indices in self.index_batches())

    def index_batches(self, device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
        """The same batches as index tensors on `device`, for data that lives there.

        Each epoch's permutation is drawn on the CPU, as for the list batches, so the indices are identical on any
        device; it moves to `device` once per epoch, and each step is then a slice of it, with no host transfer.
        """
        step = self.start_step
        epoch = step // self.per_epoch
        permutation = self._permutation(epoch).to(device)
        while True:
            if step // self.per_epoch != epoch:
                epoch = step // self.per_epoch
                permutation = self._permutation(epoch).to(device)
            yield self._rank_slice(permutation, step)
            step += 1

    def _permutation(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        return torch.randperm(self.num_samples, generator=generator)

    def _rank_slice(self, permutation: torch.Tensor, step: int) -> torch.Tensor:
        start = ((step % self.per_epoch) * self.world_size + self.rank) * self.batch_size
        return permutation[start : start + self.batch_size]

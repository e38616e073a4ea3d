"""The data of a pack (training/packed_module.py): every member's own training stream, one batch of each per step.

Member k's batch at step s is the batch its own run, seeded by its own seed, reads at step s; the pack's batch is
the members' batches stacked along dimension 1, (B, K, ...), the layout of every tensor of a pack.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch

from ..training.members import MEMBER_DIM
from .module import GANDataModule

SHARED = ("spec", "batch_size", "data_dir", "polygon_sides", "on_device", "num_workers")
"""What the members of a pack read alike: the dataset and how it is batched and fed. Only the seed differs."""


class MemberBatches:
    """The members' streams in lockstep: one batch of each, stacked along MEMBER_DIM."""

    def __init__(self, streams: Sequence[Iterable[torch.Tensor]]) -> None:
        self.streams = list(streams)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for batches in zip(*self.streams, strict=False):
            yield torch.stack(batches, dim=MEMBER_DIM)


class PackedDataModule(GANDataModule):
    """One dataset for the K members of a pack, each by its own seed (`seeds`, in member order)."""

    def __init__(self, seeds: Sequence[int], **data: object) -> None:
        if not seeds:
            raise ValueError("a pack's data needs one seed per member, got none")
        super().__init__(seed=seeds[0], **data)
        self.seeds = list(seeds)

    @classmethod
    def of_members(cls, modules: Sequence[GANDataModule]) -> PackedDataModule:
        """The members' data modules as one; they must differ in their seed only."""
        if not modules:
            raise ValueError("a pack's data needs one member's data module at least, got none")
        first = modules[0]
        for index, module in enumerate(modules[1:], start=1):
            for name in SHARED:
                if getattr(module, name) != getattr(first, name):
                    raise ValueError(
                        f"member {index} of the pack reads its data with {name}={getattr(module, name)!r}, member 0 "
                        f"with {getattr(first, name)!r}: a pack's members differ in their seed only"
                    )
        packed = cls(
            [module.seed for module in modules],
            name=first.spec.name,
            data_dir=None if first.data_dir is None else str(first.data_dir),
            batch_size=first.batch_size,
            num_workers=first.num_workers,
            download=first.download,
            on_device=first.on_device,
            polygon_sides=first.polygon_sides,
        )
        packed._splits = first._splits  # splits already loaded are shared, not read again
        return packed

    def train_dataloader(self) -> MemberBatches:
        return MemberBatches([self.stream(seed) for seed in self.seeds])

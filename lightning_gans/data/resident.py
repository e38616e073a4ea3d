"""The training stream of a small in-memory split held on the training device.

On a GPU one step of the paper's 28x28 networks takes about a millisecond, so a DataLoader batch (indices turned
into a list and back, a collate, a copy from pageable host memory per step) costs as much as the step itself.
A split held where the model is makes each batch two gathers queued on the device, and the host never waits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from lightning_gans.data.containers import as_samples
from lightning_gans.data.sampling import StepBatchSampler

# "auto" holds a split on the device up to this size as stored (uint8 images: CIFAR-10's 50,000 are 150 MiB),
# leaving nearly all of any training GPU to the networks and the evaluation.
RESIDENT_MAX_BYTES = 2**30

Batch = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
"""Samples, or (samples, labels) for a conditional GAN."""


class ResidentBatches:
    """StepBatchSampler's batches of a stored split, gathered on the device that holds it.

    The batches equal the DataLoader's bit for bit: the indices are the sampler's (each epoch's permutation is drawn
    on the CPU), and uint8 images become floats through a 256-entry table made by the CPU path's own conversion,
    since CUDA divides by a scalar as a multiplication by its reciprocal, which differs in the last bit for half of
    the 256 values. Lightning passes the batches on untouched: moving a tensor to the device it is on is a no-op.

    With `block_end` (the training module's GAN.block_end: how many steps are done when a block starting after a
    given number ends), the stream yields blocks of consecutive steps' batches, shaped (steps, batch, *sample),
    each gathered in one indexing op; training/stepping.py says why and where blocks are cut.

    With `labels` (a conditional GAN's stream), each batch or block comes with its labels, gathered by the same
    indices: (samples, labels).
    """

    def __init__(
        self,
        stored: torch.Tensor,
        sampler: StepBatchSampler,
        device: torch.device,
        block_end: Callable[[int], int] | None = None,
        labels: torch.Tensor | None = None,
    ) -> None:
        self.data = stored.to(device)
        self.labels = None if labels is None else labels.to(device)
        self.sampler = sampler
        self.device = device
        self.block_end = block_end
        images = stored.dtype == torch.uint8
        self.table = as_samples(torch.arange(256, dtype=torch.uint8)).to(device) if images else None

    def __iter__(self) -> Iterator[Batch]:
        batches = self.sampler.index_batches(self.device)
        if self.block_end is None:
            return (self._samples(indices) for indices in batches)
        return self._blocks(batches, self.block_end)

    def _blocks(self, batches: Iterator[torch.Tensor], block_end: Callable[[int], int]) -> Iterator[Batch]:
        step = self.sampler.start_step
        while True:
            end = block_end(step)
            yield self._samples(torch.stack([next(batches) for _ in range(step, end)]))
            step = end

    def _samples(self, indices: torch.Tensor) -> Batch:
        batch = self.data[indices]  # advanced indexing copies: the stored split is never aliased
        samples = batch if self.table is None else self.table[batch.long()]
        return samples if self.labels is None else (samples, self.labels[indices])

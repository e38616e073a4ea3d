"""The two shapes a split takes: one tensor in memory, or a list of files decoded on demand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset


class InMemorySamples(Dataset[torch.Tensor]):
    """A split held as one tensor: uint8 images (a quarter of the memory of float), or float points.

    `__getitems__` answers a whole batch with one indexing op; the DataLoader calls it instead of
    indexing item by item, which for small images is most of the cost of loading.
    """

    def __init__(self, data: torch.Tensor) -> None:
        if data.dtype not in (torch.uint8, torch.float32):
            raise TypeError(f"samples must be uint8 images or float32 points, got {data.dtype}")
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> torch.Tensor:
        # Advanced indexing copies, so callers never alias (and cannot modify) the stored split.
        return as_samples(self.data[torch.as_tensor(indices, dtype=torch.long)])


class LabelledSamples(InMemorySamples):
    """A split held with its class labels (int64, one per sample).

    Indexing it gives samples alone, as any split does, so every scorer of unconditional runs reads it unchanged;
    the training stream of a conditional GAN reads it through `SamplesWithLabels`, and the per-class scores read
    `labels` directly.
    """

    def __init__(self, data: torch.Tensor, labels: torch.Tensor) -> None:
        super().__init__(data)
        if labels.shape != (len(data),) or labels.dtype != torch.long:
            raise ValueError(
                f"labels must be int64 shaped ({len(data)},) like the samples, got {labels.dtype} {tuple(labels.shape)}"
            )
        self.labels = labels


class SamplesWithLabels(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A labelled split's batches as (samples, labels): what a conditional GAN trains on."""

    def __init__(self, split: LabelledSamples) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        samples, labels = self.__getitems__([index])
        return samples[0], labels[0]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.split.__getitems__(indices), self.split.labels[index]


def as_samples(stored: torch.Tensor) -> torch.Tensor:
    """What the model sees of stored samples: uint8 images as floats in [0, 1], float points unchanged."""
    return stored.float().div_(255) if stored.dtype == torch.uint8 else stored


class ImageFiles(Dataset[torch.Tensor]):
    """A split too large to hold decoded (CelebA): image files decoded per item, in DataLoader workers."""

    def __init__(self, paths: Sequence[Path], decode: Callable[[Path], torch.Tensor]) -> None:
        self.paths = list(paths)
        self.decode = decode

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.decode(self.paths[index])

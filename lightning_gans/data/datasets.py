"""The dataset registry: one DatasetSpec per name the CLI accepts.

A spec answers the questions asked before any data is loaded (sample shape for building the networks,
the paper's step budget, which splits exist), so a bad configuration fails in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from lightning_gans.data.images import load_celeba, load_cifar10, load_fashion_mnist, load_mnist
from lightning_gans.data.mixtures import load_grid25, load_ring8
from lightning_gans.data.polygons import load_polygons
from lightning_gans.registry import Registry


@dataclass(frozen=True)
class DatasetSpec:
    """What the rest of the project needs to know about a dataset, plus how to load one split.

    `paper_steps` is the paper's training budget for the dataset, in steps of one batch of 64.
    `load(data_dir, split, download)` returns float32 samples: images in [0, 1] of `sample_shape`,
    mixture points as raw coordinates.
    """

    name: str
    sample_shape: tuple[int, ...]
    paper_steps: int
    splits: tuple[str, ...]
    load: Callable[[Path | None, str, bool], Dataset]


DATASETS: Registry[DatasetSpec] = Registry("dataset")

for _spec in (
    DatasetSpec("mnist", (1, 28, 28), 15_625, ("train", "test"), load_mnist),
    DatasetSpec("fashion_mnist", (1, 28, 28), 15_625, ("train", "test"), load_fashion_mnist),
    DatasetSpec("cifar10", (3, 32, 32), 78_125, ("train", "test"), load_cifar10),
    DatasetSpec("celeba", (3, 64, 64), 101_250, ("train", "test"), load_celeba),
    DatasetSpec("polygons", (1, 28, 28), 15_625, ("train", "test", "holdout"), load_polygons),
    DatasetSpec("ring8", (2,), 25_000, ("train", "test"), load_ring8),
    DatasetSpec("grid25", (2,), 25_000, ("train", "test"), load_grid25),
):
    DATASETS.register(_spec.name, _spec)

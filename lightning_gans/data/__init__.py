"""Datasets of the paper and the DataModule that streams them to the trainer.

Names: mnist, fashion_mnist, cifar10, celeba (files on disk, found or downloaded), polygons (generated,
cached on disk), ring8 and grid25 (2-D Gaussian mixtures, sampled in memory).
"""

from lightning_gans.data.datasets import DATASETS, DatasetSpec
from lightning_gans.data.errors import DatasetFileError, DatasetNotFoundError
from lightning_gans.data.mixtures import MIXTURES, GaussianMixture
from lightning_gans.data.module import GANDataModule
from lightning_gans.data.polygons import polygon_vertices, render_polygons
from lightning_gans.data.sampling import StepBatchSampler

__all__ = [
    "DATASETS",
    "MIXTURES",
    "DatasetFileError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "GANDataModule",
    "GaussianMixture",
    "StepBatchSampler",
    "polygon_vertices",
    "render_polygons",
]

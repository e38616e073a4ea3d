"""Density and coverage (Naeem, Oh, Uh, Choi & Yoo, ICML 2020): fidelity and diversity that one outlier cannot fake.

Improved precision counts a generated feature as real when it lies in *any* real k-NN ball, and a real outlier has a
ball wide enough to hold features far from every other real one: samples collapsed onto a single point inside such a
ball score precision 1 (docs/metrics.md). Both scores here are counts over the real balls alone, whose radii do not
depend on the generator:
- density: the number of real balls that hold a generated feature, averaged over the generated features and divided
  by k. It is 1 in expectation for features drawn like the real ones and exceeds 1 where samples crowd into dense
  regions; an outlier's ball adds at most 1/k to it.
- coverage: the share of real features whose ball holds at least one generated feature. Samples collapsed onto one
  point cover only the balls around that point, which are few unless many balls overlap there (docs/metrics.md).
Balls are closed, as in precision and recall, so an exact copy of the real set has density (k + 1) / k, not 1: each
real ball holds its own centre's copy and the copies of its k nearest neighbours.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_gans.metrics.frechet import InsufficientSamplesError
from lightning_gans.metrics.precision_recall import (
    DEFAULT_CHUNK,
    ball_membership,
    check_pair,
    knn_radii,
    require_neighbours,
)

NEIGHBOURS = 5
"""The paper's k: a larger ball than precision's k = 3, so density's expectation of 1 holds with less variance."""


def density_coverage_in_balls(
    fake: Tensor, real: Tensor, radii: Tensor, k: int, chunk: int = DEFAULT_CHUNK
) -> tuple[float, float]:
    """(density, coverage) of (n, d) `fake` features against real balls whose k-NN `radii` are already known.

    The radii depend on the real features alone, so a fixed reference computes them once (FeatureDiagnostics).
    """
    if fake.shape[0] == 0:
        raise InsufficientSamplesError("density and coverage need at least one generated feature, got none")
    pairs = 0
    covered = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    for inside in ball_membership(fake, real, radii, chunk):
        pairs += int(inside.sum())
        covered |= inside.any(dim=0)
    return pairs / (k * fake.shape[0]), int(covered.sum()) / real.shape[0]


def density_coverage(
    real: Tensor, fake: Tensor, k: int = NEIGHBOURS, chunk: int = DEFAULT_CHUNK
) -> tuple[float, float]:
    """(density, coverage) of (n, d) generated `fake` features against (m, d) `real` ones, k-NN balls of the real."""
    check_pair(real, fake)
    require_neighbours("real", real, k)
    return density_coverage_in_balls(fake, real, knn_radii(real, k, chunk), k, chunk)

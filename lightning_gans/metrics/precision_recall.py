"""Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019), which separate quality from coverage.

A single distance such as FID cannot tell a generator that makes poor samples from one that drops part of the
distribution. Here each feature set's manifold is estimated as the union of balls around its features, each with the
radius to that feature's k-th nearest neighbour (k = 3 in the paper): precision is the share of generated features
inside the real manifold, recall the share of real features inside the generated one.

Distances are float64 and computed a block of rows at a time, so 10k x 10k sets never hold a full float64 distance
matrix (800 MB) in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from lightning_gans.metrics.frechet import InsufficientSamplesError

DEFAULT_CHUNK = 256
"""Rows per block of pairwise distances: 256 x 10k float64 is 20 MB, under glibc's 32 MiB mmap ceiling; blocks of
1024 (80 MB) were mapped and page-faulted afresh each time, and the diagnostics took twice as long (`make bench`)."""


def _check_chunk(chunk: int) -> None:
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")


def knn_radii(features: Tensor, k: int, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Float64 distance from each of (n, d) features to its k-th nearest neighbour among the others.

    A row is excluded by index, not by zero distance, so an exact duplicate of a row is its nearest neighbour at
    distance 0.
    """
    if features.ndim != 2:
        raise ValueError(f"features must be (n, d), got shape {tuple(features.shape)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _check_chunk(chunk)
    count = features.shape[0]
    if count < k + 1:
        raise InsufficientSamplesError(
            f"{count} samples are too few for {k}-nearest-neighbour distances; at least {k + 1} (k + 1) are needed"
        )
    x = features.to(torch.float64)
    radii = []
    for start in range(0, count, chunk):
        distances = torch.cdist(x[start : start + chunk], x)
        rows = torch.arange(distances.shape[0], device=x.device)
        distances[rows, start + rows] = torch.inf
        radii.append(distances.topk(k, dim=1, largest=False).values[:, -1])
    return torch.cat(radii)


def ball_membership(points: Tensor, centres: Tensor, radii: Tensor, chunk: int = DEFAULT_CHUNK) -> Iterator[Tensor]:
    """For each block of `chunk` of the (n, d) points, whether each lies in each closed ball (centres[j], radii[j]).

    Blocks of (chunk, m) booleans in point order: every k-NN score is a count over this one matrix, which is never
    held whole.
    """
    _check_chunk(chunk)
    x = points.to(device=centres.device, dtype=torch.float64)
    y = centres.to(torch.float64)
    for block in x.split(chunk):
        yield torch.cdist(block, y) <= radii


def share_inside(points: Tensor, centres: Tensor, radii: Tensor, chunk: int = DEFAULT_CHUNK) -> float:
    """Share of (n, d) points within distance radii[j] (inclusive) of at least one of the (m, d) centres."""
    inside = sum(int(block.any(dim=1).sum()) for block in ball_membership(points, centres, radii, chunk))
    return inside / points.shape[0]


def check_pair(real: Tensor, fake: Tensor) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected (m, d) and (n, d) features, got shapes {tuple(real.shape)}, {tuple(fake.shape)}")


def require_neighbours(what: str, features: Tensor, k: int) -> None:
    if features.shape[0] < k + 1:
        raise InsufficientSamplesError(
            f"{what} features: {features.shape[0]} samples are too few for a {k}-nearest-neighbour manifold; "
            f"at least {k + 1} (k + 1) are needed"
        )


def improved_precision_recall(
    real: Tensor, fake: Tensor, k: int = 3, chunk: int = DEFAULT_CHUNK
) -> tuple[float, float]:
    """(precision, recall) of (n, d) generated `fake` features against (m, d) `real` ones, k-NN manifolds."""
    check_pair(real, fake)
    require_neighbours("real", real, k)
    require_neighbours("generated", fake, k)
    fake = fake.to(real.device)
    precision = share_inside(fake, real, knn_radii(real, k, chunk), chunk)
    recall = share_inside(real, fake, knn_radii(fake, k, chunk), chunk)
    return precision, recall

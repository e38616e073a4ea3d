"""The Fréchet distance between two Gaussians fitted to feature sets (FID when the features come from Inception).

Everything runs in float64 whatever the input dtype: the distance is a difference of traces of size ~d that
nearly cancel for good generators, so float32 round-off would be of the same order as the differences the study
ranks models by.
"""

from __future__ import annotations

import torch
from torch import Tensor

ROUND_OFF_TOLERANCE = 1e-8
"""A negative distance smaller than this fraction of the terms it was computed from is round-off and is set to 0;
a larger negative value means broken inputs (e.g. non-PSD covariances) and is returned as is so it gets noticed."""


class InsufficientSamplesError(ValueError):
    """Too few samples for a statistic that is otherwise singular or undefined."""


def check_enough_samples(count: int, dim: int, what: str) -> None:
    """Refuses a covariance estimate that is singular by construction.

    N samples span at most N - 1 dimensions around their mean, so with N <= d the covariance is rank deficient and
    its square root (and so the distance) depends on round-off rather than on the samples.
    """
    minimum = dim + 1
    if count < minimum:
        raise InsufficientSamplesError(
            f"{what}: {count} samples are too few for a Fréchet distance on {dim}-dimensional features; "
            f"at least {minimum} (dim + 1) are needed for a non-singular covariance"
        )


def _require_count(count: int) -> None:
    if count < 2:
        raise InsufficientSamplesError(f"an unbiased covariance needs at least 2 samples, got {count}")


def _symmetrised(matrix: Tensor) -> Tensor:
    # Products such as X^T X need not be bitwise symmetric; eigh would silently read only one triangle.
    return (matrix + matrix.T) / 2


def feature_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance of (N, d) features, centred before the product to avoid cancellation."""
    if features.ndim != 2:
        raise ValueError(f"features must be (N, d), got shape {tuple(features.shape)}")
    count = features.shape[0]
    _require_count(count)
    x = features.to(torch.float64)
    mean = x.mean(dim=0)
    centred = x - mean
    return mean, _symmetrised(centred.T @ centred / (count - 1))


def statistics_from_sums(feature_sum: Tensor, outer_sum: Tensor, count: int) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance from running sums, which add across batches and processes.

    The sums should have been accumulated in float64: the covariance is their difference with N mean mean^T,
    which cancels to the extent the features' mean exceeds their spread.
    """
    _require_count(count)
    total = feature_sum.to(torch.float64)
    mean = total / count
    cov = (outer_sum.to(torch.float64) - count * torch.outer(mean, mean)) / (count - 1)
    return mean, _symmetrised(cov)


def _psd_sqrt(matrix: Tensor) -> Tensor:
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def _trace_sqrt_product(cov1: Tensor, cov2: Tensor) -> Tensor:
    """tr sqrt(S1 S2) for symmetric PSD S1, S2 without a non-symmetric matrix square root.

    S1 S2 is similar to R S2 R with R = S1^(1/2), which is symmetric PSD: its eigenvalues come from eigvalsh and are
    real, so no complex parts or iterative sqrtm (which stalls on near-singular products) are involved.
    """
    root = _psd_sqrt(cov1)
    eigenvalues = torch.linalg.eigvalsh(_symmetrised(root @ cov2 @ root))
    return eigenvalues.clamp(min=0).sqrt().sum()


def frechet_distance(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> Tensor:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2) as a float64 scalar."""
    dim = mean1.shape[-1]
    shapes = (mean1.shape, cov1.shape, mean2.shape, cov2.shape)
    if shapes != ((dim,), (dim, dim), (dim,), (dim, dim)):
        raise ValueError(f"expected means (d,) and covariances (d, d) of one d, got shapes {shapes}")
    mean1, cov1, mean2, cov2 = (t.to(torch.float64) for t in (mean1, cov1, mean2, cov2))
    cov2 = cov2.to(cov1.device)
    diff = mean1 - mean2.to(mean1.device)
    mean_term = diff @ diff
    trace_terms = cov1.trace() + cov2.trace()
    distance = mean_term + trace_terms - 2 * _trace_sqrt_product(cov1, cov2)
    round_off = (distance < 0) & (-distance <= ROUND_OFF_TOLERANCE * (mean_term + trace_terms))
    return torch.where(round_off, torch.zeros_like(distance), distance)

"""FD, IS, KID and the k-NN scores written out in numpy/scipy float64, independently of lightning_gans, for tests to
compare against.

Only the random draws come from torch (a seeded `torch.Generator`), so that a seeded KID can be reproduced; the
arithmetic is all here. Distances are scipy's, summed from coordinate differences, not torch.cdist's
`|a|^2 + |b|^2 - 2 a.b`.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.linalg
import scipy.special
import torch
from scipy.spatial.distance import cdist

KID_ORDER_SEED = 0
"""Seeds the fixed N(0, I) direction whose projection orders the rows before KID's subsets are drawn."""


def scipy_frechet(x: np.ndarray, y: np.ndarray) -> float:
    """FD the textbook way: numpy means and covariances, scipy's matrix square root."""
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


def numpy_inception_score(logits: np.ndarray, splits: int = 1) -> tuple[float, float]:
    """exp(mean KL(p(y|x) || p(y))) on consecutive parts with boundaries i * N // splits; mean and population std."""
    probabilities = scipy.special.softmax(logits.astype(np.float64), axis=1)
    bounds = [i * len(logits) // splits for i in range(splits + 1)]
    scores = []
    for start, stop in itertools.pairwise(bounds):
        part = probabilities[start:stop]
        scores.append(np.exp(scipy.special.rel_entr(part, part.mean(axis=0)).sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """MMD^2 with k(a, b) = (a.b / d + 1)^3, the within-set sums leaving out the diagonal."""

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a @ b.T / a.shape[1] + 1) ** 3

    m, n = len(x), len(y)
    kxx, kyy = kernel(x, x), kernel(y, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * kernel(x, y).mean())


def numpy_kid(real: np.ndarray, fake: np.ndarray, subsets: int, subset_size: int, seed: int) -> tuple[float, float]:
    """KID as `kernel_inception_distance` documents it: mean and population std of the MMD^2 over subsets.

    Each set's rows are first sorted by their projection on a fixed random direction, so that the subsets depend on
    the rows and not on their order; then each subset takes the first `subset_size` indices of a permutation drawn
    from the seeded generator, for the real set and then for the generated one.
    """
    direction = torch.randn(real.shape[1], generator=torch.Generator().manual_seed(KID_ORDER_SEED), dtype=torch.float64)
    real, fake = (rows[np.argsort(rows @ direction.numpy(), kind="stable")] for rows in (real, fake))
    generator = torch.Generator().manual_seed(seed)
    estimates = []
    for _ in range(subsets):
        real_rows = torch.randperm(len(real), generator=generator)[:subset_size].numpy()
        fake_rows = torch.randperm(len(fake), generator=generator)[:subset_size].numpy()
        estimates.append(unbiased_mmd2(real[real_rows], fake[fake_rows]))
    return float(np.mean(estimates)), float(np.std(estimates))


def gaussian(count: int, dim: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """(count, dim) float32 draws from N(shift, I), the same for the same seed."""
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed)) + shift


def kth_neighbour_distances(features: np.ndarray, k: int) -> np.ndarray:
    """Each row's distance to its k-th nearest other row: the radius of its k-NN ball."""
    distances = cdist(features, features)
    np.fill_diagonal(distances, np.inf)
    return np.sort(distances, axis=1)[:, k - 1]


def numpy_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Kynkaanniemi et al.: the share of each set inside the union of the other's closed k-NN balls."""
    precision = (cdist(fake, real) <= kth_neighbour_distances(real, k)).any(axis=1).mean()
    recall = (cdist(real, fake) <= kth_neighbour_distances(fake, k)).any(axis=1).mean()
    return float(precision), float(recall)


def numpy_density_coverage(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Naeem et al.'s sums over the closed k-NN balls of the real rows: `inside[j, i]` is fake j in real i's ball."""
    inside = cdist(fake, real) <= kth_neighbour_distances(real, k)
    return float(inside.sum() / (k * len(fake))), float(inside.any(axis=0).mean())

"""Density and coverage against a numpy/scipy float64 version, and on the failures of precision they were made for."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy_metrics import gaussian, kth_neighbour_distances, numpy_density_coverage
from scipy.spatial.distance import cdist
from torch import Tensor

from lightning_gans.metrics.density_coverage import NEIGHBOURS, density_coverage
from lightning_gans.metrics.frechet import InsufficientSamplesError
from lightning_gans.metrics.precision_recall import improved_precision_recall


def expected(real: Tensor, fake: Tensor, k: int = NEIGHBOURS) -> tuple[float, float]:
    return numpy_density_coverage(real.double().numpy(), fake.double().numpy(), k)


def balls_holding(point: Tensor, real: Tensor, k: int = NEIGHBOURS) -> int:
    """How many real k-NN balls hold `point`, in numpy float64."""
    real64 = real.double().numpy()
    return int((cdist(point.double().numpy()[None], real64)[0] <= kth_neighbour_distances(real64, k)).sum())


def test_matches_numpy_float64() -> None:
    real, fake = gaussian(200, 8, seed=0), gaussian(150, 8, seed=1, shift=0.7)
    assert 0 < expected(real, fake)[1] < 1  # some real balls hold a generated feature, some do not
    assert density_coverage(real, fake) == expected(real, fake)
    assert density_coverage(real, fake, k=3) == expected(real, fake, k=3)


def test_chunk_size_does_not_change_the_result() -> None:
    real, fake = gaussian(120, 8, seed=8), gaussian(90, 8, seed=9, shift=0.5)
    for chunk in (1000, 7, 1):
        assert density_coverage(real, fake, chunk=chunk) == expected(real, fake), chunk


def test_a_copy_of_the_real_set_has_density_k_plus_one_over_k_and_full_coverage() -> None:
    """Every real ball holds its centre's copy and the copies of its k nearest neighbours, k + 1 in all.

    The copies of the k-th neighbours lie exactly on the balls' boundaries, so the features are integers: every
    squared distance is then an exact float64 integer however it is computed, and no copy falls out by rounding.
    """
    real = torch.randint(0, 10**6, (300, 8), generator=torch.Generator().manual_seed(2)).double()
    assert density_coverage(real, real.clone()) == expected(real, real) == ((NEIGHBOURS + 1) / NEIGHBOURS, 1.0)


def test_samples_collapsed_onto_one_point_cover_only_the_balls_around_it() -> None:
    """All generated features at the real mean: precision is 1 and tells nothing; coverage is the share of real
    balls that hold that one point, and density their number over k (here above 1: the mean is in a dense region)."""
    real = gaussian(1000, 8, seed=3)
    fake = real.mean(dim=0).expand(200, -1)
    balls = balls_holding(real.mean(dim=0), real)
    assert improved_precision_recall(real, fake) == (1.0, 0.0)
    assert density_coverage(real, fake) == expected(real, fake) == (balls / NEIGHBOURS, balls / 1000)
    assert 0 < balls <= 20  # coverage of at most 2%


def test_a_dropped_mode_lowers_coverage_by_its_share_and_leaves_density_at_one() -> None:
    """Ten well-separated clusters of n = 100 real features; m = 300 generated ones in each of nine.

    A real feature of a kept cluster is uncovered when its k nearest neighbours among the n - 1 other real and the m
    generated features of its cluster, all exchangeable draws, are real: probability C(n - 1, k) / C(n + m - 1, k).
    The dropped cluster's tenth is never covered. Density is 1 in expectation for features drawn like the real ones.
    """
    n, m = 100, 300
    angles = torch.arange(10) * 2 * math.pi / 10
    centres = 50 * torch.stack((angles.cos(), angles.sin()), dim=1)
    real = torch.cat([centre + gaussian(n, 2, seed=100 + i) for i, centre in enumerate(centres)])
    fake = torch.cat([centre + gaussian(m, 2, seed=200 + i) for i, centre in enumerate(centres[:9])])
    density, coverage = density_coverage(real, fake)
    mean_coverage = 0.9 * (1 - math.comb(n - 1, NEIGHBOURS) / math.comb(n + m - 1, NEIGHBOURS))  # 0.89922
    assert (density, coverage) == expected(real, fake)
    assert mean_coverage - 0.003 < coverage <= 0.9
    assert density == pytest.approx(1.0, abs=0.05)


def test_identical_samples_in_a_real_outliers_ball_are_precise_but_not_dense_or_covering() -> None:
    """The grey-square failure (docs/metrics.md): an isolated real feature has a k-NN ball wide enough to reach
    points far from all other real data, and samples collapsed onto such a point all lie in it.

    Four real outliers at distance 10 from a cloud of 500, along four axes; every generated feature is the same
    point 2 beyond the first outlier, outside every ball but that outlier's (3-NN radius about 8).
    """
    cloud = gaussian(500, 8, seed=4)
    outliers = 10 * torch.eye(8)[:4]
    real = torch.cat((cloud, outliers))
    fake = (12 * torch.eye(8)[0]).expand(64, -1)
    assert improved_precision_recall(real, fake) == (1.0, 0.0)
    assert improved_precision_recall(torch.cat((cloud, outliers[1:])), fake) == (0.0, 0.0)  # that one ball did it
    assert balls_holding(fake[0], real) == 1
    assert density_coverage(real, fake) == expected(real, fake) == (1 / NEIGHBOURS, 1 / len(real))


def test_too_few_samples_name_the_counts() -> None:
    with pytest.raises(InsufficientSamplesError, match=r"real features: 5 samples .* at least 6"):
        density_coverage(gaussian(5, 2, seed=0), gaussian(10, 2, seed=1))
    with pytest.raises(InsufficientSamplesError, match="at least one generated feature, got none"):
        density_coverage(gaussian(10, 2, seed=0), gaussian(0, 2, seed=1))


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(10, 2\), \(10, 3\)"):
        density_coverage(torch.zeros(10, 2), torch.zeros(10, 3))
    with pytest.raises(ValueError, match="chunk"):
        density_coverage(gaussian(10, 2, seed=0), gaussian(10, 2, seed=1), chunk=0)


def test_numpy_reference_counts_closed_balls() -> None:
    """The reference itself, by hand: with k = 1 the real points 0, 1, 3 and 10 have radii 1, 1, 2 and 7."""
    real = np.array([[0.0], [1.0], [3.0], [10.0]])
    fake = np.array([[1.0], [-5.0]])  # 1 is in the balls of 0 and 3 (on their boundaries) and of 1; -5 in none
    assert numpy_density_coverage(real, fake, k=1) == (3 / 2, 3 / 4)

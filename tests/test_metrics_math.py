"""FD, IS and KID checked against hand arithmetic and independent numpy/scipy float64 computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy_metrics import numpy_kid, scipy_frechet, unbiased_mmd2
from torch import Tensor

from lightning_gans.metrics import (
    InsufficientSamplesError,
    check_enough_samples,
    feature_statistics,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    statistics_from_sums,
)


def correlated_features(count: int, dim: int, seed: int, shift: float = 0.0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dim, dim, generator=generator, dtype=torch.float64) / math.sqrt(dim)
    return torch.randn(count, dim, generator=generator, dtype=torch.float64) @ mixing + shift


def one_hot_logits(classes: list[int], k: int, margin: float = 1e4) -> Tensor:
    return torch.nn.functional.one_hot(torch.tensor(classes), k).to(torch.float32) * margin


# ---------------------------------------------------------------- statistics


def test_feature_statistics_match_numpy_in_float64() -> None:
    x = correlated_features(300, 8, seed=0, shift=3.0).to(torch.float32)
    mean, cov = feature_statistics(x)
    reference = x.double().numpy()
    assert mean.dtype == cov.dtype == torch.float64
    np.testing.assert_allclose(mean.numpy(), reference.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov.numpy(), np.cov(reference, rowvar=False), rtol=1e-10, atol=1e-14)


def test_statistics_from_sums_match_numpy_in_float64() -> None:
    x = correlated_features(200, 6, seed=1, shift=2.0)
    mean, cov = statistics_from_sums(x.sum(dim=0), x.T @ x, x.shape[0])
    reference = x.numpy()
    np.testing.assert_allclose(mean.numpy(), reference.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov.numpy(), np.cov(reference, rowvar=False), rtol=1e-9, atol=1e-12)


def test_statistics_need_two_samples() -> None:
    with pytest.raises(InsufficientSamplesError, match="at least 2"):
        feature_statistics(torch.ones(1, 3))
    with pytest.raises(InsufficientSamplesError, match="at least 2"):
        statistics_from_sums(torch.ones(3), torch.ones(3, 3), 1)


def test_check_enough_samples_names_count_dim_and_minimum() -> None:
    check_enough_samples(65, 64, "generated samples")
    with pytest.raises(InsufficientSamplesError, match=r"generated samples: 64 samples.*64-dimensional.*at least 65"):
        check_enough_samples(64, 64, "generated samples")
    assert issubclass(InsufficientSamplesError, ValueError)


# ---------------------------------------------------------------- Fréchet distance


@pytest.mark.parametrize("dim", [16, 64])
def test_frechet_distance_matches_scipy(dim: int) -> None:
    x = correlated_features(500, dim, seed=2)
    y = correlated_features(500, dim, seed=3, shift=0.2)
    fd = frechet_distance(*feature_statistics(x), *feature_statistics(y))
    assert fd.dtype == torch.float64 and fd.ndim == 0
    assert fd.item() == pytest.approx(scipy_frechet(x.numpy(), y.numpy()), rel=1e-6)


def test_frechet_distance_of_a_set_with_itself_is_zero() -> None:
    stats = feature_statistics(correlated_features(500, 32, seed=4, shift=1.0))
    fd = frechet_distance(*stats, *stats)
    assert fd.item() >= 0
    assert fd.item() == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_1d_gaussians() -> None:
    # (mu1 - mu2)^2 + (s1 - s2)^2 = 3^2 + (2 - 0.5)^2 = 11.25
    fd = frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-2.0]), torch.tensor([[0.25]]))
    assert fd.item() == pytest.approx(11.25, rel=1e-12)


def test_frechet_distance_of_diagonal_covariances() -> None:
    # Per dimension (mu1 - mu2)^2 + (sqrt(v1) - sqrt(v2))^2: (1 + 1) + (0 + 1) + (4 + 0) = 7.
    mean1, var1 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 4.0, 9.0])
    mean2, var2 = torch.tensor([1.0, 1.0, 0.0]), torch.tensor([4.0, 1.0, 9.0])
    fd = frechet_distance(mean1, torch.diag(var1), mean2, torch.diag(var2))
    assert fd.item() == pytest.approx(7.0, rel=1e-12)


def test_frechet_distance_handles_singular_covariances() -> None:
    # Rank-one covariances: tr sqrt(S1 S2) is still defined and the eigh route must not produce NaN. Zero
    # eigenvalues come out of eigh as +-1e-16, whose square roots make the error ~1e-8 rather than ~1e-16.
    v = torch.tensor([1.0, 2.0, 2.0])
    cov = torch.outer(v, v)
    fd = frechet_distance(torch.zeros(3), cov, torch.zeros(3), 4 * cov)
    assert fd.item() == pytest.approx(9.0 + 36.0 - 2 * 18.0, rel=1e-6)


def test_frechet_distance_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="one d"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(2), torch.eye(2))


# ---------------------------------------------------------------- Inception Score


def test_inception_score_of_confident_evenly_spread_classes_is_k() -> None:
    k, per_class = 10, 7
    score, std = inception_score(one_hot_logits(list(range(k)) * per_class, k))
    assert score.dtype == torch.float64
    assert score.item() == pytest.approx(k, rel=1e-6)
    assert std.item() == 0


def test_inception_score_of_one_confident_class_is_one() -> None:
    score, _ = inception_score(one_hot_logits([3] * 20, 5))
    assert score.item() == pytest.approx(1.0, abs=1e-12)


def test_inception_score_of_uniform_predictions_is_one() -> None:
    score, _ = inception_score(torch.zeros(30, 10))
    assert score.item() == pytest.approx(1.0, abs=1e-12)


def test_inception_score_splits_are_consecutive_and_in_order() -> None:
    # Boundaries i * N // splits for N=6, splits=2: [0, 3) holds classes {0, 1, 2} -> 3; [3, 6) holds {0, 0, 1}:
    # p(y) = (2/3, 1/3), KL is log(3/2) twice and log 3 once, so the score is exp(mean) = (9/4 * 3)^(1/3).
    logits = one_hot_logits([0, 1, 2, 0, 0, 1], 3)
    score, std = inception_score(logits, splits=2)
    second = (9 / 4 * 3) ** (1 / 3)
    assert score.item() == pytest.approx((3 + second) / 2, rel=1e-9)
    assert std.item() == pytest.approx(abs(3 - second) / 2, rel=1e-9)
    # Reordered to [0, 0, 0, 1, 2, 1] the splits change (they are not shuffled): {0, 0, 0} scores 1 and {1, 2, 1}
    # the second score above. The single split is the whole set either way: p(y) = (1/2, 1/3, 1/6), KL log 2
    # three times, log 3 twice and log 6 once, so the score is (2^3 * 3^2 * 6)^(1/6) = 432^(1/6).
    reordered = logits[torch.tensor([0, 3, 4, 1, 2, 5])]
    assert inception_score(reordered, splits=2)[0].item() == pytest.approx((1 + second) / 2, rel=1e-9)
    for samples in (logits, reordered):
        assert inception_score(samples)[0].item() == pytest.approx(432 ** (1 / 6), rel=1e-12)


def test_inception_score_uneven_splits_follow_original_boundaries() -> None:
    # N=5, splits=2: [0, 2) and [2, 5). The first holds two classes (score 2), the second one class (score 1).
    score, _ = inception_score(one_hot_logits([0, 1, 2, 2, 2], 3), splits=2)
    assert score.item() == pytest.approx(1.5, rel=1e-9)


@pytest.mark.parametrize("splits", [0, -1, 5])
def test_inception_score_rejects_bad_splits(splits: int) -> None:
    with pytest.raises(ValueError, match="splits"):
        inception_score(torch.zeros(4, 3), splits=splits)


# ---------------------------------------------------------------- KID


def test_kid_equals_numpy_unbiased_mmd_on_one_full_subset() -> None:
    x = correlated_features(40, 5, seed=5)
    y = correlated_features(40, 5, seed=6, shift=0.3)
    kid, std = kernel_inception_distance(x, y, subsets=1, subset_size=40)
    assert kid.dtype == torch.float64
    assert kid.item() == pytest.approx(unbiased_mmd2(x.numpy(), y.numpy()), rel=1e-10, abs=1e-12)
    assert std.item() == 0


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift() -> None:
    x = correlated_features(1200, 16, seed=7)
    real, other = x[:600], x[600:]

    def kid(fake: Tensor) -> float:
        return kernel_inception_distance(real, fake, 10, 500, torch.Generator().manual_seed(0))[0].item()

    # The estimate's spread for one distribution at this size is ~0.01; a shift of half a std per dim gives ~1.
    null, apart = kid(other), kid(other + 0.5)
    assert abs(null) < 0.03
    assert apart > 0.5


def test_kid_is_the_seeded_subset_average_whatever_the_row_order() -> None:
    """The subsets come from the seeded generator over a canonical row order: the seed fixes the score, the order
    in which the rows arrive (e.g. gathered from several processes) does not."""
    x = correlated_features(300, 8, seed=9)
    y = correlated_features(300, 8, seed=10, shift=0.1)
    shuffle = torch.Generator().manual_seed(11)
    reordered = (x[torch.randperm(300, generator=shuffle)], y[torch.randperm(300, generator=shuffle)])
    expected = {seed: numpy_kid(x.numpy(), y.numpy(), subsets=5, subset_size=100, seed=seed) for seed in (0, 1)}
    for seed, (kid, std) in expected.items():
        for real, fake in ((x, y), reordered):
            result = kernel_inception_distance(real, fake, 5, 100, torch.Generator().manual_seed(seed))
            assert result[0].item() == pytest.approx(kid, rel=1e-10)
            assert result[1].item() == pytest.approx(std, rel=1e-10)
    assert expected[0][0] != pytest.approx(expected[1][0], rel=1e-3) and expected[0][1] > 0


def test_kid_needs_subset_size_rows_in_each_set() -> None:
    x = torch.randn(50, 4)
    with pytest.raises(InsufficientSamplesError, match=r"generated features: 49 samples.*subsets of 50"):
        kernel_inception_distance(x, x[:49], subsets=1, subset_size=50)
    with pytest.raises(InsufficientSamplesError, match=r"real features: 50 samples.*subsets of 51"):
        kernel_inception_distance(x, x, subsets=1, subset_size=51)

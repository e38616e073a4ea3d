"""Improved precision and recall against a numpy/scipy float64 version and constructed cases."""

from __future__ import annotations

import pytest
import torch
from numpy_metrics import gaussian, numpy_precision_recall

from lightning_gans.metrics.frechet import InsufficientSamplesError
from lightning_gans.metrics.precision_recall import improved_precision_recall, knn_radii


def test_matches_brute_force_numpy() -> None:
    real, fake = gaussian(200, 8, seed=0), gaussian(150, 8, seed=1, shift=0.7)
    expected = numpy_precision_recall(real.double().numpy(), fake.double().numpy(), k=3)
    assert 0 < expected[0] < 1 and 0 < expected[1] < 1  # a case that exercises both outcomes
    assert improved_precision_recall(real, fake, k=3) == expected
    assert improved_precision_recall(real, fake, k=5) == numpy_precision_recall(
        real.double().numpy(), fake.double().numpy(), k=5
    )


def test_knn_radii_count_duplicates_as_neighbours() -> None:
    features = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    assert knn_radii(features, 1).tolist() == [0.0, 0.0, 5.0]
    assert knn_radii(features, 2).tolist() == [5.0, 5.0, 5.0]


def test_identical_sets_have_full_precision_and_recall() -> None:
    features = gaussian(300, 16, seed=2)
    assert improved_precision_recall(features, features.clone()) == (1.0, 1.0)


def test_far_apart_sets_have_zero_precision_and_recall() -> None:
    assert improved_precision_recall(gaussian(100, 4, seed=3), gaussian(100, 4, seed=4, shift=100.0)) == (0.0, 0.0)


def test_collapse_onto_one_of_two_clusters_keeps_precision_and_halves_recall() -> None:
    first, second = gaussian(300, 2, seed=5), gaussian(300, 2, seed=6, shift=50.0)
    real = torch.cat((first, second))
    # A subset of the real features: each lies on the real manifold, and only the first cluster is recalled.
    assert improved_precision_recall(real, first) == (1.0, 0.5)
    # Fresh samples of the first cluster: the k-NN balls cover most of it, never the second cluster.
    precision, recall = improved_precision_recall(real, gaussian(300, 2, seed=7))
    assert precision > 0.9
    assert 0.4 < recall <= 0.5


def test_chunk_size_does_not_change_the_result() -> None:
    real, fake = gaussian(120, 8, seed=8), gaussian(90, 8, seed=9, shift=0.5)
    expected = numpy_precision_recall(real.double().numpy(), fake.double().numpy(), k=3)
    for chunk in (1000, 7, 1):
        assert improved_precision_recall(real, fake, chunk=chunk) == expected, chunk


def test_too_few_samples_name_the_counts() -> None:
    with pytest.raises(InsufficientSamplesError, match=r"generated features: 3 samples .* at least 4"):
        improved_precision_recall(gaussian(10, 2, seed=0), gaussian(3, 2, seed=1), k=3)
    with pytest.raises(InsufficientSamplesError, match=r"real features: 2 samples .* at least 4"):
        improved_precision_recall(gaussian(2, 2, seed=0), gaussian(10, 2, seed=1), k=3)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(10, 2\), \(10, 3\)"):
        improved_precision_recall(torch.zeros(10, 2), torch.zeros(10, 3))
    with pytest.raises(ValueError, match="chunk"):
        improved_precision_recall(gaussian(10, 2, seed=0), gaussian(10, 2, seed=1), chunk=0)

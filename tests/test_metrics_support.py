"""Birthday-paradox support estimates on generators of known support, and duplicate counts against brute force."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from lightning_gans.metrics.support import (
    birthday_support,
    duplicate_pairs,
    nearest_neighbour_distances,
    poisson_upper_bound,
)


def finite_support(size: int, dim: int = 16, noise: float = 1e-4) -> Callable[[int, torch.Generator], Tensor]:
    """Uniform over `size` random points (about sqrt(2 dim) apart), jittered far below the test threshold."""
    points = torch.randn(size, dim, generator=torch.Generator().manual_seed(size))

    def sample(count: int, generator: torch.Generator) -> Tensor:
        chosen = points[torch.randint(size, (count,), generator=generator)]
        return chosen + noise * torch.randn(count, dim, generator=generator)

    return sample


def gaussian(count: int, generator: torch.Generator) -> Tensor:
    return torch.randn(count, 16, generator=generator)


@pytest.mark.parametrize("size", [500, 2000])
def test_a_known_finite_support_is_estimated_within_a_factor_of_two(size: int) -> None:
    estimate = birthday_support(finite_support(size), batch_size=100, batches=20, threshold=0.1)
    assert size / 2 < estimate.support < 2 * size
    assert estimate.lower_bound < estimate.support
    assert estimate.collisions > 0 and 0 < estimate.batches_with_duplicate <= 20
    assert estimate.describe().startswith("support ~ ")


def test_a_continuous_generator_has_infinite_support_and_a_rule_of_three_bound() -> None:
    estimate = birthday_support(gaussian, batch_size=200, batches=5, threshold=1e-6)
    assert estimate.support == math.inf
    assert (estimate.collisions, estimate.batches_with_duplicate) == (0, 0)
    assert estimate.lower_bound == pytest.approx(math.comb(200, 2) * 5 / -math.log(0.05), rel=1e-9)
    assert "no near-duplicate pair" in estimate.describe()


def test_poisson_upper_bound_leaves_five_percent_below() -> None:
    assert poisson_upper_bound(0) == pytest.approx(-math.log(0.05), rel=1e-12)
    mean = poisson_upper_bound(4)
    at_most_four = sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(5))
    assert at_most_four == pytest.approx(0.05, rel=1e-9)


def brute_force_pairs(features: Tensor, threshold: float) -> int:
    rows = features.double().tolist()
    return sum(math.dist(a, b) <= threshold for a, b in itertools.combinations(rows, 2))


def test_duplicate_pairs_match_a_brute_force_count() -> None:
    features = torch.randn(60, 3, generator=torch.Generator().manual_seed(0))
    features[10] = features[20]  # an exact duplicate counts at threshold 0
    distances = sorted(math.dist(a, b) for a, b in itertools.combinations(features.double().tolist(), 2))
    assert duplicate_pairs(features, 0.0) == brute_force_pairs(features, 0.0) == 1
    for rank in (5, 40, 300):
        threshold = (distances[rank] + distances[rank + 1]) / 2  # midway, away from round-off ties
        assert duplicate_pairs(features, threshold) == brute_force_pairs(features, threshold) == rank + 1


def test_chunking_does_not_change_the_count() -> None:
    features = finite_support(50)(300, torch.Generator().manual_seed(1))
    expected = brute_force_pairs(features, 0.1)
    assert expected > 0
    for chunk in (300, 7, 1):
        assert duplicate_pairs(features, 0.1, chunk=chunk) == expected, chunk


def test_nearest_neighbour_distances_set_the_scale() -> None:
    features = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    assert nearest_neighbour_distances(features).tolist() == [1.0, 1.0, 2.0]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        birthday_support(gaussian, batch_size=1, batches=5, threshold=0.1)
    with pytest.raises(ValueError, match="batches"):
        birthday_support(gaussian, batch_size=10, batches=0, threshold=0.1)
    with pytest.raises(ValueError, match="threshold"):
        birthday_support(gaussian, batch_size=10, batches=5, threshold=-0.1)
    with pytest.raises(ValueError, match=r"\(9, 16\)"):
        birthday_support(lambda count, generator: gaussian(count - 1, generator), batch_size=10, batches=1, threshold=0)
    with pytest.raises(ValueError, match="threshold"):
        duplicate_pairs(torch.zeros(5, 2), -1.0)

"""Mode coverage on constructed sample sets and on the mixtures' own samples, against hand and analytic values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from lightning_gans.data.mixtures import MIXTURES
from lightning_gans.metrics.frechet import InsufficientSamplesError
from lightning_gans.metrics.modes import default_min_count, mode_coverage


def at_modes(centres: Tensor, per_mode: list[int]) -> Tensor:
    """`per_mode[i]` samples exactly at centre i."""
    return torch.cat([centres[i].expand(count, 2) for i, count in enumerate(per_mode)])


def test_samples_at_every_ring_centre_cover_all_modes() -> None:
    ring = MIXTURES["ring8"]
    result = mode_coverage(at_modes(ring.centres, [10] * 8), ring.centres, ring.std)
    assert (result.modes_covered, result.modes, result.high_quality) == (8, 8, 1.0)
    assert result.counts.tolist() == [10] * 8


def test_samples_from_three_modes_cover_three() -> None:
    grid = MIXTURES["grid25"]
    per_mode = [0] * 25
    per_mode[0], per_mode[7], per_mode[24] = 30, 40, 50
    result = mode_coverage(at_modes(grid.centres, per_mode), grid.centres, grid.std)
    assert result.modes_covered == 3
    assert result.counts.tolist() == per_mode


def test_high_quality_boundary_is_three_standard_deviations() -> None:
    ring = MIXTURES["ring8"]
    centre = ring.centres[2].double()
    direction = torch.tensor([0.6, 0.8], dtype=torch.float64)
    inside, outside = centre + 2.9 * ring.std * direction, centre - 3.1 * ring.std * direction
    result = mode_coverage(torch.stack((inside, outside)), ring.centres, ring.std, min_count=1)
    assert result.high_quality == 0.5
    assert result.counts.tolist() == [0, 0, 1, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("name, half_width", [("ring8", 3.0), ("grid25", 6.0)])
def test_uniform_noise_is_high_quality_in_proportion_to_the_disks_area(name: str, half_width: float) -> None:
    mixture = MIXTURES[name]
    count = 200_000
    generator = torch.Generator().manual_seed(0)
    noise = (torch.rand(count, 2, generator=generator, dtype=torch.float64) * 2 - 1) * half_width
    # The 3-std disks are disjoint and inside the box, so the share is their total area over the box's.
    share = len(mixture.centres) * math.pi * (3 * mixture.std) ** 2 / (2 * half_width) ** 2
    result = mode_coverage(noise, mixture.centres, mixture.std)
    assert result.high_quality == pytest.approx(share, abs=5 * math.sqrt(share * (1 - share) / count))
    assert result.modes_covered == 0


def test_a_mode_below_min_count_is_not_covered() -> None:
    ring = MIXTURES["ring8"]
    samples = at_modes(ring.centres, [100, 4, 5, 0, 0, 0, 0, 0])
    result = mode_coverage(samples, ring.centres, ring.std, min_count=5)
    assert (result.modes_covered, result.min_count) == (2, 5)


def test_default_min_count_is_a_fifth_of_a_perfect_generators_share() -> None:
    ring = MIXTURES["ring8"]
    assert default_min_count(800, 8) == 20
    assert default_min_count(801, 8) == 21
    assert default_min_count(3, 8) == 1
    short = mode_coverage(at_modes(ring.centres, [100] * 6 + [181, 19]), ring.centres, ring.std)
    enough = mode_coverage(at_modes(ring.centres, [100] * 6 + [180, 20]), ring.centres, ring.std)
    assert (short.min_count, short.modes_covered) == (20, 7)
    assert (enough.min_count, enough.modes_covered) == (20, 8)


def test_real_grid_samples_cover_every_mode_with_the_rayleigh_share() -> None:
    grid = MIXTURES["grid25"]
    samples = grid.sample(20_000, torch.Generator().manual_seed(1))
    result = mode_coverage(samples, grid.centres, grid.std)
    assert result.modes_covered == 25
    # The radius of an isotropic 2-D Gaussian is Rayleigh distributed: P(r <= 3 std) = 1 - exp(-9 / 2).
    assert result.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.005)


def test_bad_inputs_are_refused() -> None:
    ring = MIXTURES["ring8"]
    with pytest.raises(ValueError, match=r"\(10, 3\)"):
        mode_coverage(torch.zeros(10, 3), ring.centres, ring.std)
    with pytest.raises(ValueError, match=r"\(8, 3\)"):
        mode_coverage(torch.zeros(10, 2), torch.zeros(8, 3), ring.std)
    with pytest.raises(InsufficientSamplesError):
        mode_coverage(torch.zeros(0, 2), ring.centres, ring.std)
    for std in (0.0, -1.0):
        with pytest.raises(ValueError, match="std"):
            mode_coverage(torch.zeros(10, 2), ring.centres, std)
    with pytest.raises(ValueError, match="min_count"):
        mode_coverage(torch.zeros(10, 2), ring.centres, ring.std, min_count=0)

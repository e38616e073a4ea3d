"""The 2-D Gaussian mixtures (ring of 8, grid of 25) on which mode collapse can be counted directly.

Their centres and spread are exposed in MIXTURES so that metrics can assign samples to modes with the
same numbers the data were drawn from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from lightning_gans.data.containers import InMemorySamples

MIXTURES_SEED = 2018
SPLIT_SIZES = {"train": 100_000, "test": 10_000}


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """Equally weighted isotropic Gaussians with a shared standard deviation."""

    centres: torch.Tensor  # (modes, 2) float32
    std: float

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        modes = torch.randint(len(self.centres), (count,), generator=generator)
        return self.centres[modes] + self.std * torch.randn(count, 2, generator=generator)


def ring(modes: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    centres = radius * torch.stack((angles.cos(), angles.sin()), dim=1)
    return GaussianMixture(centres.float(), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    coordinates = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    centres = torch.cartesian_prod(coordinates, coordinates)
    return GaussianMixture(centres, std)


MIXTURES = {"ring8": ring(), "grid25": grid()}


def load_mixture(name: str, split: str) -> InMemorySamples:
    """Each split has its own fixed generator, so train and test are independent draws."""
    generator = torch.Generator().manual_seed(MIXTURES_SEED + list(SPLIT_SIZES).index(split))
    return InMemorySamples(MIXTURES[name].sample(SPLIT_SIZES[split], generator))


def load_ring8(data_dir: Path | None, split: str, download: bool) -> InMemorySamples:
    """Sampled in memory in milliseconds: nothing to read, cache or download."""
    return load_mixture("ring8", split)


def load_grid25(data_dir: Path | None, split: str, download: bool) -> InMemorySamples:
    """Sampled in memory in milliseconds: nothing to read, cache or download."""
    return load_mixture("grid25", split)

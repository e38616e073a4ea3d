"""Mode collapse on the 2-D Gaussian mixtures, counted directly instead of through a feature extractor.

The ring and grid mixtures have known centres and spread, so a generator's mode coverage can be read off its
samples, as in the unrolled-GAN (Metz et al. 2017) and VEEGAN (Srivastava et al. 2017) papers: each sample is
assigned to its nearest centre and is "high quality" if it lies within 3 standard deviations of it. A mode counts
as covered only if enough high-quality samples land on it (see `default_min_count`), so that a few stray samples
near a mode do not pass for a learnt mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import Tensor

from lightning_gans.metrics.frechet import InsufficientSamplesError

QUALITY_STDS = 3
"""A sample is high quality within this many standard deviations (Euclidean) of its nearest centre."""

COVERAGE_SHARE = Fraction(1, 5)
"""By default a mode is covered with at least this share of the samples a perfect generator would put on it."""


@dataclass(frozen=True, eq=False)
class ModeCoverage:
    """How many modes a sample set covers and how much of it lies on some mode."""

    modes_covered: int
    modes: int
    high_quality: float  # share of samples within QUALITY_STDS standard deviations of their nearest centre
    counts: Tensor  # (modes,) int64: high-quality samples assigned to each mode
    min_count: int  # high-quality samples a mode needed to count as covered


def default_min_count(samples: int, modes: int) -> int:
    """20% of the n / modes samples per mode of a perfect generator, at least 1.

    A threshold that scales with the sample size keeps the verdict stable as more samples are drawn, where "at least
    one sample" would let a collapsed generator's occasional stray sample cover a mode once enough are drawn. The
    ceiling is taken in exact arithmetic so that the boundary does not depend on float round-off.
    """
    share = COVERAGE_SHARE * Fraction(samples, modes)
    return max(1, -(-share.numerator // share.denominator))


def mode_coverage(samples: Tensor, centres: Tensor, std: float, min_count: int | None = None) -> ModeCoverage:
    """Assigns (n, 2) samples to the nearest of (m, 2) centres in float64 and counts covered modes.

    A mode is covered when it has at least `min_count` high-quality samples (default: `default_min_count`).
    """
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"samples must be (n, 2), got shape {tuple(samples.shape)}")
    if centres.ndim != 2 or centres.shape[1] != 2 or centres.shape[0] == 0:
        raise ValueError(f"centres must be (m, 2) with m >= 1, got shape {tuple(centres.shape)}")
    if samples.shape[0] == 0:
        raise InsufficientSamplesError("mode coverage needs at least one sample, got none")
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    modes = centres.shape[0]
    if min_count is None:
        min_count = default_min_count(samples.shape[0], modes)
    elif min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    points = samples.to(torch.float64)
    # In 2-D the direct differences are cheap, and unlike the matmul expansion they do not blur the 3-std boundary.
    reference = centres.to(device=points.device, dtype=torch.float64)
    distances = torch.cdist(points, reference, compute_mode="donot_use_mm_for_euclid_dist")
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= QUALITY_STDS * std
    counts = torch.bincount(nearest[good], minlength=modes).cpu()
    return ModeCoverage(
        modes_covered=int((counts >= min_count).sum()),
        modes=modes,
        high_quality=good.to(torch.float64).mean().item(),
        counts=counts,
        min_count=min_count,
    )

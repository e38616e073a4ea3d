"""The birthday-paradox estimate of a generator's support size (Arora, Risteski & Zhang, ICLR 2018).

Sample-quality scores cannot see a generator that memorises or produces only a modest number of distinct outputs.
The birthday paradox can: if batches of s samples contain a near-duplicate pair with probability about 1/2, the
support is about s^2. Rather than only the share of batches with a duplicate, this counts every near-duplicate pair:
with a uniform support of N outputs each of the C(s, 2) pairs in a batch collides with probability 1 / N, so

    N_hat = C(s, 2) * batches / collisions.

For a non-uniform distribution this is the effective size 1 / sum_i p_i^2, at most the true support: the number of
equally likely outputs whose duplicates would be as frequent. With no collision the estimate is infinite and
the one-sided Poisson bound gives a lower bound instead (the rule of three: about 3 expected collisions at 95%).

What counts as a duplicate is a threshold on feature distance and is the caller's choice, since it depends on the
feature space; `nearest_neighbour_distances` of real data gives a scale to set it from (e.g. a low quantile: real
data contain almost no duplicates, so pairs closer than nearly all real neighbours are "the same sample").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from lightning_gans.metrics.precision_recall import DEFAULT_CHUNK, knn_radii

CONFIDENCE = 0.95
"""Confidence of the reported lower bound on the support size."""

_BISECTION_STEPS = 200
"""Halvings of the bracket on the Poisson mean: more than float64 can resolve, so the bound is exact to round-off."""


@dataclass(frozen=True)
class SupportEstimate:
    """A birthday-paradox support size, its lower confidence bound, and the counts they come from."""

    support: float  # math.inf when no near-duplicate pair was found
    lower_bound: float  # at CONFIDENCE, from the Poisson upper bound on the collision rate
    collisions: int  # near-duplicate pairs over all batches
    batches_with_duplicate: int  # Arora et al.'s statistic: support ~ s^2 when about half the batches have one
    batch_size: int
    batches: int
    threshold: float

    def describe(self) -> str:
        drawn = f"{self.batches} batches of {self.batch_size} (distance <= {self.threshold:g})"
        if self.collisions == 0:
            return f"support > {self.lower_bound:,.0f} at {CONFIDENCE:.0%}: no near-duplicate pair in {drawn}"
        return (
            f"support ~ {self.support:,.0f} (> {self.lower_bound:,.0f} at {CONFIDENCE:.0%}): "
            f"{self.collisions} near-duplicate pairs in {drawn}, "
            f"{self.batches_with_duplicate}/{self.batches} batches with at least one"
        )


def nearest_neighbour_distances(features: Tensor, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Float64 distance from each of (n, d) features to its nearest other row: the scale to set a threshold from."""
    return knn_radii(features, 1, chunk)


def duplicate_pairs(features: Tensor, threshold: float, chunk: int = DEFAULT_CHUNK) -> int:
    """Unordered pairs of (s, d) rows within Euclidean distance `threshold` (inclusive), in float64.

    Rows are compared a block at a time with the rows from the block's start on, so each pair is seen once and no
    s x s matrix is held at once.
    """
    if features.ndim != 2:
        raise ValueError(f"features must be (s, d), got shape {tuple(features.shape)}")
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    x = features.to(torch.float64)
    count = x.shape[0]
    pairs = 0
    for start in range(0, count, chunk):
        distances = torch.cdist(x[start : start + chunk], x[start:])
        rows = torch.arange(distances.shape[0], device=x.device)
        columns = torch.arange(distances.shape[1], device=x.device)
        later = columns[None, :] > rows[:, None]
        pairs += int(((distances <= threshold) & later).sum())
    return pairs


def poisson_upper_bound(count: int, confidence: float = CONFIDENCE) -> float:
    """Largest Poisson mean under which at most `count` events still have probability 1 - confidence.

    P(X <= count) = Q(count + 1, mean), the regularised upper incomplete gamma function, decreases in the mean, so
    the bound is found by bisection. For count 0 it is -log(1 - confidence), about 3 at 95%.
    """
    alpha = torch.tensor(1 - confidence, dtype=torch.float64)
    shape = torch.tensor(count + 1, dtype=torch.float64)

    def above(mean: float) -> bool:
        return bool(torch.special.gammaincc(shape, torch.tensor(mean, dtype=torch.float64)) > alpha)

    low, high = 0.0, count + 1.0
    while above(high):
        low, high = high, 2 * high
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if above(middle) else (low, middle)
    return high


def birthday_support(
    sample_batch: Callable[[int, torch.Generator], Tensor],
    batch_size: int,
    batches: int,
    threshold: float,
    seed: int = 0,
) -> SupportEstimate:
    """Draws `batches` batches of (batch_size, d) features and estimates the support from their duplicate pairs.

    `sample_batch(s, generator)` must return s feature rows drawn with the given CPU generator (seeded from `seed`,
    one generator for all batches), which makes the estimate reproducible.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 for a batch to hold a pair, got {batch_size}")
    if batches < 1:
        raise ValueError(f"batches must be >= 1, got {batches}")
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    generator = torch.Generator().manual_seed(seed)
    per_batch = []
    for _ in range(batches):
        features = sample_batch(batch_size, generator)
        if features.ndim != 2 or features.shape[0] != batch_size:
            raise ValueError(f"sample_batch must return ({batch_size}, d) features, got {tuple(features.shape)}")
        per_batch.append(duplicate_pairs(features, threshold))
    collisions = sum(per_batch)
    pairs = math.comb(batch_size, 2) * batches
    return SupportEstimate(
        support=pairs / collisions if collisions else math.inf,
        lower_bound=pairs / poisson_upper_bound(collisions),
        collisions=collisions,
        batches_with_duplicate=sum(1 for found in per_batch if found),
        batch_size=batch_size,
        batches=batches,
        threshold=threshold,
    )

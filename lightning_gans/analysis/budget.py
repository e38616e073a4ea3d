"""Budget curves: the best FID a researcher can expect from k trials of a hyperparameter study.

"Are GANs Created Equal?" (Lucic et al., 2018) argues that comparing the best score of each model is unfair when
the models got different search budgets, and that a model's quality is a curve, not a number: the expected minimum
FID over k trials drawn from its completed study, for every k. This module estimates that curve from the n finished
trials by bootstrap, with a band showing the spread of the minimum a single researcher with budget k would see,
and computes the exact expectation from order statistics so the bootstrap can be checked against it.

Draws with replacement (the paper's bootstrap) allow budgets beyond n; draws without replacement model k distinct
trials of the study itself, so k is at most n and k = n always finds the study's best.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["bootstrap_minimum", "expected_minimum"]


def _sorted_values(values: ArrayLike) -> np.ndarray:
    """The trials' FIDs in ascending order; order positions make the formulas exact even with tied values."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"values must be a 1-D sequence of FIDs, one per completed trial; got shape {array.shape}")
    if array.size == 0:
        raise ValueError("no completed trials: values is empty, and a budget curve needs at least one trial's FID")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(
            f"{bad} of {array.size} values are not finite (nan or inf); failed or diverged trials must be excluded "
            "from the study's values, not given as numbers"
        )
    return np.sort(array)


def _checked_budget(k: int, trials: int, replace: bool) -> int:
    k = operator.index(k)
    if k < 1:
        raise ValueError(f"k must be at least 1 trial, got k={k}")
    if not replace and k > trials:
        raise ValueError(
            f"k={k} exceeds the {trials} completed trials; without replacement k must be at most {trials} "
            "(use replace=True for larger budgets)"
        )
    return k


def _minimum_probabilities(trials: int, k: int, replace: bool) -> np.ndarray:
    """P(the minimum of k draws is the i-th smallest value), for i = 1..n."""
    if replace:
        # P(min is at position >= i) = ((n - i + 1) / n)^k; differences of consecutive tails.
        tails = (np.arange(trials, -1, -1, dtype=np.float64) / trials) ** k
        return tails[:-1] - tails[1:]
    # The other k - 1 draws come from the n - i larger positions. Exact integers, one correctly rounded division,
    # so large n and k neither overflow nor lose precision.
    subsets = math.comb(trials, k)
    return np.array([math.comb(trials - i, k - 1) / subsets for i in range(1, trials + 1)], dtype=np.float64)


def _expectation(ordered: np.ndarray, k: int, replace: bool) -> float:
    return float(_minimum_probabilities(ordered.size, k, replace) @ ordered)


def expected_minimum(values: ArrayLike, k: int, replace: bool = True) -> float:
    """Exact E[min FID of k trials drawn from `values`], with or without replacement, in float64."""
    ordered = _sorted_values(values)
    return _expectation(ordered, _checked_budget(k, ordered.size, replace), replace)


def bootstrap_minimum(
    values: ArrayLike,
    ks: Iterable[int] | None = None,
    draws: int = 2000,
    seed: int = 0,
    replace: bool = True,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Bootstrap budget curve: one row per k with columns k, mean, lower, upper, exact, trials.

    `mean` is the bootstrap mean of the minimum over `draws` replicates, `lower`/`upper` the central `confidence`
    interval of that minimum (the spread one researcher with budget k would see, not the uncertainty of the mean),
    `exact` the order-statistics expectation and `trials` the number n of completed trials. `ks` defaults to 1..n.

    Each replicate is one sequence of max(ks) draws whose prefixes serve every k, so every replicate's minimum, and
    with it the mean and both quantiles, never increase with k: the curve cannot wiggle upward from sampling noise.
    Each k on its own is still an ordinary bootstrap of k draws.
    """
    ordered = _sorted_values(values)
    trials = ordered.size
    if ks is None:
        budgets = np.arange(1, trials + 1, dtype=np.int64)
    else:
        budgets = np.array([_checked_budget(k, trials, replace) for k in ks], dtype=np.int64)
    if budgets.size == 0:
        raise ValueError("ks is empty; give at least one budget k, or None for 1..n")
    draws = operator.index(draws)
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got draws={draws}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got confidence={confidence}")

    rng = np.random.default_rng(seed)
    longest = int(budgets.max())
    # Positions into the sorted values: the minimum of the drawn FIDs is the value at the smallest drawn position.
    if replace:
        positions = rng.integers(0, trials, size=(draws, longest))
    else:
        positions = rng.permuted(np.tile(np.arange(trials), (draws, 1)), axis=1)[:, :longest]
    running = np.minimum.accumulate(positions, axis=1)
    minima = ordered[running[:, budgets - 1]]

    tail = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(minima, [tail, 1.0 - tail], axis=0)
    # Summation rounding must not lift the mean of identical minima (every replicate at k = n without replacement)
    # above their common value, and so above the band.
    mean = np.clip(minima.mean(axis=0), minima.min(axis=0), minima.max(axis=0))
    return pd.DataFrame(
        {
            "k": budgets,
            "mean": mean,
            "lower": lower,
            "upper": upper,
            "exact": [_expectation(ordered, k, replace) for k in budgets.tolist()],
            "trials": trials,
        }
    )

"""Budget curves: the best FID a researcher can expect from k trials of a hyperparameter study.

"Are GANs Created Equal?" (Lucic et al., 2018) argues that comparing the best score of each model is unfair when
the models got different search budgets, and that a model's quality is a curve, not a number: the expected minimum
FID over k trials drawn from its completed study, for every k. This module estimates that curve from the n finished
trials by bootstrap, with a band showing the spread of the minimum a single researcher with budget k would see,
and computes the exact expectation from order statistics so the bootstrap can be checked against it.

Draws with replacement (the paper's bootstrap) allow budgets beyond n; draws without replacement model k distinct
trials of the study itself, so k is at most n and k = n always finds the study's best.

A trial that diverged before its first evaluation is a trial spent with no score: its value is +inf (how the sweep
stores it), so it is tried and never the best. When all k draws are such trials there is no best FD at all; that
outcome is reported as its own probability (`unscored`), and the expectation (`mean`, `exact`) is taken over the other
outcomes, so a loss whose searches often diverge shows both a higher chance of coming away with nothing and the FD
it reaches when it does not. The band's quantiles count the unscored outcomes as +inf: an infinite upper bound means
more than 2.5% of searches of that size end with nothing.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["bootstrap_best", "bootstrap_minimum", "expected_minimum", "quantiles", "unscored_probability"]


def _sorted_values(values: ArrayLike) -> np.ndarray:
    """The trials' FIDs in ascending order, unscored trials (+inf) last; positions make the formulas exact with ties."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"values must be a 1-D sequence of FIDs, one per completed trial; got shape {array.shape}")
    if array.size == 0:
        raise ValueError("no completed trials: values is empty, and a budget curve needs at least one trial's FID")
    bad = int(np.count_nonzero(np.isnan(array) | (array == -np.inf)))
    if bad:
        raise ValueError(
            f"{bad} of {array.size} values are nan or -inf; a trial that diverged before any evaluation is +inf "
            "(tried, never best), and failed trials must be excluded from the study's values"
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


def _expectation(ordered: np.ndarray, k: int, replace: bool) -> tuple[float, float]:
    """(E[min | some draw scored], P(no draw scored)) of k draws from the sorted values; nan mean if never scored."""
    probabilities = _minimum_probabilities(ordered.size, k, replace)
    scored = np.isfinite(ordered)
    unscored = float(probabilities[~scored].sum())
    if not scored.any() or unscored >= 1.0:
        return math.nan, 1.0
    return float(probabilities[scored] @ ordered[scored] / probabilities[scored].sum()), unscored


def expected_minimum(values: ArrayLike, k: int, replace: bool = True) -> float:
    """Exact E[min FID of k trials drawn from `values` | at least one of them scored], in float64.

    nan when every value is unscored (+inf); `unscored_probability` gives the chance that no draw is scored.
    """
    ordered = _sorted_values(values)
    return _expectation(ordered, _checked_budget(k, ordered.size, replace), replace)[0]


def unscored_probability(values: ArrayLike, k: int, replace: bool = True) -> float:
    """Exact probability that all k trials drawn from `values` diverged before their first evaluation (+inf)."""
    ordered = _sorted_values(values)
    return _expectation(ordered, _checked_budget(k, ordered.size, replace), replace)[1]


def quantiles(samples: ArrayLike, levels: ArrayLike, axis: int = 0) -> np.ndarray:
    """np.quantile's default (linear) estimate where +inf is an outcome like any other, not an error.

    A quantile that lies on an infinite sample, or between a finite one and an infinite one, is +inf; the others are
    np.quantile's exact values. The infinities are replaced by two different finite stand-ins in turn: a quantile that
    gives an infinite sample any weight moves with the stand-in, and one that gives it none is the same both times.
    """
    array = np.asarray(samples, dtype=np.float64)
    infinite = np.isinf(array)
    if not infinite.any():
        return np.quantile(array, levels, axis=axis)
    scale = max(1.0, float(np.abs(array[~infinite]).max())) if (~infinite).any() else 1.0
    near, far = (
        np.quantile(np.where(infinite, stand_in, array), levels, axis=axis) for stand_in in (2 * scale, 1e6 * scale)
    )
    return np.where(near == far, near, math.inf)


def bootstrap_minimum(
    values: ArrayLike,
    ks: Iterable[int] | None = None,
    draws: int = 2000,
    seed: int = 0,
    replace: bool = True,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Bootstrap budget curve: a row per k; columns k, mean, lower, upper, exact, unscored, trials, unscored_trials.

    `mean` is the bootstrap mean of the minimum over the `draws` replicates that scored, `lower`/`upper` the central
    `confidence` interval of the minimum over all replicates (the spread one researcher with budget k would see, not
    the uncertainty of the mean; +inf where unscored searches reach it), `exact` the order-statistics expectation
    given a score, `unscored` the exact probability that all k trials diverged before scoring, `trials` the number n of
    completed trials and `unscored_trials` how many of them are unscored (+inf). `ks` defaults to 1..n.

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
    lower, upper = quantiles(minima, [tail, 1.0 - tail], axis=0)
    scored = np.where(np.isfinite(minima), minima, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a budget whose every replicate is unscored has no mean
        # Summation rounding must not lift the mean of identical minima (every replicate at k = n without
        # replacement) above their common value, and so above the band.
        mean = np.clip(np.nanmean(scored, axis=0), np.nanmin(scored, axis=0), np.nanmax(scored, axis=0))
    exact = [_expectation(ordered, k, replace) for k in budgets.tolist()]
    return pd.DataFrame(
        {
            "k": budgets,
            "mean": mean,
            "lower": lower,
            "upper": upper,
            "exact": [expectation for expectation, _ in exact],
            "unscored": [unscored for _, unscored in exact],
            "trials": trials,
            "unscored_trials": int(np.count_nonzero(np.isinf(ordered))),
        }
    )


def bootstrap_best(values: ArrayLike, higher_is_better: bool, draws: int = 2000, seed: int = 0) -> pd.DataFrame:
    """bootstrap_minimum for a score judged either way. Where higher is better (modes covered, whose unscored trials
    are stored as -inf), the best of k trials is the minimum of the negated scores, negated back: mean and exact
    turn over, and the band's ends swap (its worse end, -inf where searches end with nothing, is then `lower`)."""
    if not higher_is_better:
        return bootstrap_minimum(values, draws=draws, seed=seed)
    curve = bootstrap_minimum(-np.asarray(values, dtype=np.float64), draws=draws, seed=seed)
    turned = {column: 0.0 - curve[source] for column, source in (("mean", "mean"), ("exact", "exact"))}
    return curve.assign(**turned, lower=0.0 - curve["upper"], upper=0.0 - curve["lower"])

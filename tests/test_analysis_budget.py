"""Budget curves checked against brute-force enumeration, exact rational order statistics and their own noise."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from lightning_gans.analysis.budget import bootstrap_minimum, expected_minimum, quantiles, unscored_probability

SMALL = [31.5, 12.25, 47.0, 12.25, 25.75]  # includes a tie at the minimum


def fid_like(count: int = 30, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(mean=np.log(60.0), sigma=0.5, size=count)


def exact_moment(values, k: int, replace: bool, power: int) -> float:
    """E[min^power] from order-statistic probabilities in exact rational arithmetic, independent of the module."""
    ordered = sorted(values)
    n = len(ordered)
    total = Fraction(0)
    for i, value in enumerate(ordered, start=1):
        if replace:
            probability = Fraction(n - i + 1, n) ** k - Fraction(n - i, n) ** k
        else:
            probability = Fraction(math.comb(n - i, k - 1), math.comb(n, k))
        total += probability * Fraction(value) ** power
    return float(total)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_with_replacement_matches_all_ordered_tuples(k):
    brute = np.mean([min(draw) for draw in itertools.product(SMALL, repeat=k)])
    assert expected_minimum(SMALL, k, replace=True) == pytest.approx(brute, rel=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_without_replacement_matches_all_subsets(k):
    brute = np.mean([min(subset) for subset in itertools.combinations(SMALL, k)])
    assert expected_minimum(SMALL, k, replace=False) == pytest.approx(brute, rel=1e-12)


@pytest.mark.parametrize("replace", [True, False])
def test_one_trial_gives_the_mean(replace):
    values = fid_like()
    assert expected_minimum(values, 1, replace=replace) == pytest.approx(values.mean(), rel=1e-12)


def test_every_trial_without_replacement_gives_the_minimum():
    values = fid_like()
    assert expected_minimum(values, values.size, replace=False) == values.min()


def test_large_budget_with_replacement_tends_to_the_minimum():
    values = fid_like()
    curve = [expected_minimum(values, k, replace=True) for k in (1, 10, 100, 1000, 5000)]
    assert np.all(np.diff(curve) < 0)
    assert curve[-1] == pytest.approx(values.min(), rel=1e-12)
    assert curve[2] > values.min() + 1e-3


def test_large_study_without_replacement_is_finite_and_exact():
    # min of k distinct draws from 0..n-1 has expectation (n - k) / (k + 1); the binomials here exceed float range.
    n, k = 2000, 900
    assert expected_minimum(np.arange(n, dtype=float), k, replace=False) == pytest.approx((n - k) / (k + 1), rel=1e-12)


@pytest.mark.parametrize(("replace", "ks"), [(True, range(1, 46)), (False, range(1, 31))])
def test_bootstrap_mean_within_four_standard_errors(replace, ks):
    values = fid_like()
    draws = 2000
    frame = bootstrap_minimum(values, ks=ks, draws=draws, seed=3, replace=replace)
    assert frame["k"].tolist() == list(ks)
    for row in frame.itertuples():
        first = exact_moment(values, row.k, replace, 1)
        second = exact_moment(values, row.k, replace, 2)
        error = math.sqrt(max(second - first**2, 0.0) / draws)
        assert row.exact == pytest.approx(first, rel=1e-12)
        assert abs(row.mean - first) <= 4 * error + 1e-9, row


@pytest.mark.parametrize("replace", [True, False])
def test_bands_contain_the_mean_and_shrink_to_the_minimum(replace):
    values = fid_like()
    frame = bootstrap_minimum(values, replace=replace)
    assert frame.columns.tolist() == [
        "k", "mean", "lower", "upper", "exact", "unscored", "trials", "unscored_trials"
    ]  # fmt: skip
    assert (frame["unscored"] == 0).all() and (frame["unscored_trials"] == 0).all()
    assert frame["k"].tolist() == list(range(1, values.size + 1))
    assert (frame["trials"] == values.size).all()
    # Holds for k <= n here; at much larger k with replacement the upper quantile reaches the minimum while the
    # mean still carries the rare replicates that missed it.
    assert (frame["lower"] <= frame["mean"]).all() and (frame["mean"] <= frame["upper"]).all()
    assert (frame["lower"] >= values.min()).all() and (frame["upper"] <= values.max()).all()
    assert (np.diff(frame["upper"]) <= 0).all() and (np.diff(frame["mean"]) <= 0).all()
    width = frame["upper"] - frame["lower"]
    assert width.iloc[-1] < width.iloc[0] / 5
    if not replace:
        last = frame.iloc[-1]
        assert last["upper"] == last["lower"] == last["mean"] == values.min()


def test_bootstrap_with_replacement_allows_budgets_beyond_the_study():
    values = fid_like()
    frame = bootstrap_minimum(values, ks=[1, 300], replace=True)
    assert frame["k"].tolist() == [1, 300]
    assert frame["upper"].iloc[1] == values.min()
    assert frame["exact"].iloc[1] == pytest.approx(exact_moment(values, 300, replace=True, power=1), rel=1e-12)


def test_confidence_sets_the_band():
    values = fid_like()
    wide = bootstrap_minimum(values, ks=[3], confidence=0.99)
    narrow = bootstrap_minimum(values, ks=[3], confidence=0.5)
    assert wide["lower"].iloc[0] < narrow["lower"].iloc[0] < narrow["upper"].iloc[0] < wide["upper"].iloc[0]


def test_seed_controls_the_draws():
    """Without replacement each of the 2000 replicates is an ordering of the trials, a row of numpy's
    default_rng(seed).permuted, and budget k takes its first k; the exact curve does not depend on the seed."""
    values = fid_like()
    exact = [exact_moment(values, k, replace=False, power=1) for k in range(1, values.size + 1)]
    means = {}
    for seed in (11, 12):
        orderings = np.random.default_rng(seed).permuted(np.tile(np.arange(values.size), (2000, 1)), axis=1)
        minima = np.sort(values)[np.minimum.accumulate(orderings, axis=1)]
        means[seed] = minima.mean(axis=0)
        frame = bootstrap_minimum(values, seed=seed, replace=False)
        np.testing.assert_allclose(frame["mean"], means[seed], rtol=1e-12)
        np.testing.assert_allclose(frame["lower"], np.quantile(minima, 0.025, axis=0), rtol=1e-12)
        np.testing.assert_allclose(frame["upper"], np.quantile(minima, 0.975, axis=0), rtol=1e-12)
        np.testing.assert_allclose(frame["exact"], exact, rtol=1e-12)
    assert not np.array_equal(means[11][:-1], means[12][:-1])


def test_empty_study_is_rejected():
    with pytest.raises(ValueError, match="no completed trials"):
        expected_minimum([], 1)
    with pytest.raises(ValueError, match="no completed trials"):
        bootstrap_minimum(np.array([]))


def test_nan_and_minus_infinity_are_counted_and_rejected():
    with pytest.raises(ValueError, match=r"2 of 5 values are nan or -inf; a trial that diverged before any evaluation"):
        expected_minimum([30.0, np.nan, 40.0, -np.inf, 50.0], 1)
    with pytest.raises(ValueError, match="1 of 3 values are nan or -inf"):
        bootstrap_minimum([30.0, 40.0, -np.inf])


# A study with two trials that diverged before their first evaluation (+inf: tried, never best).
UNSCORED = [31.5, math.inf, 12.25, 47.0, math.inf]


def brute_force(draws) -> tuple[float, float]:
    """(mean best FD over the draws that scored, share of draws that scored nothing), by enumeration."""
    minima = [min(draw) for draw in draws]
    scored = [value for value in minima if math.isfinite(value)]
    return (float(np.mean(scored)) if scored else math.nan), 1 - len(scored) / len(minima)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("replace", [True, False])
def test_unscored_trials_are_tried_and_never_best_exactly(k, replace):
    draws = itertools.product(UNSCORED, repeat=k) if replace else itertools.combinations(UNSCORED, k)
    mean, unscored = brute_force(list(draws))
    assert expected_minimum(UNSCORED, k, replace=replace) == pytest.approx(mean, rel=1e-12)
    assert unscored_probability(UNSCORED, k, replace=replace) == pytest.approx(unscored, rel=1e-12, abs=1e-15)
    # By hand for one draw: 2 of 5 trials unscored; the others' mean is (31.5 + 12.25 + 47) / 3.
    if k == 1:
        assert (mean, unscored) == (pytest.approx(90.75 / 3), pytest.approx(0.4))


@pytest.mark.parametrize("replace", [True, False])
def test_bootstrap_with_unscored_trials_agrees_with_the_exact_curve(replace):
    values = np.concatenate([fid_like(20), np.full(10, np.inf)])
    frame = bootstrap_minimum(values, draws=4000, seed=3, replace=replace)
    assert (frame["unscored_trials"] == 10).all() and (frame["trials"] == 30).all()
    assert frame["unscored"].iloc[0] == pytest.approx(1 / 3)
    # One draw: a third of the searches come away with nothing, so the band's upper end is infinite.
    assert frame["upper"].iloc[0] == math.inf and math.isfinite(frame["lower"].iloc[0])
    scored = frame[frame["unscored"] < 0.5]
    assert np.allclose(scored["mean"], scored["exact"], rtol=0.03)
    assert frame["upper"].iloc[-1] < math.inf  # with many trials some always score


def test_a_study_where_everything_diverged_has_no_expected_best():
    frame = bootstrap_minimum([math.inf, math.inf], draws=50)
    assert frame["mean"].isna().all() and frame["exact"].isna().all()
    assert (frame["unscored"] == 1.0).all() and (frame["upper"] == math.inf).all()
    assert math.isnan(expected_minimum([math.inf], 1)) and unscored_probability([math.inf], 3) == 1.0


def test_quantiles_treat_infinity_as_an_outcome():
    samples = np.array([[1.0, 30.0], [2.0, np.inf], [3.0, np.inf], [50.0, 40.0]])
    result = quantiles(samples, [0.1, 0.5, 0.9], axis=0)
    assert result[:, 0] == pytest.approx(np.quantile(samples[:, 0], [0.1, 0.5, 0.9]), rel=1e-15)
    # Sorted [30, 40, inf, inf]: 0.1 interpolates between 30 and 40; 0.5 between 40 and inf.
    assert result[0, 1] == pytest.approx(33.0) and result[1, 1] == result[2, 1] == math.inf


def test_values_must_be_one_dimensional():
    with pytest.raises(ValueError, match=r"got shape \(2, 2\)"):
        expected_minimum([[30.0, 40.0], [50.0, 60.0]], 1)


@pytest.mark.parametrize("replace", [True, False])
def test_budget_below_one_is_rejected(replace):
    with pytest.raises(ValueError, match="k must be at least 1 trial, got k=0"):
        expected_minimum(SMALL, 0, replace=replace)
    with pytest.raises(ValueError, match="got k=-2"):
        bootstrap_minimum(SMALL, ks=[1, -2], replace=replace)


def test_budget_beyond_the_study_without_replacement_is_rejected():
    with pytest.raises(ValueError, match="k=6 exceeds the 5 completed trials; without replacement k must be at most 5"):
        expected_minimum(SMALL, 6, replace=False)
    with pytest.raises(ValueError, match="k=6 exceeds the 5 completed trials"):
        bootstrap_minimum(SMALL, ks=[2, 6], replace=False)


def test_empty_budget_list_is_rejected():
    with pytest.raises(ValueError, match="ks is empty"):
        bootstrap_minimum(SMALL, ks=[])


@pytest.mark.parametrize("draws", [0, -5])
def test_draws_below_one_are_rejected(draws):
    with pytest.raises(ValueError, match=f"draws must be at least 1, got draws={draws}"):
        bootstrap_minimum(SMALL, draws=draws)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_confidence_outside_the_open_unit_interval_is_rejected(confidence):
    with pytest.raises(ValueError, match=rf"confidence must be in \(0, 1\), got confidence={confidence}"):
        bootstrap_minimum(SMALL, confidence=confidence)

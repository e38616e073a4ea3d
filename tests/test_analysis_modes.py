"""Budget curves, reruns and sensitivity for studies judged by modes covered, where higher is better.

The mixtures' objective is maximised and its unscored trials are stored as -inf, so every rule of the FD figures
turns over: the best of k trials is the maximum, the band's worse end is below, "higher is better" in the titles.
Expected numbers are computed here from Optuna's view of the storage with an independent formula.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests draw without a display

import math

import numpy as np
import optuna
import pytest
from analysis_fixture import MIXTURE_SWEEPS, MODES_KEY, RERUN_SEEDS, build_mixture_studies
from optuna.trial import TrialState

from lightning_gans.analysis import figures
from lightning_gans.analysis.budget import bootstrap_best, bootstrap_minimum
from lightning_gans.analysis.frames import load_frame, per_trial
from lightning_gans.search.studies import open_storage


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    return build_mixture_studies(tmp_path_factory.mktemp("mixtures") / "optuna.journal")


@pytest.fixture(scope="module")
def trials(storage):
    return per_trial(load_frame(storage))


def values_of(storage: str, name: str) -> list[float]:
    study = optuna.load_study(study_name=name, storage=open_storage(storage).storage)
    return [trial.value for trial in study.trials if trial.state == TrialState.COMPLETE]


def expected_maximum(values: list[float], k: int) -> float:
    """E[max of k draws with replacement | some draw scored], from P(max <= v_(i)) = (i/n)^k, in float64."""
    ordered = sorted(values)
    n = len(ordered)
    unscored = sum(1 for value in ordered if value == -math.inf)
    total = sum(value * ((i / n) ** k - ((i - 1) / n) ** k) for i, value in enumerate(ordered, 1) if value > -math.inf)
    return total / (1 - (unscored / n) ** k)


def test_the_best_of_k_is_the_maximum_where_higher_is_better():
    values = np.array([3.0, 8.0, 0.0, 5.0, -math.inf])
    best = bootstrap_best(values, higher_is_better=True, draws=4000, seed=1)
    for k, row in best.set_index("k").iterrows():
        assert row["exact"] == pytest.approx(expected_maximum(list(values), k), rel=1e-12)
        assert row["lower"] <= row["mean"] <= row["upper"] <= 8.0
    assert best["mean"].is_monotonic_increasing and best.loc[best["k"] == 5, "upper"].item() == 8.0
    assert best.loc[0, "lower"] == -math.inf  # one search in five of one trial ends with nothing
    assert (best["unscored_trials"] == 1).all()
    lowest = bootstrap_minimum(values[np.isfinite(values)], draws=10, seed=1)
    assert bootstrap_best(values[np.isfinite(values)], False, 10, 1).equals(lowest)


def test_budget_frame_of_modes_covered_against_the_storage(trials, storage):
    curves = figures.budget_frame(trials, draws=500, objective="modes")
    assert set(curves["study"]) == {f"{loss}-ring8-wide" for loss in MIXTURE_SWEEPS}
    assert set(curves["objective"]) == {MODES_KEY}
    for loss, count in MIXTURE_SWEEPS.items():
        values = values_of(storage, f"{loss}-ring8-wide")
        curve = curves[curves["loss"] == loss].set_index("k")
        assert list(curve.index) == list(range(1, count + 1)) and (curve["trials"] == count).all()
        for k in curve.index:
            assert curve.loc[k, "exact"] == pytest.approx(expected_maximum(values, k), rel=1e-12)
    assert (curves.loc[curves["loss"] == "wgan_gp", "unscored_trials"] == 1).all()  # trial 7: -inf
    with pytest.raises(ValueError, match="no completed search trial with an FD objective among: ns_gan-ring8-wide"):
        figures.budget_frame(trials)


def test_budget_curves_say_higher_is_better_and_run_the_worse_end_down(trials):
    figure = figures.budget_curves(trials, draws=500, objective="modes")
    (ax,) = figure.axes
    assert "Expected best modes covered" in figure.get_suptitle() and "higher is better" in figure.get_suptitle()
    assert ax.get_ylabel().startswith("expected maximum\nmodes covered\n(2-D points")  # three short lines
    curves = figures.budget_frame(trials, draws=500, objective="modes")
    finite = curves[["lower", "upper", "mean"]].to_numpy()
    assert ax.get_ylim()[0] < finite[np.isfinite(finite)].min()  # the unscored band's end, below every score
    assert "diverged before any evaluation" in " ".join(text.get_text() for text in ax.texts)


def test_reruns_of_a_mixture_study_are_drawn_judged_by_modes(trials, storage):
    assert figures.has_reruns(trials, "modes") and not figures.has_reruns(trials)
    points = figures.distribution_rows(trials, reruns=True, objective="modes")
    assert sorted(points["value"]) == sorted(values_of(storage, "ns_gan-ring8-wide-reruns"))
    assert len(points) == RERUN_SEEDS
    figure = figures.rerun_distributions(trials, "modes")
    assert figure.get_suptitle().startswith(f"Best modes covered of the chosen setting retrained with {RERUN_SEEDS}")
    assert "higher is better" in figure.get_suptitle()


def test_sensitivity_of_modes_covered_places_every_scored_trial(trials, storage):
    assert figures.sensitivity_datasets(trials, "modes") == ["ring8"] and figures.sensitivity_datasets(trials) == []
    rows = figures.sensitivity_rows(trials, "ring8", "modes")
    # Drawn by the search, but the MLP pair has no batch norm to switch: no panel pretends it matters.
    assert set(rows["parameter"]) == {"beta1", "lr", "n_disc", "gp_lambda"} and "d_batch_norm" in trials
    lr = rows[rows["parameter"] == "lr"]
    scored = [
        value for loss in MIXTURE_SWEEPS for value in values_of(storage, f"{loss}-ring8-wide") if math.isfinite(value)
    ]
    assert sorted(lr["value"]) == sorted(scored)
    figure = figures.sensitivity(trials, "ring8", "modes")
    assert (
        figure.get_suptitle()
        == "Modes covered against each searched parameter on Ring of 8 Gaussians (higher is better)"
    )

"""Training curves and the length check, against each trial's evaluations as Optuna stores them.

Two storages: the mixture searches (modes covered, maximised; one trial diverges after its first evaluation, one
before any) and the FD searches of the analysis fixture (minimised), so both directions of "best" are exercised.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests draw without a display

import statistics

import numpy as np
import optuna
import pytest
from analysis_fixture import build_mixture_studies, build_studies
from optuna.trial import TrialState

from lightning_gans.analysis.frames import load_frame
from lightning_gans.analysis.training_length import has_curves, length_check, objective_curves, training_curves
from lightning_gans.search.studies import EVALUATIONS_ATTR, open_storage


@pytest.fixture(scope="module", params=["mixtures", "fd"])
def storage(request, tmp_path_factory) -> str:
    build = build_mixture_studies if request.param == "mixtures" else build_studies
    return build(tmp_path_factory.mktemp(request.param) / "optuna.journal")


def searches(storage: str) -> dict[str, tuple[bool, list[list[tuple[int, float]]]]]:
    """Per search study: whether higher is better, and each completed trial's (step, score) evaluations."""
    opened = open_storage(storage).storage
    found = {}
    for summary in optuna.get_all_study_summaries(opened):
        study = optuna.load_study(study_name=summary.study_name, storage=opened)
        if study.user_attrs.get("rerun_of"):
            continue
        histories = []
        for trial in study.get_trials(states=(TrialState.COMPLETE,)):
            key = trial.user_attrs["objective"]
            history = [(e["step"], e[key]) for e in trial.user_attrs.get(EVALUATIONS_ATTR, [])]
            histories.append(sorted(history))
        found[summary.study_name] = (study.direction.name == "MAXIMIZE", [h for h in histories if h])
    return found


def test_curves_are_the_quartiles_of_the_stored_evaluations(storage):
    frame = load_frame(storage)
    assert has_curves(frame)
    curves = objective_curves(frame)
    expected = searches(storage)
    assert set(curves["study"]) == set(expected)
    for name, (_, histories) in expected.items():
        mine = curves[curves["study"] == name].set_index("step")
        steps = sorted({step for history in histories for step, _ in history})
        assert list(mine.index) == steps
        for step in steps:
            scores = [score for history in histories for at, score in history if at == step]
            assert mine.loc[step, "trials"] == len(scores)
            assert mine.loc[step, "median"] == pytest.approx(statistics.median(scores), rel=1e-12)
            assert mine.loc[step, "lower"] == pytest.approx(np.quantile(scores, 0.25), rel=1e-12)
            assert mine.loc[step, "upper"] == pytest.approx(np.quantile(scores, 0.75), rel=1e-12)


def test_the_length_check_counts_trials_still_changing_at_the_end(storage):
    check = length_check(load_frame(storage)).set_index("study")
    for name, (higher, histories) in searches(storage).items():
        ended = [[score for _, score in history] for history in histories if len(history) >= 2]
        row = check.loc[name]
        assert row["trials"] == len(ended)
        assert row["changed_last"] == pytest.approx(np.mean([h[-1] != h[-2] for h in ended]), rel=1e-12)
        best = [(h[-1] > max(h[:-1])) if higher else (h[-1] < min(h[:-1])) for h in ended]
        assert row["best_at_last"] == pytest.approx(np.mean(best), rel=1e-12)
        assert row["median_change"] == pytest.approx(statistics.median(h[-1] - h[-2] for h in ended), rel=1e-12)


def test_the_figure_has_a_panel_per_dataset_and_objective(storage):
    frame = load_frame(storage)
    figure = training_curves(frame)
    curves = objective_curves(frame)
    panels = curves[["dataset", "objective"]].drop_duplicates()
    assert len([ax for ax in figure.axes if ax.get_title()]) == len(panels)
    lines = [line for ax in figure.axes for line in ax.get_lines()]
    assert len(lines) == curves["study"].nunique()  # one median line per search study
    drawn = sorted((tuple(line.get_xdata()), tuple(line.get_ydata())) for line in lines)
    studies = curves.groupby("study")
    assert drawn == sorted((tuple(c["step"]), tuple(c["median"])) for _, c in studies)


def test_nothing_to_read_is_said(storage):
    frame = load_frame(storage)
    empty = frame[frame["state"] == "FAIL"]
    assert not has_curves(empty)
    with pytest.raises(ValueError, match="no completed search trial has an evaluation"):
        training_curves(empty)
    with pytest.raises(ValueError, match="no completed search trial has two evaluations"):
        length_check(empty)

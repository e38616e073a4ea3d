"""An attempt that failed and was retried (an interrupted sitting, a dead worker) is not an outcome of the search.

A study that spans sittings is interrupted each time it stops: the running trials fail as interrupted and are
enqueued again with the same parameters. The analysis must count the retry, not the attempt, as the trial: a loss
must not show "failed" trials because its study was resumed.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests draw without a display

import optuna
import pytest
from analysis_fixture import build_mixture_studies

from lightning_gans.analysis import figures
from lightning_gans.analysis.frames import attempts, load_frame, per_trial, read_frame, save_frame
from lightning_gans.analysis.tables import study_summary
from lightning_gans.search.studies import fail_and_retry, open_storage

STUDY = "ns_gan-ring8-wide"


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    """The mixture studies, plus in ns_gan's an attempt interrupted mid-training and a trial that really failed."""
    url = build_mixture_studies(tmp_path_factory.mktemp("retries") / "optuna.journal")
    opened = open_storage(url)
    study = optuna.load_study(study_name=STUDY, storage=opened.storage)
    interrupted, broken = study.ask(), study.ask()
    reason = "interrupted by SIGINT before it finished; retried with the same parameters"
    with opened.claim_lock(STUDY):
        fail_and_retry(study, opened, opened.storage.get_trial(interrupted._trial_id), reason, None, counted=False)
    broken.set_user_attr("fail_reason", "RuntimeError: a real failure")
    study.tell(broken, state=optuna.trial.TrialState.FAIL)
    return url


def test_a_retried_attempt_is_marked_and_a_real_failure_is_not(storage, tmp_path):
    trials = per_trial(load_frame(storage, STUDY))
    failed = trials[trials["state"] == "FAIL"].set_index("trial")
    assert len(failed) == 2
    first, second = sorted(failed.index)
    assert failed.loc[first, "retried"] and not failed.loc[second, "retried"]
    assert list(attempts(trials)) == list(trials["trial"] == first)
    again = read_frame(save_frame(trials, tmp_path / "frame.csv"))
    assert list(attempts(again)) == list(attempts(trials))  # the mark survives an export


def test_summaries_count_the_real_failure_and_the_retried_attempt_apart(storage):
    summary = study_summary(per_trial(load_frame(storage, STUDY))).set_index("study")
    assert (summary.loc[STUDY, "failed"], summary.loc[STUDY, "retried"]) == (1, 1)
    assert summary.loc[STUDY, "complete"] == 7


def test_figures_count_only_the_real_failure_under_the_loss(storage):
    trials = per_trial(load_frame(storage))
    figure = figures.mode_collapse(trials, "ring8")
    labels = {tick.get_text() for ax in figure.axes for tick in ax.get_xticklabels()}
    assert any(label.startswith("NS GAN") and label.endswith("\n1 failed") for label in labels), labels

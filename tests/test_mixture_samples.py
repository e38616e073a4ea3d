"""Sample previews on the 2-D mixtures: the text a trial keeps, and the figure of each loss's best and median trial.

The chosen trials are worked out here from Optuna's own view of the storage (values, the evaluation behind each
value, the preview attribute), not from the analysis frame, so a figure that ranks or picks wrongly fails.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests draw without a display

import numpy as np
import optuna
import pytest
import torch
from analysis_fixture import DIVERGED, MIXTURE_SWEEPS, MODES_KEY, build_mixture_studies
from matplotlib.collections import PathCollection
from matplotlib.patches import Circle

from lightning_gans.analysis import style
from lightning_gans.analysis.frames import load_frame, per_trial, read_frame, save_frame
from lightning_gans.analysis.mixture_samples import RANKS, mixture_samples, preview_datasets, sample_rows
from lightning_gans.data.mixtures import MIXTURES
from lightning_gans.evaluation.previews import (
    PREVIEW_SIZE,
    SAMPLE_POINTS_ATTR,
    decode_points,
    encode_points,
    has_point_samples,
)
from lightning_gans.metrics.modes import QUALITY_STDS
from lightning_gans.search.studies import EVALUATIONS_ATTR, open_storage

HIGH_QUALITY_KEY = MODES_KEY.replace("modes", "high_quality")
LOSSES = MIXTURE_SWEEPS


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    return build_mixture_studies(tmp_path_factory.mktemp("mixtures") / "optuna.journal")


def test_points_round_trip_at_three_decimals():
    points = torch.tensor([[0.12345, -1.98765], [2.0, -0.0004], [1e-7, 3.14159]])
    text = encode_points(points)
    assert text == "0.123,-1.988;2.000,-0.000;0.000,3.142"
    np.testing.assert_array_equal(decode_points(text), [[0.123, -1.988], [2.0, -0.0], [0.0, 3.142]])


@pytest.mark.parametrize("shape", [(4,), (4, 3), (2, 2, 2)])
def test_only_points_in_the_plane_are_encoded(shape):
    with pytest.raises(ValueError, match=re.escape(f"points in the plane, shape (n, 2); got {shape}")):
        encode_points(torch.zeros(shape))


def test_text_that_is_not_a_preview_is_named():
    with pytest.raises(ValueError, match=r"not a sample preview \(x,y;x,y;...\): '1,2;oops'"):
        decode_points("1,2;oops")


def test_previews_are_kept_for_point_datasets_only():
    assert has_point_samples("ring8") and has_point_samples("grid25")
    assert not has_point_samples("fashion_mnist") and not has_point_samples("polygons")


def study_of(url: str, loss: str) -> optuna.Study:
    return optuna.load_study(study_name=f"{loss}-ring8-wide", storage=open_storage(url).storage)


def expected_choices(url: str, loss: str) -> dict[str, int]:
    """The best and median trial of a study, ranked as the docs say: value, then the high-quality share of the
    evaluation that gave the value, then trial number; the median is the lower middle."""
    study = study_of(url, loss)
    ranked = []
    for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        if SAMPLE_POINTS_ATTR not in trial.user_attrs or not np.isfinite(trial.value):
            continue
        (scored,) = [e for e in trial.user_attrs[EVALUATIONS_ATTR] if e[MODES_KEY] == trial.value][:1]
        ranked.append((-trial.value, -scored[HIGH_QUALITY_KEY], trial.number))
    ranked.sort()
    return {"best": ranked[0][2], "median": ranked[(len(ranked) - 1) // 2][2], "count": len(ranked)}


def test_best_and_median_trials_are_chosen_from_the_storage(storage):
    trials = per_trial(load_frame(storage))
    rows = sample_rows(trials, "ring8")
    assert list(rows["loss"]) == ["ns_gan", "ns_gan", "wgan_gp", "wgan_gp"] and list(rows["rank"]) == [*RANKS] * 2
    study = {loss: study_of(storage, loss) for loss in LOSSES}
    for loss in LOSSES:
        expected = expected_choices(storage, loss)
        for rank in RANKS:
            (row,) = rows[(rows["loss"] == loss) & (rows["rank"] == rank)].to_dict("records")
            trial = study[loss].trials[expected[rank]]
            assert (row["trial"], row["value"], row["trials"]) == (expected[rank], trial.value, expected["count"])
            assert row[SAMPLE_POINTS_ATTR] == trial.user_attrs[SAMPLE_POINTS_ATTR]
    # The unscored wgan_gp trial has no preview and is not ranked; the one diverged after an evaluation is.
    assert expected_choices(storage, "wgan_gp")["count"] == LOSSES["wgan_gp"] - 1
    assert DIVERGED[("wgan_gp", "wide")] == (3, 7)


def test_reruns_and_other_datasets_are_not_drawn(storage):
    trials = per_trial(load_frame(storage))
    assert preview_datasets(trials) == ["ring8"]
    reruns = trials.assign(rerun_of="ns_gan-ring8-wide")
    assert preview_datasets(reruns) == []
    with pytest.raises(ValueError, match="no completed search trial on 'grid25' has a sample preview; datasets with "):
        sample_rows(trials, "grid25")


def test_the_preview_survives_an_exported_frame(storage, tmp_path):
    frame = load_frame(storage)
    for suffix in ("csv", "parquet"):
        again = read_frame(save_frame(frame, tmp_path / f"frame.{suffix}"))
        assert list(again[SAMPLE_POINTS_ATTR].fillna("")) == list(frame[SAMPLE_POINTS_ATTR].fillna(""))


def test_the_figure_draws_each_chosen_preview_over_the_modes(storage):
    trials = per_trial(load_frame(storage))
    figure = mixture_samples(trials, "ring8")
    axes = [ax for ax in figure.axes if ax.get_title()]
    assert len(axes) == len(RANKS) * len(LOSSES)
    mixture = MIXTURES["ring8"]
    for ax, (rank, loss) in zip(axes, [(r, loss) for r in RANKS for loss in LOSSES], strict=True):
        expected = expected_choices(storage, loss)
        trial = study_of(storage, loss).trials[expected[rank]]
        (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
        np.testing.assert_array_equal(points.get_offsets(), decode_points(trial.user_attrs[SAMPLE_POINTS_ATTR]))
        assert len(points.get_offsets()) == PREVIEW_SIZE
        circles = [p for p in ax.patches if isinstance(p, Circle)]
        np.testing.assert_allclose([c.center for c in circles], mixture.centres.double().numpy(), atol=1e-6)
        assert [c.radius for c in circles] == pytest.approx([QUALITY_STDS * mixture.std] * len(circles))
        title = ax.get_title()
        assert title.startswith(f"{style.loss_label(loss)}: {rank} of {expected['count']} (trial {trial.number})")
        assert f"{trial.value:g}/8 modes" in title

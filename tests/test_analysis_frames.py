"""Studies -> tidy frame: every number in the frame is the one the real Optuna storage holds."""

import math
import os

import numpy as np
import optuna
import pandas as pd
import pytest
from analysis_fixture import F1_KEY, FD_KEY, MODES_KEY, build_studies

from lightning_gans.analysis.frames import load_frame, per_trial, read_frame, save_frame
from lightning_gans.search.studies import open_storage


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    return build_studies(tmp_path_factory.mktemp("studies") / "optuna.journal")


@pytest.fixture(scope="module")
def frame(storage) -> pd.DataFrame:
    return load_frame(storage)


def stored_studies(storage: str) -> dict[str, optuna.Study]:
    opened = open_storage(storage).storage
    return {
        summary.study_name: optuna.load_study(study_name=summary.study_name, storage=opened)
        for summary in optuna.get_all_study_summaries(opened)
    }


def test_every_trial_and_evaluation_is_a_row_with_the_stored_values(storage, frame):
    studies = stored_studies(storage)
    assert sorted(frame["study"].unique()) == sorted(studies)
    for name, study in studies.items():
        rows = frame[frame["study"] == name]
        assert rows["loss"].unique().tolist() == [study.user_attrs["loss"]]
        assert rows["space"].unique().tolist() == [study.user_attrs["space"]]
        for trial in study.trials:
            mine = rows[rows["trial"] == trial.number]
            evaluations = trial.user_attrs.get("evaluations", [])
            assert len(mine) == max(1, len(evaluations)), (name, trial.number)
            assert set(mine["state"]) == {trial.state.name}
            if trial.state == optuna.trial.TrialState.COMPLETE:
                assert mine["value"].tolist() == [trial.value] * len(mine)
                duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
                assert mine["duration_s"].iloc[0] == pytest.approx(duration)
            else:
                assert mine["value"].isna().all()
            for parameter, value in trial.params.items():
                assert (mine[parameter] == value).all(), parameter
            for step, reported in trial.intermediate_values.items():
                if evaluations:
                    assert mine.loc[mine["step"] == step, trial.user_attrs["objective"]].tolist() == [reported]
            if trial.state == optuna.trial.TrialState.FAIL:
                assert mine["fail_reason"].iloc[0] == trial.user_attrs["fail_reason"]


def test_per_trial_keeps_the_scores_of_the_evaluation_that_gave_the_value(storage, frame):
    trials = per_trial(frame)
    studies = stored_studies(storage)
    assert len(trials) == sum(len(study.trials) for study in studies.values())
    done = trials[trials["state"] == "COMPLETE"]
    unscored = done[~np.isfinite(done["value"])]  # diverged before any evaluation: +inf, no scores, one row
    assert unscored["step"].isna().all() and (unscored["value"] == math.inf).all()
    assert list(zip(unscored["study"], unscored["trial"], unscored["diverged_at"], strict=True)) == [
        ("wgan_gp-fashion_mnist-wide", 7, 17)
    ]
    assert unscored["divergence"].tolist() == ["the discriminator loss is not finite"]
    complete = done[np.isfinite(done["value"])]
    assert all(row[row["objective"]] == row["value"] for _, row in complete.iterrows())
    assert set(complete["objective"]) == {FD_KEY, F1_KEY, MODES_KEY}
    for _, row in complete.iterrows():
        stored = studies[row["study"]].trials[row["trial"]]
        (best,) = [e for e in stored.user_attrs["evaluations"] if e[row["objective"]] == stored.value]
        assert row["step"] == best["step"] == stored.user_attrs["best_step"]
        assert all(row[score] == value for score, value in best.items()), (row["study"], row["trial"])


def test_fixed_parameters_and_rerun_seeds_are_columns(frame):
    trials = per_trial(frame)
    narrow = trials[(trials["study"] == "ns_gan-fashion_mnist-narrow") & (trials["trial"] > 0)]
    assert (narrow["beta1"] == 0.5).all() and (narrow["n_disc"] == 1).all()  # fixed in the narrow space
    reruns = trials[trials["study"] == "wgan_gp-fashion_mnist-wide-reruns"]
    assert sorted(reruns["rerun_seed"]) == [0, 1, 2, 3, 4]
    assert set(reruns["rerun_of"]) == {"wgan_gp-fashion_mnist-wide"}
    assert trials.loc[trials["study"] == "began-fashion_mnist-wide", "began_gamma"].notna().all()
    assert trials.loc[trials["loss"] == "ns_gan", "gp_lambda"].isna().all()  # not a parameter of NS GAN


def test_studies_are_chosen_by_name_or_pattern_and_a_miss_names_what_exists(storage):
    assert set(load_frame(storage, "*-reruns")["study"]) == {
        "ns_gan-fashion_mnist-wide-reruns",
        "wgan_gp-fashion_mnist-wide-reruns",
    }
    chosen = load_frame(storage, ["began-fashion_mnist-wide", "ns_gan-polygons-wide,ns_gan-fashion_mnist-wide"])
    assert sorted(chosen["study"].unique()) == [
        "began-fashion_mnist-wide",
        "ns_gan-fashion_mnist-wide",
        "ns_gan-polygons-wide",
    ]
    with pytest.raises(ValueError, match=r"no study matches 'dcgan-\*'.*studies there: began-fashion_mnist-wide, "):
        load_frame(storage, "dcgan-*")


def test_a_missing_storage_is_an_error_not_a_new_empty_one(tmp_path):
    missing = tmp_path / "nothing.journal"
    with pytest.raises(FileNotFoundError, match="no study storage at"):
        load_frame(str(missing))
    assert not missing.exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_and_import_round_trip(frame, tmp_path, suffix):
    path = save_frame(frame, tmp_path / f"studies{suffix}")
    back = read_frame(path)
    assert list(back.columns) == list(frame.columns)
    numeric = frame.select_dtypes("number").columns
    np.testing.assert_array_equal(back[numeric].to_numpy(float), frame[numeric].to_numpy(float))
    for column in ("study", "state", "objective", "fail_reason", "loss"):
        assert back[column].fillna("").astype(str).tolist() == frame[column].fillna("").astype(str).tolist()
    assert back["d_batch_norm"].astype(bool).tolist() == frame["d_batch_norm"].astype(bool).tolist()
    # an export is a source like a storage, with the same study selection
    assert sorted(load_frame(path, "*-narrow")["study"].unique()) == [
        "ns_gan-fashion_mnist-narrow",
        "wgan_gp-fashion_mnist-narrow",
    ]


def test_export_refuses_unknown_formats_and_never_leaves_half_a_file(frame, tmp_path):
    with pytest.raises(ValueError, match=r"suffix '\.xlsx' is not one of \.csv, \.parquet"):
        save_frame(frame, tmp_path / "studies.xlsx")
    target = save_frame(frame, tmp_path / "studies.parquet")
    before = target.read_bytes()
    unwritable = pd.DataFrame({"mixed": [1, "a", 2.5]})  # pyarrow cannot type this column
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type; the point is what is left behind
        save_frame(unwritable, target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["studies.parquet"]


def test_trials_from_before_the_evaluations_attribute_still_have_their_curve(tmp_path):
    storage = str(tmp_path / "old.journal")
    study = optuna.create_study(study_name="ns_gan-fashion_mnist-wide", storage=open_storage(storage).storage)
    study.set_user_attr("loss", "ns_gan")
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)})
    trial.report(300.0, 3906)
    trial.report(250.0, 7812)
    trial.set_user_attr("eval/fd_domain_n2000", 250.0)
    trial.set_user_attr("eval/is_domain_n2000", 5.5)
    study.tell(trial, 250.0)
    rows = load_frame(storage)
    assert rows["step"].tolist() == [3906, 7812]
    assert rows["eval/fd_domain_n2000"].tolist() == [300.0, 250.0]
    assert math.isnan(rows["eval/is_domain_n2000"].iloc[0]) and rows["eval/is_domain_n2000"].iloc[1] == 5.5
    assert rows["objective"].unique().tolist() == ["eval/fd_domain_n2000"]

"""What a new user sees: the end-of-run summaries, the sweep's projected time, and no noise they cannot act on."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from noise import noise_in
from optuna.trial import FrozenTrial, TrialState

from lightning_gans.cli import main
from lightning_gans.resources import CONFIGS
from lightning_gans.search.projection import STEP_RATE_ATTR, project
from lightning_gans.summary import feature_space_note
from lightning_gans.training.progress import latest_objective

SCRIPT = Path(sys.executable).with_name("lightning-gans")


def frozen(number: int, state: TrialState, seconds: float | None = None, **user_attrs) -> FrozenTrial:
    start = datetime.datetime(2026, 1, 1)
    complete = None if seconds is None else start + datetime.timedelta(seconds=seconds)
    return FrozenTrial(
        number=number, state=state, value=1.0 if state == TrialState.COMPLETE else None, values=None,
        datetime_start=start, datetime_complete=complete,
        params={}, distributions={}, user_attrs=user_attrs, system_attrs={}, intermediate_values={},
        trial_id=number,
    )  # fmt: skip


def test_the_projection_is_the_measured_rate_or_the_finished_trials_duration():
    running = frozen(0, TrialState.RUNNING, **{STEP_RATE_ATTR: 5.0})
    assert project([frozen(1, TrialState.RUNNING)], 100, 1, 15_625, 4) is None  # nothing timed yet
    paper = project([running], remaining=100, workers=1, steps=15_625, evaluations=4)
    assert paper.seconds_per_trial == 3125.0 and paper.seconds == 312_500.0  # 100 trials one after the other
    assert not paper.from_finished  # the launcher says it again once a trial has finished
    assert "about 86.8 h (52 min per trial, from 5.00 D steps/s measured on trial 0 x 15625 steps" in paper.describe()
    assert "4 evaluations per trial" in paper.describe() and "make sweep TRIALS=5 STEPS=500" in paper.describe()
    three = project([running], remaining=100, workers=3, steps=15_625, evaluations=4)
    assert three.seconds == 34 * 3125.0  # 34 rounds of three trials side by side
    finished = [frozen(0, TrialState.COMPLETE, 90.0), frozen(1, TrialState.COMPLETE, 30.0), running]
    measured = project(finished, remaining=10, workers=2, steps=15_625, evaluations=4)
    assert measured.seconds_per_trial == 60.0 and measured.seconds == 300.0  # finished trials win over the rate
    assert measured.from_finished
    assert "5 min (60 s per trial, from 2 finished trials, evaluations included)" in measured.describe()
    assert "short sweep" not in measured.describe()  # a sweep of minutes needs no shorter one suggested


def test_the_progress_bar_shows_the_latest_objective_short_named():
    metrics = {"eval/fd_domain_n200": 12.5, "eval/best_fd_domain_n200": 11.0, "eval/best_fd_domain_n200_step": 8.0}
    assert latest_objective(metrics) == {"fd_domain": 12.5}
    assert latest_objective({"d_loss": 1.0}) == {}


def test_scores_say_which_features_they_are_in():
    assert "not comparable with published FIDs" in feature_space_note("eval/fd_domain_n10000")
    assert "the FID the literature reports" in feature_space_note("eval/fid_inception_n10000")
    assert feature_space_note("eval/modes_points_n2000") == ""


def test_a_default_fit_ends_with_its_summary_and_prints_no_noise(tmp_path):
    """W&B on (offline, the default), progress bar on: what a user's `make train` prints, on a small run."""
    result = subprocess.run(
        [
            str(SCRIPT), "fit",
            "--config", str(CONFIGS / "data" / "ring8.yaml"),
            "--config", str(CONFIGS / "losses" / "ns_gan.yaml"),
            "--model.steps", "20", "--evaluation.every_n_steps", "10", "--evaluation.samples", "1000",
            "--run.root", str(tmp_path), "--run.name", "ring",
        ],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert noise_in(output) == []
    run_dir = tmp_path / "ring" / "version_0"
    key = "eval/modes_points_n1000"
    metrics = pd.read_csv(run_dir / "metrics.csv").dropna(subset=[key])
    best = metrics.loc[metrics[key].idxmax()]  # modes covered: more is better
    assert f"best {key} = {best[key]:.6g} at D step {int(best['step'])}" in result.stdout
    for line in (
        f"best checkpoint: {run_dir / 'checkpoints' / 'best.ckpt'}",
        f"metrics: {run_dir / 'metrics.csv'}",
        f"sample grids: {run_dir / 'samples'}/ (2)",
        f"config: {run_dir / 'config.yaml'} (train it again: lightning-gans fit --config {run_dir / 'config.yaml'})",
        f"next: lightning-gans evaluate --ckpt_path {run_dir / 'checkpoints' / 'best.ckpt'}",
    ):
        assert line in result.stdout, line
    (offline,) = (tmp_path / "wandb").glob("offline-run-*")
    assert f"W&B (offline): {offline} (upload it: wandb sync {offline})" in result.stdout


def test_commands_that_do_not_exist_are_named_with_the_ones_that_do(monkeypatch, capsys):
    result = subprocess.run([str(SCRIPT), "validate"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown command 'validate'" in result.stderr and "  sweep " in result.stderr
    for command in ("test", "predict", "evaluat"):  # the rest in this process: a process each costs seconds
        monkeypatch.setattr(sys, "argv", ["lightning-gans", command])
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 2 and f"unknown command {command!r}" in capsys.readouterr().err

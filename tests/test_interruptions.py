"""Trials interrupted by a signal or failing with an exception are recorded and retried, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from test_plugins import lightning_gans
from test_sweep import SCRIPT

from lightning_gans.search.studies import open_storage

LONG = ("--model.steps=100000", "--evaluation.every_n_steps=100000", "--evaluation.samples=200", "--run.wandb=false")


def start_long_sweep(tmp_path: Path) -> subprocess.Popen:
    """A ring8 sweep of one trial far longer than the test: interrupted mid-training."""
    command = [str(SCRIPT), "sweep", "--loss", "wgan", "--dataset", "ring8", "--trials", "1", *LONG]
    command += ["--storage", str(tmp_path / "optuna.journal"), "--run.root", str(tmp_path)]
    return subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def study(tmp_path: Path, name: str = "wgan-ring8-wide") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(str(tmp_path / "optuna.journal")).storage)


def wait_until_training(tmp_path: Path, timeout: float = 180) -> None:
    """Until trial 0 has started fitting (its objective is recorded at the start of training)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if any("objective" in trial.user_attrs for trial in study(tmp_path).trials):
                return
        except KeyError:
            pass
        time.sleep(0.2)
    raise AssertionError("the trial did not start training")


def worker_pids(tmp_path: Path) -> list[int]:
    pids = []
    for process in Path("/proc").iterdir():
        try:
            command = (process / "cmdline").read_bytes().decode()
        except OSError:
            continue
        if "sweep-worker" in command and str(tmp_path) in command:
            pids.append(int(process.name))
    return pids


def assert_retried_as_interrupted(tmp_path: Path, signal_name: str) -> None:
    interrupted, retry = study(tmp_path).trials
    assert interrupted.state == TrialState.FAIL and retry.state == TrialState.WAITING
    assert interrupted.user_attrs["fail_reason"] == (
        f"interrupted by {signal_name} before it finished; retried with the same parameters"
    )
    assert retry.user_attrs == {"authors_setting": True, "retry_of": 0, "draws_of": 0, "attempt": 1}
    assert retry.system_attrs["fixed_params"] == interrupted.params  # the authors' setting, not a new draw


def test_sigterm_to_a_worker_fails_its_trial_as_interrupted_and_enqueues_it_again(tmp_path):
    sweep = start_long_sweep(tmp_path)
    wait_until_training(tmp_path)
    (worker,) = worker_pids(tmp_path)
    os.kill(worker, signal.SIGTERM)
    _, errors = sweep.communicate(timeout=120)
    assert sweep.returncode == 1 and "a worker exited with status 143" in errors  # 128 + SIGTERM
    assert_retried_as_interrupted(tmp_path, "SIGTERM")


def test_ctrl_c_to_the_launcher_stops_its_workers_and_exits_130(tmp_path):
    sweep = start_long_sweep(tmp_path)
    wait_until_training(tmp_path)
    os.kill(sweep.pid, signal.SIGINT)  # the launcher alone, not its process group
    _, errors = sweep.communicate(timeout=120)
    assert sweep.returncode == 130
    assert "interrupted: 1 workers stopped; study 'wgan-ring8-wide' has 0 complete trials, 1 waiting" in errors
    assert "Traceback" not in errors
    assert worker_pids(tmp_path) == []  # no orphan left claiming trials
    assert_retried_as_interrupted(tmp_path, "SIGINT")


@pytest.mark.slow  # two sweeps; the rule itself is also checked in-process (test_sweep.py)
def test_a_trial_that_fails_the_same_way_twice_is_not_retried_again(tmp_path):
    sweep = ("sweep", "--loss", "broken_gan", "--dataset", "ring4", "--trials", "1", "--run.wandb=false")
    sweep += ("--storage", "optuna.journal", "--run.root=runs")
    first = lightning_gans(*sweep, cwd=tmp_path)
    assert first.returncode == 1, first.stdout[-2000:] + first.stderr[-2000:]
    name = "broken_gan-ring4-wide"
    storage = open_storage(str(tmp_path / "optuna.journal")).storage
    failed, retry = optuna.load_study(study_name=name, storage=storage).trials
    failure = "RuntimeError: the toy loss breaks on purpose"
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_reason"] == failure
    assert retry.state == TrialState.WAITING and retry.user_attrs["previous_failure"] == failure
    assert retry.user_attrs["attempt"] == 2 and retry.user_attrs["retry_of"] == 0
    second = lightning_gans(*sweep, cwd=tmp_path)  # the next run takes the retry first
    assert second.returncode == 1
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert [trial.state for trial in trials] == [TrialState.FAIL, TrialState.FAIL]  # nothing enqueued again
    assert trials[1].user_attrs["fail_reason"] == (
        f"{failure}; it failed the same way on its previous attempt, so it is the trial's own failure: not retried"
    )
    assert trials[1].params == failed.params

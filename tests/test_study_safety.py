"""What a study survives: a journal line torn by a crash, and a continuation with other settings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from analysis_fixture import build_studies
from optuna.trial import TrialState

from lightning_gans.search.studies import open_storage
from lightning_gans.search.sweep import SweepSettings, open_study, trial_protocol

SCRIPT = Path(sys.executable).with_name("lightning-gans")


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    return Path(build_studies(tmp_path_factory.mktemp("studies") / "optuna.journal"))


def trial_counts(path: Path) -> dict[str, int]:
    storage = open_storage(str(path)).storage
    return {
        summary.study_name: len(optuna.load_study(study_name=summary.study_name, storage=storage).trials)
        for summary in optuna.get_all_study_summaries(storage)
    }


def run_report(storage: Path) -> subprocess.CompletedProcess:
    command = [str(SCRIPT), "report", "--storage", str(storage)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_a_torn_last_line_is_kept_aside_cut_off_and_every_complete_record_stays(journal, tmp_path):
    records = journal.read_bytes().splitlines(keepends=True)
    torn = tmp_path / "optuna.journal"
    shutil.copy(journal, torn)
    with open(torn, "r+b") as handle:  # what `truncate -s -37` does: a crash 37 bytes before the line's end
        handle.truncate(torn.stat().st_size - 37)
    report = run_report(torn)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "its last record was cut off by a crash (" in report.stderr
    assert f"kept in {torn}.torn-1" in report.stderr
    assert torn.read_bytes() == b"".join(records[:-1])  # every complete record, byte for byte
    assert (tmp_path / "optuna.journal.torn-1").read_bytes() == records[-1][:-37]
    again = run_report(torn)
    assert again.returncode == 0 and "cut off" not in again.stderr and again.stdout == report.stdout
    assert not (tmp_path / "optuna.journal.torn-2").exists()
    original, repaired = trial_counts(journal), trial_counts(torn)
    assert repaired == original  # the lost record was the last one's attribute, not a trial


def test_an_intact_journal_is_left_alone(journal, tmp_path):
    copy = tmp_path / "optuna.journal"
    shutil.copy(journal, copy)
    open_storage(str(copy))
    assert copy.read_bytes() == journal.read_bytes() and not list(tmp_path.glob("*.torn-*"))


def settings(storage: str, *trial: str) -> SweepSettings:
    return SweepSettings(loss="wgan", dataset="ring8", storage=storage, trial=("--model.steps=6", *trial))


def test_a_study_refuses_to_continue_with_settings_that_change_its_protocol(tmp_path):
    url = str(tmp_path / "optuna.journal")
    storage = open_storage(url)
    created = settings(url, "--evaluation.samples=200")
    open_study(created, trial_protocol(created), storage)
    changed = settings(url, "--evaluation.samples=500", "--model.z_dim=32")
    with pytest.raises(ValueError) as refused:
        open_study(changed, trial_protocol(changed), storage)
    message = str(refused.value)
    assert "study 'wgan-ring8-wide' was created with other settings (" in message
    assert "eval_samples: 200 -> 500" in message and "evaluation.samples: 200 -> 500" in message
    assert "model.z_dim: 64 -> 32" in message and "--study <new name>" in message
    # Where files go, what is logged and on which device: not the protocol.
    same = settings(url, "--evaluation.samples=200", f"--run.root={tmp_path}", "--trainer.accelerator=cpu")
    study = open_study(same, trial_protocol(same), storage)
    assert [trial.state for trial in study.trials] == [TrialState.WAITING]  # nothing was added or changed


def test_the_sweep_command_refuses_a_mixed_protocol_before_starting_workers(tmp_path):
    url = str(tmp_path / "optuna.journal")
    created = settings(url, "--evaluation.samples=200")
    open_study(created, trial_protocol(created), open_storage(url))
    result = subprocess.run(
        [str(SCRIPT), "sweep", "--loss", "wgan", "--dataset", "ring8", "--storage", url, "--model.steps=6",
         "--evaluation.samples=500", "--run.root", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "evaluation.samples: 200 -> 500" in result.stderr
    assert not (tmp_path / "sweeps").exists()


def test_a_study_records_paths_that_survive_moving_it_with_its_trials(tmp_path):
    from lightning_gans.search.studies import resolved_path, stored_path

    journal = tmp_path / "runs" / "optuna.journal"
    inside = tmp_path / "runs" / "sweeps" / "s" / "trial-0000" / "version_0" / "checkpoints" / "best.ckpt"
    stored = stored_path(str(journal), inside)
    assert stored == "sweeps/s/trial-0000/version_0/checkpoints/best.ckpt"
    moved = tmp_path / "elsewhere" / "optuna.journal"
    assert resolved_path(str(moved), stored) == tmp_path / "elsewhere" / stored
    outside = tmp_path / "scratch" / "best.ckpt"  # not under the journal's folder: absolute
    assert stored_path(str(journal), outside) == str(outside) and resolved_path(str(moved), str(outside)) == outside
    database = "postgresql://user@host/gans"
    assert stored_path(database, inside) == str(inside) and resolved_path(database, str(inside)) == inside


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_storage_opened_by_a_relative_path_survives_a_change_of_working_directory(tmp_path, monkeypatch, kind):
    """jsonargparse changes the working directory while it parses a trial's config, while the worker's heartbeat
    threads write: a storage (and its claim lock) named by a relative path must still be the same file then."""
    monkeypatch.chdir(tmp_path)
    relative = "studies/optuna.journal" if kind == "journal" else "sqlite:///studies/optuna.db"
    (tmp_path / "studies").mkdir()
    storage = open_storage(relative)
    study = optuna.create_study(study_name="before", storage=storage.storage)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # as jsonargparse does, for the length of a parse
    trial = study.ask()
    study.tell(trial, 1.0)
    with storage.claim_lock("before"):
        optuna.create_study(study_name="after", storage=storage.storage)
    assert list(elsewhere.iterdir()) == []  # nothing written where the working directory happened to be
    monkeypatch.chdir(tmp_path)
    again = open_storage(relative).storage
    names = sorted(summary.study_name for summary in optuna.get_all_study_summaries(again))
    assert names == ["after", "before"]
    assert [t.value for t in optuna.load_study(study_name="before", storage=again).trials] == [1.0]

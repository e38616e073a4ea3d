"""A sweep's guarantees with packed trials (`--pack K`), through the real `lightning-gans sweep` and journal storages.

Packing changes how many kernels train a worker's trials, not what any trial is: the same draws, seeds, values,
attributes, files and weights as the same study run trial by trial, whichever worker claims what; a pack that mixes
network structures is split; a worker killed mid-pack leaves orphans that the next worker retries; a study continues
and re-runs its best setting with packs as without.

The study: WGAN-GP on grid25 (2-D, the MLP pair; judged by its high-quality share, which moves from the first
steps, where ring8's modes covered stay 0), seed 3, whose trials 0-2 draw d_batch_norm False, True, False, and trial 3
False: a worker with --pack 3 claims 0-2 together and must train them as two packs, {0, 2} (n_disc 5 and 1) and {1},
then {3}. Every process runs one intra-op thread: on two shared cores that is several times faster than two.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml
from optuna.trial import FrozenTrial, TrialState

from lightning_gans.evaluation.previews import PREVIEW_SIZE, SAMPLE_POINTS_ATTR, decode_points
from lightning_gans.search import worker
from lightning_gans.search.packs import structure_key
from lightning_gans.search.projection import STEP_RATE_ATTR
from lightning_gans.search.spaces import authors_trial_params, trial_arguments
from lightning_gans.search.studies import HEARTBEAT_ATTR, open_storage, resolved_path
from lightning_gans.search.sweep import SweepSettings, TrialSeededRandomSampler, open_study, trial_protocol
from lightning_gans.training.module import GAN

SCRIPT = Path(sys.executable).with_name("lightning-gans")
LOSS, DATASET, SEED = "wgan_gp", "grid25", 3
STUDY = f"{LOSS}-{DATASET}-wide"
TRIAL_ARGUMENTS = (
    "--model.steps=20",
    "--evaluation.every_n_steps=5",
    "--evaluation.samples=1000",
    "--evaluation.objective=high_quality",
    "--trainer.log_every_n_steps=5",
    "--run.wandb=false",
)
SCORE = "eval/high_quality_points_n1000"
TIMING = (HEARTBEAT_ATTR, "worker", STEP_RATE_ATTR, worker.PACK_ATTR)
"""User attributes that say when, where and with which others a trial ran, not what it is."""


def environment() -> dict[str, str]:
    """This process's (the session's cache folders, set by conftest), with one intra-op thread per process: on two
    shared cores that is several times faster than two."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def sweep_command(
    root: Path, *extra: str, command: str = "sweep", trial: tuple[str, ...] = TRIAL_ARGUMENTS, seed: int = SEED
) -> list:
    """The study's sweep, its journal and its runs in `root`: stored paths (relative to the journal) compare."""
    root.mkdir(parents=True, exist_ok=True)
    return [
        str(SCRIPT), command, "--loss", LOSS, "--dataset", DATASET, "--seed", str(seed), *trial,
        "--storage", str(root / "optuna.journal"), "--run.root", str(root), *extra,
    ]  # fmt: skip


def start(root: Path, *extra: str, **options) -> subprocess.Popen:
    command = sweep_command(root, *extra, **options)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment())


def finished(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stdout[-2000:] + stderr[-3000:]
    return stdout


def load(root: Path, name: str = STUDY) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(str(root / "optuna.journal")).storage)


def complete_by_number(root: Path, trials: int, name: str = STUDY) -> dict[int, FrozenTrial]:
    """The study's complete trials by number: exactly `trials`, numbered 0..trials-1 (nothing failed or retried)."""
    study = load(root, name)
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * trials
    return {trial.number: trial for trial in study.trials}


KILLED_TRIAL = ("--model.steps=200", "--evaluation.every_n_steps=100", *TRIAL_ARGUMENTS[2:])
"""The killed study's trials: long enough that the kill lands before its pack is done; two evaluations."""
KILLED = ("--trials", "2", "--pack", "2", "--heartbeat_seconds", "0.5", "--grace_seconds", "3")
KILLED_SEED = 2  # trials 0 and 1 share a structure: one pack


@dataclass
class Studies:
    """Every sweep of this module, run in two rounds of processes side by side (they are mostly start-up)."""

    unpacked: Path
    packed: Path
    continued: Path
    """A copy of the packed study of 4 trials and its runs, continued to 6 by two workers with --pack 2."""
    killed: Path
    trials: dict[str, dict[int, FrozenTrial]]
    """The 4-trial studies as their sweeps left them."""
    killed_trials: list[FrozenTrial]
    """The killed study right after the kill."""
    outputs: dict[str, str]


def wait_for_running_trials(root: Path, count: int, timeout: float = 300) -> None:
    """Until `count` trials run and have drawn their parameters: the pack is claimed and about to train."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            running = load(root).get_trials(states=(TrialState.RUNNING,))
            if len(running) == count and all("arguments" in trial.user_attrs for trial in running):
                return
        except KeyError:  # the study is not created yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"{count} trials never ran at once")


def start_and_kill_mid_pack(root: Path) -> list[FrozenTrial]:
    """A sweep whose worker (--pack 2) is killed with SIGKILL, launcher too, while its two trials are RUNNING."""
    sweep = subprocess.Popen(
        sweep_command(root, *KILLED, trial=KILLED_TRIAL, seed=KILLED_SEED),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment(),
    )
    try:
        wait_for_running_trials(root, 2)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    return load(root).trials


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> Studies:
    roots = {name: tmp_path_factory.mktemp(name) for name in ("unpacked", "packed", "killed")}
    # Round 1: the study trial by trial and with --pack 3, and a sweep killed mid-pack.
    first = {
        "unpacked": start(roots["unpacked"], "--trials", "4", "--pack", "1"),
        "packed": start(roots["packed"], "--trials", "4", "--pack", "3"),
    }
    killed_trials = start_and_kill_mid_pack(roots["killed"])
    killed_at = time.time()
    outputs = {name: finished(sweep) for name, sweep in first.items()}
    trials = {name: complete_by_number(roots[name], 4) for name in first}
    # Round 2: the packed study continued (a copy: the original is the reruns' source) and re-run, and the killed
    # study's next worker, once the grace period of its orphans is over.
    continued = tmp_path_factory.mktemp("continued")
    shutil.copytree(roots["packed"], continued, dirs_exist_ok=True)
    second = {
        "continued": start(continued, "--trials", "6", "--pack", "2", "--workers", "2"),
        "reruns": start(roots["packed"], "--trials", "4", "--pack", "2", "--seeds", "3", command="reruns"),
    }
    time.sleep(max(0.0, killed_at + 3.5 - time.time()))  # longer than the grace period: both heartbeats are stale
    second["killed"] = start(roots["killed"], *KILLED, trial=KILLED_TRIAL, seed=KILLED_SEED)
    outputs |= {name: finished(sweep) for name, sweep in second.items()}
    return Studies(roots["unpacked"], roots["packed"], continued, roots["killed"], trials, killed_trials, outputs)


def drawn(numbers: range) -> dict[int, dict]:
    """What trial numbers of the study draw in any process: the study's sampler, on a study of its name and seed."""
    study = optuna.create_study(study_name=STUDY, sampler=TrialSeededRandomSampler(SEED), direction="maximize")
    study.enqueue_trial(authors_trial_params(LOSS, "wide"))  # trial 0, as open_study enqueues it
    trials = [study.ask() for _ in range(numbers.stop)]
    return {number: trial_arguments(trials[number], LOSS, "wide") for number in numbers}


def without_timing(attributes: dict) -> dict:
    kept = {key: value for key, value in attributes.items() if key not in TIMING and "seconds" not in key}
    if "evaluations" in kept:
        kept["evaluations"] = [without_timing(evaluation) for evaluation in kept["evaluations"]]
    return kept


def assert_same_trial(packed: FrozenTrial, unpacked: FrozenTrial) -> None:
    """Draws, arguments and every attribute but timing identical; values and scores equal up to float32 order."""
    assert packed.params == unpacked.params and packed.distributions == unpacked.distributions
    assert packed.user_attrs["arguments"] == unpacked.user_attrs["arguments"]
    assert packed.value == pytest.approx(unpacked.value, abs=1e-6)
    assert packed.intermediate_values == pytest.approx(unpacked.intermediate_values, abs=1e-6)
    mine, theirs = without_timing(packed.user_attrs), without_timing(unpacked.user_attrs)
    assert mine.keys() == theirs.keys()
    evaluations = mine.pop("evaluations"), theirs.pop("evaluations")
    assert [sorted(e) for e in evaluations[0]] == [sorted(e) for e in evaluations[1]]
    for own, expected in zip(*evaluations, strict=True):
        assert own == pytest.approx(expected, abs=1e-6)
    scores = {key for key in theirs if key.startswith("eval/")}
    assert {key: mine.pop(key) for key in scores} == pytest.approx({key: theirs.pop(key) for key in scores}, abs=1e-6)
    previews = decode_points(mine.pop(SAMPLE_POINTS_ATTR)), decode_points(theirs.pop(SAMPLE_POINTS_ATTR))
    assert previews[0].shape == (PREVIEW_SIZE, 2)
    np.testing.assert_allclose(*previews, rtol=0, atol=1.001e-3)  # rounded to 3 decimals: one step apart at most
    assert mine == theirs  # the objective, the best step, the paths (relative to the journal)


def trial_folder(root: Path, trial: FrozenTrial, name: str = STUDY) -> Path:
    return root / "sweeps" / name / f"trial-{trial.number:04d}" / "version_0"


def assert_same_files(packed: Path, unpacked: Path, packed_root: Path, unpacked_root: Path) -> None:
    """The same files; metrics.csv alike up to float32 order; config.yaml alike but for the root; best.ckpt alike."""
    listing = [sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) for folder in (packed, unpacked)]
    assert listing[0] == listing[1]
    assert "checkpoints/best.ckpt" in listing[0] and "checkpoints/last.ckpt" not in listing[0]
    metrics = [pd.read_csv(folder / "metrics.csv") for folder in (packed, unpacked)]
    assert list(metrics[0].columns) == list(metrics[1].columns) and list(metrics[0]["step"]) == list(metrics[1]["step"])
    assert metrics[1]["d_loss"].notna().sum() == 4  # loss rows at steps 4, 9, 14, 19; evaluations at 5, 10, 15, 20
    compared = [frame.drop(columns=[c for c in frame if "seconds" in c]) for frame in metrics]
    pd.testing.assert_frame_equal(*compared, rtol=1e-5, atol=1e-5)
    configs = [yaml.safe_load((folder / "config.yaml").read_text()) for folder in (packed, unpacked)]
    assert configs[0]["run"].pop("root") == str(packed_root / "sweeps" / STUDY)
    assert configs[1]["run"].pop("root") == str(unpacked_root / "sweeps" / STUDY)
    assert configs[0] == configs[1]
    assert (packed / "hparams.yaml").read_text() == (unpacked / "hparams.yaml").read_text()
    best = [torch.load(folder / "checkpoints" / "best.ckpt", weights_only=False) for folder in (packed, unpacked)]
    assert best[0].keys() == best[1].keys() and best[0]["global_step"] == best[1]["global_step"]
    modules = [GAN.load_from_checkpoint(folder / "checkpoints" / "best.ckpt") for folder in (packed, unpacked)]
    assert modules[0].d_step == modules[1].d_step and modules[0].hparams == modules[1].hparams
    weights = [module.state_dict() for module in modules]
    assert weights[0].keys() == weights[1].keys()
    for key, value in weights[1].items():
        torch.testing.assert_close(weights[0][key], value, rtol=1e-5, atol=1e-5, msg=lambda m, k=key: f"{k}: {m}")


def test_a_packed_sweep_records_what_the_sweep_trial_by_trial_records(studies):
    packed, unpacked = studies.trials["packed"], studies.trials["unpacked"]
    assert packed[0].user_attrs["authors_setting"] is True and unpacked[0].user_attrs["authors_setting"] is True
    assert packed[0].params == {"beta1": 0.5, "lr": 1e-4, "n_disc": 5, "d_batch_norm": False, "gp_lambda": 10.0}
    scores = {e[SCORE] for trial in unpacked.values() for e in trial.user_attrs["evaluations"]}
    assert len(scores) > 2  # the scores differ: their equality says something
    (log,) = (studies.packed / "sweeps" / STUDY).glob("worker-cpu-*.log")
    assert "exists and is not empty" not in log.read_text()  # a member's log starts before its config is saved
    for number in range(4):
        assert_same_trial(packed[number], unpacked[number])
        assert_same_files(
            trial_folder(studies.packed, packed[number]),
            trial_folder(studies.unpacked, unpacked[number]),
            studies.packed,
            studies.unpacked,
        )


def test_draws_depend_on_neither_packing_nor_the_number_of_workers(studies):
    trials = complete_by_number(studies.continued, 6)  # 0-3 by one worker with --pack 3, 4-5 by two with --pack 2
    unpacked = studies.trials["unpacked"]
    for number in range(4):
        assert trials[number].params == unpacked[number].params
        assert trials[number].user_attrs["arguments"] == unpacked[number].user_attrs["arguments"]
    expected = drawn(range(6))
    assert {number: unpacked[number].user_attrs["arguments"] for number in range(4)} == {
        number: expected[number] for number in range(4)
    }  # what the sampler draws in this process is what the sweeps drew
    for number in (4, 5):
        assert trials[number].user_attrs["arguments"] == expected[number]
    logs = list((studies.continued / "sweeps" / STUDY).glob("worker-cpu-*.log"))
    assert len(logs) == 3  # the first sweep's worker, then the second's two


def test_trials_whose_draws_differ_only_where_the_mlp_has_nothing_share_a_pack(studies):
    packed, unpacked = studies.trials["packed"], studies.trials["unpacked"]
    # One worker with --pack 3: trials 0-2 draw discriminator batch norm off, on, off, which the MLP pair has no
    # batch norm to apply, so they train as one full pack; trial 3, the last, trains alone.
    assert [packed[number].params["d_batch_norm"] for number in range(4)] == [False, True, False, False]
    assert [packed[number].params["n_disc"] for number in (0, 2)] == [5, 1]  # a pack of two schedules
    assert len({packed[number].user_attrs["worker"] for number in range(4)}) == 1
    assert {number: packed[number].user_attrs.get(worker.PACK_ATTR) for number in range(4)} == {
        0: [0, 1, 2],
        1: [0, 1, 2],
        2: [0, 1, 2],
        3: None,
    }
    for number in range(4):
        assert packed[number].value == pytest.approx(unpacked[number].value, abs=1e-6)
        assert packed[number].user_attrs["evaluations"][-1][SCORE] == pytest.approx(
            unpacked[number].user_attrs["evaluations"][-1][SCORE], abs=1e-6
        )


def test_a_worker_killed_mid_pack_leaves_orphans_the_next_worker_retries(studies):
    killed = studies.killed_trials
    assert [trial.state for trial in killed] == [TrialState.RUNNING] * 2  # neither was told: both orphaned
    assert killed[0].params["d_batch_norm"] == killed[1].params["d_batch_norm"]  # one pack
    assert (
        f"study {STUDY!r}: 2 complete (0 of them diverged), 0 failed (2 interrupted attempts retried), 0 pruned"
        in (studies.outputs["killed"])
    )
    study = load(studies.killed)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    orphans = study.get_trials(states=(TrialState.FAIL,))
    assert len(complete) == 2 and len(study.trials) == 4
    assert sorted(orphan.number for orphan in orphans) == [0, 1]
    assert len({trial.user_attrs["worker"] for trial in complete} | {killed[0].user_attrs["worker"]}) == 2
    for orphan, before in zip(sorted(orphans, key=lambda trial: trial.number), killed, strict=True):
        assert orphan.user_attrs["fail_reason"] == "no heartbeat for 3 s: its worker died"
        assert orphan.params == before.params
        (retry,) = (trial for trial in complete if trial.user_attrs.get("retry_of") == orphan.number)
        assert retry.user_attrs["draws_of"] == orphan.number and retry.user_attrs["attempt"] == 2
        assert retry.params == orphan.params and retry.user_attrs["arguments"] == orphan.user_attrs["arguments"]
        assert retry.user_attrs.get("authors_setting") == orphan.user_attrs.get("authors_setting")
        assert [evaluation["step"] for evaluation in retry.user_attrs["evaluations"]] == [100, 200]
        stored = retry.user_attrs["best_checkpoint"]
        assert math.isfinite(retry.value) and resolved_path(str(studies.killed / "optuna.journal"), stored).is_file()


def test_a_packed_study_continues_to_more_trials_with_the_same_draws(studies):
    assert f"study '{STUDY}': 6 complete (0 of them diverged), 0 failed, 0 pruned" in studies.outputs["continued"]
    trials = complete_by_number(studies.continued, 6)
    for number, before in studies.trials["packed"].items():  # trials of the first sweep are kept, not run again
        assert trials[number].params == before.params and trials[number].value == before.value
        assert trials[number].datetime_complete == before.datetime_complete
    first_worker = trials[0].user_attrs["worker"]
    for number in (4, 5):
        assert trials[number].user_attrs["worker"] != first_worker
        assert trials[number].user_attrs["evaluations"][-1]["step"] == 20
        assert (trial_folder(studies.continued, trials[number]) / "checkpoints" / "best.ckpt").is_file()


def test_reruns_of_a_packed_study_run_in_packs_and_complete_their_seeds(studies):
    root = studies.packed
    best = load(root).best_trial
    assert f"study '{STUDY}-reruns': 3 complete (0 of them diverged), 0 failed, 0 pruned" in studies.outputs["reruns"]
    reruns = complete_by_number(root, 3, f"{STUDY}-reruns")
    assert load(root, f"{STUDY}-reruns").user_attrs["best_trial"] == best.number
    assert sorted(trial.user_attrs["rerun_seed"] for trial in reruns.values()) == [0, 1, 2]
    assert all(trial.params == best.params for trial in reruns.values())
    assert len({trial.user_attrs["worker"] for trial in reruns.values()}) == 1  # one worker, its packs
    losses = []
    for trial in reruns.values():  # each seed is its run's: its config says so, and it trained with it
        folder = trial_folder(root, trial, f"{STUDY}-reruns")
        assert yaml.safe_load((folder / "config.yaml").read_text())["seed_everything"] == trial.user_attrs["rerun_seed"]
        losses.append(tuple(pd.read_csv(folder / "metrics.csv")["d_loss"].dropna()))
    assert len(set(losses)) == 3  # different seeds, different runs


def fake_training(monkeypatch: pytest.MonkeyPatch, train_one_pack: Callable) -> None:
    """Packs and lone trials "train" through `train_one_pack`: the worker's bookkeeping without a GAN."""
    monkeypatch.setattr(worker, "train_one_pack", train_one_pack)
    monkeypatch.setattr(worker, "run_trial", lambda trial, settings, protocol: train_one_pack([trial], None, None)[0])


def paper_network_study(tmp_path: Path, trials: int, pack: int) -> tuple:
    """A study of the paper's network, whose discriminator batch norm makes two structures of its trials."""
    journal = str(tmp_path / "optuna.journal")
    settings = SweepSettings(loss=LOSS, dataset="fashion_mnist", seed=SEED, trials=trials, pack=pack, storage=journal)
    protocol = trial_protocol(settings)
    storage = open_storage(journal)
    return settings, protocol, storage, open_study(settings, protocol, storage)


def train_claimable(study, storage, settings, protocol, claim) -> int:
    """worker.train_claimable at the settings' pack size, with this process's signal handlers put back after it
    (StopSignals installs its own)."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return worker.train_claimable(study, storage, settings, protocol, settings.pack, worker.StopSignals(), claim)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


@pytest.mark.parametrize("failing", [1, 2])
def test_an_error_in_one_pack_fails_its_trials_and_releases_the_unstarted_not_the_finished(
    tmp_path, monkeypatch, failing
):
    """On the paper's network, whose batch norm makes two structures of trials 0-2, those are all there is to claim:
    they train as a pack of the two of one structure, then the other alone (a group of one); a pack's error is its
    own, the packs trained before it keep their outcomes, and the trials it kept from starting are enqueued again."""
    trained = []

    def train_one_pack(group, settings, protocol):
        trained.append([trial.number for trial in group])
        if len(trained) == failing:
            raise RuntimeError("out of memory in this pack")
        return [0.5] * len(group)

    fake_training(monkeypatch, train_one_pack)
    settings, protocol, storage, study = paper_network_study(tmp_path, trials=4, pack=3)
    asked = [study.ask() for _ in range(3)]
    claimable = iter(asked)
    structures: dict[tuple, list[int]] = {}
    for trial in asked:
        structures.setdefault(structure_key(trial, settings), []).append(trial.number)
    pack, alone = sorted(structures.values(), key=len, reverse=True)  # the larger first, as the worker trains them
    assert (len(pack), len(alone)) == (2, 1)
    with pytest.raises(RuntimeError, match="out of memory in this pack"):  # and the worker stops
        train_claimable(study, storage, settings, protocol, functools.partial(next, claimable, None))
    assert trained == [pack, alone][:failing]
    states = {trial.number: (trial.state, trial.value) for trial in study.trials}
    failed, other = (pack, alone) if failing == 1 else (alone, pack)
    for number in failed:
        assert states[number] == (TrialState.FAIL, None)
        assert study.trials[number].user_attrs["fail_reason"] == "RuntimeError: out of memory in this pack"
    for number in other:
        if failing == 2:
            assert states[number] == (TrialState.COMPLETE, 0.5)
        else:
            assert states[number] == (TrialState.FAIL, None)
            assert study.trials[number].user_attrs["fail_reason"].startswith("claimed, but its worker stopped")
    retries = study.get_trials(states=(TrialState.WAITING,))
    assert sorted(retry.user_attrs["retry_of"] for retry in retries) == sorted(failed + other * (failing == 1))


def test_a_worker_holds_claimed_trials_until_a_pack_of_one_structure_is_full(tmp_path, monkeypatch):
    """Packs of 2 on the paper's network (two structures): a pack trains as soon as two trials of one structure are
    held, never a half pack while more can be claimed; what is left when nothing more can, trains last."""
    events: list[tuple[str, list[int]]] = []

    def train_one_pack(group, settings, protocol):
        events.append(("train", [trial.number for trial in group]))
        return [0.5] * len(group)

    fake_training(monkeypatch, train_one_pack)
    settings, protocol, storage, study = paper_network_study(tmp_path, trials=7, pack=2)
    asked = iter([study.ask() for _ in range(7)])

    def claim():
        trial = next(asked, None)
        if trial is not None:
            events.append(("claim", [trial.number]))
        return trial

    told = train_claimable(study, storage, settings, protocol, claim)
    expected: list[tuple[str, list[int]]] = []
    held: dict[tuple, list[int]] = {}
    for trial in study.trials:  # the rule, step by step: claim one, train a structure's pair once it is complete
        expected.append(("claim", [trial.number]))
        group = held.setdefault(structure_key(trial, settings), [])
        group.append(trial.number)
        if len(group) == 2:
            expected.append(("train", held.pop(structure_key(trial, settings))))
    expected += [("train", group) for group in held.values()]
    assert events == expected and told == 7
    assert any(kind == "train" and len(group) == 2 and group[1] - group[0] > 1 for kind, group in events)  # one held
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 7


def test_each_member_of_a_pack_logs_to_its_own_wandb_run(tmp_path):
    """Two trials trained as one pack, W&B on (offline, the default): two runs, each named after its trial, each with
    its own evaluations' sample grids; not one run that every member logs into."""
    trial = ("--model.steps=4", "--evaluation.every_n_steps=2", "--evaluation.samples=200")
    result = subprocess.run(
        sweep_command(tmp_path, "--trials", "2", "--pack", "2", trial=trial, seed=KILLED_SEED),
        capture_output=True, text=True, timeout=600, env=environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert complete_by_number(tmp_path, 2)[0].user_attrs[worker.PACK_ATTR] == [0, 1]  # they trained as one pack
    folder = tmp_path / "sweeps" / STUDY
    runs = sorted((folder / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    named = []
    for run in runs:
        (record,) = run.glob("run-*.wandb")
        named.append([number for number in (0, 1) if f"{STUDY}/trial-{number:04d}".encode() in record.read_bytes()])
        assert len(list(run.rglob("samples_*.png"))) == 2  # its own evaluations at steps 2 and 4, not its packmate's
    assert sorted(named) == [[0], [1]]
    (log,) = folder.glob("worker-cpu-*.log")
    assert "wandb run already in progress" not in log.read_text()

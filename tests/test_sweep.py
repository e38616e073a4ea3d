"""Sweeps with real worker processes against real storages: exact trial counts, kill/resume, PostgreSQL."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from functools import partial
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch
import yaml
from noise import noise_in
from optuna.trial import TrialState

from lightning_gans.evaluation.features import evaluation_noise
from lightning_gans.evaluation.previews import PREVIEW_SIZE, SAMPLE_POINTS_ATTR, decode_points
from lightning_gans.evaluation.schedule import is_evaluation_step
from lightning_gans.runs import run
from lightning_gans.search.projection import STEP_RATE_ATTR
from lightning_gans.search.spaces import trial_arguments
from lightning_gans.search.studies import StorageError, open_storage, resolved_path
from lightning_gans.search.sweep import (
    SweepSettings,
    TrialCLI,
    TrialSeededRandomSampler,
    open_study,
    study_record,
    trial_protocol,
    trial_run_arguments,
)
from lightning_gans.training.module import GAN

SCRIPT = Path(sys.executable).with_name("lightning-gans")
POSTGRES = os.environ.get("LIGHTNING_GANS_TEST_POSTGRES")
needs_postgres = pytest.mark.skipif(
    not POSTGRES, reason="set LIGHTNING_GANS_TEST_POSTGRES (CI starts a server with .ci/postgres.sh)"
)


def sweep_args(storage: str, root: Path, trials: int, workers: int = 1, steps: int = 4, *extra: str) -> list[str]:
    wandb = [] if "--wandb" in extra else ["--run.wandb=false"]
    return [
        str(SCRIPT), "sweep", "--loss", "wgan_gp", "--trials", str(trials), "--model.steps", str(steps),
        "--evaluation.every_n_steps", str(steps), "--evaluation.samples=200", "--evaluation.extractor=domain",
        *wandb, "--storage", storage, "--run.root", str(root), "--workers", str(workers),
        *(arg for arg in extra if arg != "--wandb"),
    ]  # fmt: skip


def run_sweep(*args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(sweep_args(*args, **kwargs), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def load(storage: str, name: str = "wgan_gp-fashion_mnist-wide") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(storage).storage)


def assert_exact_study(study: optuna.Study, trials: int) -> list[optuna.trial.FrozenTrial]:
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == trials
    assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == trials  # no duplicate
    assert all(t.value is not None and t.value > 0 for t in complete)
    return complete


def check_trial_records(complete, storage: str) -> None:
    first = min(complete, key=lambda t: t.number)
    assert first.number == 0 and first.user_attrs["authors_setting"] is True
    assert first.params["lr"] == 1e-4  # the authors' WGAN-GP learning rate (docs/protocol.md)
    for trial in complete:
        assert trial.intermediate_values == {4: trial.value}  # one evaluation at step 4 is the minimum
        stored = trial.user_attrs["best_checkpoint"]  # beside the journal: relative to it, so the two move together
        assert stored == f"sweeps/wgan_gp-fashion_mnist-wide/trial-{trial.number:04d}/version_0/checkpoints/best.ckpt"
        best = resolved_path(storage, stored)
        kept = torch.load(best, weights_only=False)
        assert "optimizer_states" not in kept and "loops" not in kept  # a finished trial is never resumed
        assert not (best.parent / "last.ckpt").exists() and sorted(p.name for p in best.parent.iterdir()) == [
            "best.ckpt"
        ]
        assert GAN.load_from_checkpoint(best).hparams.loss == "wgan_gp"  # the networks load as they are
        assert "eval/is_domain_n200" in trial.user_attrs
        (evaluation,) = trial.user_attrs["evaluations"]  # every evaluation's scores, for analysis
        assert evaluation["step"] == 4 and evaluation["eval/fd_domain_n200"] == pytest.approx(trial.value)
        assert evaluation["eval/kid_domain_n200"] == pytest.approx(trial.user_attrs["eval/kid_domain_n200"])


@pytest.mark.slow  # `make test` checks three workers' exact count on PostgreSQL (test_postgres_storage_...)
@pytest.mark.parametrize("workers", [3])
def test_concurrent_workers_finish_exactly_the_requested_trials(tmp_path, quick_domain_classifier, workers):
    storage = str(tmp_path / "optuna.journal")
    first = run_sweep(storage, tmp_path, 4, workers)
    assert noise_in(first.stdout + first.stderr) == []
    study = load(storage)
    check_trial_records(assert_exact_study(study, 4), storage)
    best, authors = study.best_trial, study.trials[0]
    for line in (  # the summary: the best trial and the authors' from the storage, then what to run next
        "study 'wgan_gp-fashion_mnist-wide': 4 complete (0 of them diverged), 0 failed, 0 pruned",
        f"best: trial {best.number}, eval/fd_domain_n200 = {best.value:.6g}; ",
        f"lr={best.params['lr']:.3g}",
        "an FD, not an FID, and not comparable with published FIDs",
        f"the authors' setting: trial 0, eval/fd_domain_n200 = {authors.value:.6g}",
        f"next: make dashboard STORAGE={storage}",
    ):
        assert line in first.stdout, line
    assert len(study.trials) == 4  # nothing started beyond what was needed
    again = run_sweep(storage, tmp_path, 4, workers)  # the same command continues; the study is already done
    assert "already has 4 complete trials" in again.stdout
    assert len(load(storage).trials) == 4
    run_sweep(storage, tmp_path, 5, 1)  # a larger TRIALS continues the same study up to it
    complete = assert_exact_study(load(storage), 5)
    summary = subprocess.run([str(SCRIPT), "report", "--storage", storage], capture_output=True, text=True, timeout=120)
    best = min(trial.value for trial in complete)
    assert f"| wgan_gp-fashion_mnist-wide | 5 | 0 | 0 | 0 | {best:.1f} |" in summary.stdout  # none diverged or failed


def wait_for_running_trial(storage: str, name: str = "wgan_gp-fashion_mnist-wide", timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if any(trial.params for trial in load(storage, name).get_trials(states=(TrialState.RUNNING,))):
                return  # a trial is running and has drawn its parameters: mid-trial
        except KeyError:  # the study is not created yet
            pass
        time.sleep(0.2)
    raise AssertionError("no trial started")


def kill_and_resume(storage: str, root: Path, name: str = "wgan_gp-fashion_mnist-wide") -> optuna.Study:
    options = ("--study", name, "--heartbeat_seconds", "0.5", "--grace_seconds", "3")
    sweep = subprocess.Popen(
        sweep_args(storage, root, 2, 1, 40, *options),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_running_trial(storage, name)
    os.killpg(sweep.pid, signal.SIGKILL)  # the launcher and its worker, mid-trial
    sweep.wait()
    time.sleep(4)  # longer than the grace period: the trial's heartbeat is now stale
    run_sweep(storage, root, 2, 1, 40, *options)
    return load(storage, name)


def assert_recovered(study: optuna.Study) -> None:
    complete = assert_exact_study(study, 2)
    orphans = study.get_trials(states=(TrialState.FAIL,))
    assert len(orphans) == 1
    assert "no heartbeat for 3 s: its worker died" in orphans[0].user_attrs["fail_reason"]
    retried = [t for t in complete if t.user_attrs.get("retry_of") == orphans[0].number]
    assert len(retried) == 1 and retried[0].user_attrs["draws_of"] == orphans[0].number
    # The kill may land while the orphan was still drawing: what it drew, the retry keeps.
    assert retried[0].params.items() >= orphans[0].params.items()


@pytest.mark.slow  # `make test` kills and recovers a worker on PostgreSQL (test_postgres_storage_...)
def test_a_killed_worker_is_recovered_and_its_trial_retried(tmp_path, quick_domain_classifier):
    storage = str(tmp_path / "optuna.journal")
    assert_recovered(kill_and_resume(storage, tmp_path))


@needs_postgres
def test_postgres_storage_concurrent_workers_and_kill(tmp_path, quick_domain_classifier):
    name = f"pg-{uuid.uuid4().hex[:12]}"  # the server outlives test runs: a name of this run only
    run_sweep(POSTGRES, tmp_path, 3, 2, 4, "--study", name)
    assert_exact_study(load(POSTGRES, name), 3)
    assert_recovered(kill_and_resume(POSTGRES, tmp_path, f"{name}-kill"))


def default_storage(args: list[str], root: Path) -> list[str]:
    return [] if "--storage" in args else ["--storage", str(root / "optuna.journal")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--loss", "hinge"], "unknown loss 'hinge'; valid loss names: mm_gan, ns_gan"),
        (["--loss", "ns_gan", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--loss", "ns_gan", "--space", "huge"], "unknown space 'huge'; valid space names: wide, narrow"),
        (["--loss", "ns_gan", "--trials", "0"], 'Parser key "trials"'),
        (["--loss", "ns_gan", "--trials", "0"], "Not of type PositiveInt: does not conform to restriction v>0"),
        (["--loss", "ns_gan", "--workers", "0"], "Not of type PositiveInt: 0 does not conform to restriction v>0"),
        (["--loss", "ns_gan", "--model.lr=0.1"], "the wide space searches model.lr for ns_gan"),
        (["--loss", "ns_gan", "--model.no_such=1"], "unrecognized arguments: --model.no_such=1"),
        (["--loss", "ns_gan", "--trainer.precision=16-mixed"], "trainer precision '16-mixed' is not supported"),
        (["--loss", "ns_gan", "--storage", "http://db/x"], "unsupported scheme 'http'"),
        (["--loss", "ns_gan", "--storage", "postgresql://u:secret@127.0.0.1:1/db"], "cannot open storage"),
        (["--loss", "ns_gan", "--gpus", "0,x"], "GPUS='0,x' is not allowed"),
    ],
)
def test_bad_input_fails_before_any_training(tmp_path, args, message):
    result = subprocess.run(
        [str(SCRIPT), "sweep", *args, "--run.root", str(tmp_path), *default_storage(args, tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
    assert "secret" not in result.stderr  # passwords never reach messages
    assert not (tmp_path / "sweeps").exists()


def test_trial_parameters_depend_on_the_study_and_trial_number_not_the_worker():
    def params_of(name: str = "a") -> dict[int, dict]:
        """Trials 0..2 of a study as one worker process, alone, would draw them."""
        study = optuna.create_study(study_name=name, sampler=TrialSeededRandomSampler(7))
        drawn = {}
        for number in range(3):
            trial = study.ask()
            drawn[number] = {"lr": trial.suggest_float("lr", 1e-5, 1e-2, log=True), "n": trial.suggest_int("n", 1, 5)}
        return drawn

    assert params_of() == params_of()  # two workers, each with its own sampler, agree on every trial number
    assert params_of()[1] != params_of()[2]
    assert params_of("b")[1] != params_of("a")[1]  # each study is its own search


def test_settings_default_to_the_protocol():
    settings = SweepSettings(loss="wgan_gp")
    assert settings.study_name == "wgan_gp-fashion_mnist-wide" and settings.network == "infogan"
    assert settings.target_trials == 100 and SweepSettings(loss="wgan_gp", space="narrow").target_trials == 50
    protocol = trial_protocol(settings)
    assert (protocol.steps, protocol.eval_every, protocol.eval_samples) == (15_625, 3_906, 10_000)
    assert (protocol.objective, protocol.direction, protocol.precision) == ("fd", "minimize", "32-true")
    assert protocol.root == Path("runs/sweeps/wgan_gp-fashion_mnist-wide")
    mixture = SweepSettings(loss="wgan_gp", dataset="ring8")
    assert mixture.network == "mlp" and trial_protocol(mixture).direction == "maximize"  # modes covered


def test_storage_errors_are_clear(tmp_path):
    with pytest.raises(StorageError, match="is a directory"):
        open_storage(str(tmp_path))


def test_dashboard_serves_the_study_over_http(tmp_path, quick_domain_classifier, monkeypatch):
    storage = str(tmp_path / "optuna.journal")
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the sweep must default to offline W&B by itself
    run_sweep(storage, tmp_path, 1, 1, 4, "--wandb")
    offline_runs = list((tmp_path / "sweeps" / "wgan_gp-fashion_mnist-wide" / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1  # one W&B run per trial
    detail = dashboard_study(storage, port="18431")
    assert detail["name"] == "wgan_gp-fashion_mnist-wide"
    assert [t["state"] for t in detail["trials"]] == ["Complete"]
    assert detail["has_intermediate_values"] is True  # the learning curve the dashboard plots


def dashboard_study(storage: str, port: str) -> dict:
    """The one study of `storage` as optuna-dashboard, started by `make dashboard`, serves it over HTTP."""
    server = subprocess.Popen(
        ["make", "-s", "dashboard", f"STORAGE={storage}", f"PORT={port}"],
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    (summary,) = json.load(response)["study_summaries"]
                break
            except OSError:
                assert time.time() < deadline, "the dashboard did not start"
                time.sleep(0.5)
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}", timeout=5
        ) as response:
            return json.load(response)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_trial_wandb_runs_are_grouped_by_study_with_the_parameters_as_config(tmp_path):
    from lightning_gans.search.sweep import trial_loggers

    settings = SweepSettings(loss="dragan", trial=(f"--run.root={tmp_path}",))
    trial = optuna.create_study().ask()
    loggers = trial_loggers(settings, trial_protocol(settings), trial, {"lr": 1e-4, "gp_lambda": 3.0})
    wandb_init = loggers[1]._wandb_init
    assert wandb_init["group"] == "dragan-fashion_mnist-wide"
    assert wandb_init["name"] == "dragan-fashion_mnist-wide/trial-0000"
    assert wandb_init["config"]["lr"] == 1e-4 and wandb_init["config"]["gp_lambda"] == 3.0
    assert wandb_init["config"]["space"] == "wide" and wandb_init["config"]["trial"] == 0
    assert wandb_init["project"] == "lightning-gans" and wandb_init["entity"] is None and wandb_init["tags"] is None
    wandb = ("--run.wandb_entity=lab", "--run.wandb_group=paper", "--run.wandb_tags=[cpu, wide]")
    settings = SweepSettings(loss="dragan", trial=(f"--run.root={tmp_path}", "--run.wandb_project=gans", *wandb))
    wandb_init = trial_loggers(settings, trial_protocol(settings), trial, {"lr": 1e-4})[1]._wandb_init
    assert (wandb_init["project"], wandb_init["entity"], wandb_init["group"]) == ("gans", "lab", "paper")
    assert wandb_init["tags"] == ["cpu", "wide"]


def test_fit_takes_the_wandb_project_entity_group_and_tags(tmp_path):
    wandb = ("--run.wandb_project=gans", "--run.wandb_entity=lab", "--run.wandb_group=g", "--run.wandb_tags=[a, b]")
    cli = run(["--data.name=ring8", f"--run.root={tmp_path}", *wandb], run=False)
    wandb_init = cli.trainer.loggers[1]._wandb_init
    assert (wandb_init["project"], wandb_init["entity"], wandb_init["group"]) == ("gans", "lab", "g")
    assert wandb_init["tags"] == ["a", "b"] and wandb_init["name"] == "gan/version_0"


@pytest.mark.slow  # `make test` runs reruns in the demo's whole small study (test_demo.py)
def test_reruns_repeat_the_best_setting_once_per_seed(tmp_path, quick_domain_classifier):
    storage = str(tmp_path / "optuna.journal")
    run_sweep(storage, tmp_path, 2, 1)
    best = load(storage).best_trial
    reruns = [*sweep_args(storage, tmp_path, 2, 2), "--seeds", "3"]
    reruns[1] = "reruns"
    result = subprocess.run(reruns, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    study = load(storage, "wgan_gp-fashion_mnist-wide-reruns")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(study.trials) == len(complete) == 3
    assert sorted(t.user_attrs["rerun_seed"] for t in complete) == [0, 1, 2]
    assert all(t.params == best.params for t in complete)
    assert len({t.value for t in complete}) == 3  # different seeds, different runs
    assert study.user_attrs["rerun_of"] == "wgan_gp-fashion_mnist-wide"
    again = subprocess.run(reruns, capture_output=True, text=True, timeout=600)
    assert "nothing to do" in again.stdout and len(load(storage, "wgan_gp-fashion_mnist-wide-reruns").trials) == 3


@pytest.mark.slow  # two workers of a real sweep; `make test-all`
def test_gpus_start_one_worker_per_device_with_its_visible_devices(tmp_path, quick_domain_classifier):
    storage = str(tmp_path / "optuna.journal")
    run_sweep(storage, tmp_path, 2, 1, 4, "--gpus", "0,1")  # on a CPU machine the workers still train, on the CPU
    logs = tmp_path / "sweeps" / "wgan_gp-fashion_mnist-wide"
    for device in ("0", "1"):
        (log,) = logs.glob(f"worker-{device}-0.*.log")  # named after this launcher too
        assert f"(CUDA_VISIBLE_DEVICES={device}) joins" in log.read_text()
    assert_exact_study(load(storage), 2)


def test_an_orphan_killed_before_sampling_keeps_its_enqueued_setting(tmp_path):
    from lightning_gans.search.studies import HEARTBEAT_ATTR, recover_orphans

    storage = open_storage(str(tmp_path / "optuna.journal"))
    study = optuna.create_study(study_name="s", storage=storage.storage)
    study.enqueue_trial({"lr": 5e-5}, user_attrs={"authors_setting": True})
    trial = study.ask()  # claimed, then its worker died before any suggest_* call
    storage.storage.set_trial_user_attr(trial._trial_id, HEARTBEAT_ATTR, 0.0)
    with storage.claim_lock("s"):
        orphans = recover_orphans(study, storage, grace_seconds=60)
    assert [o.number for o in orphans] == [0]
    retry = study.get_trials(states=(TrialState.WAITING,))[0]
    assert retry.system_attrs["fixed_params"] == {"lr": 5e-5}
    assert retry.user_attrs == {"authors_setting": True, "retry_of": 0, "draws_of": 0, "attempt": 2}
    assert study.trials[0].state == TrialState.FAIL


def test_a_retry_of_an_orphan_killed_while_drawing_draws_what_the_orphan_would_have(tmp_path):
    from lightning_gans.search.studies import HEARTBEAT_ATTR, recover_orphans

    def study_in(path: Path) -> optuna.Study:
        return optuna.create_study(
            study_name="s", storage=open_storage(str(path)).storage, sampler=TrialSeededRandomSampler(seed=7)
        )

    undisturbed = study_in(tmp_path / "undisturbed.journal").ask()
    expected = trial_arguments(undisturbed, "wgan_gp", "wide")  # trial 0 drawn in full, nobody killed

    storage = open_storage(str(tmp_path / "optuna.journal"))
    study = study_in(tmp_path / "optuna.journal")
    orphan = study.ask()
    orphan.suggest_float("beta1", **distribution_bounds(undisturbed.distributions["beta1"]))  # killed after one draw
    storage.storage.set_trial_user_attr(orphan._trial_id, HEARTBEAT_ATTR, 0.0)
    with storage.claim_lock("s"):
        recover_orphans(study, storage, grace_seconds=60)
    retry = study.ask()  # trial 1: its own number would draw other values
    assert retry.number == 1 and retry.user_attrs["retry_of"] == 0
    assert trial_arguments(retry, "wgan_gp", "wide") == expected


def distribution_bounds(distribution: optuna.distributions.FloatDistribution) -> dict:
    return {"low": distribution.low, "high": distribution.high, "log": distribution.log}


# The reference evaluates every 5 epochs: CelebA 40 epochs of 162,000 images, Fashion-MNIST 20 of 50,000, batch 64.
@pytest.mark.parametrize(
    ("dataset", "every", "steps", "points"), [("celeba", 12_656, 101_250, 8), ("fashion_mnist", 3_906, 15_625, 4)]
)
def test_a_trial_evaluates_at_the_references_steps_for_its_dataset(dataset, every, steps, points, tmp_path):
    settings = SweepSettings(loss="ns_gan", dataset=dataset, trial=(f"--run.root={tmp_path}",))
    protocol = trial_protocol(settings)
    arguments = trial_run_arguments(settings, protocol, 0, {"lr": 1e-4}, seed=0)
    cli = run(arguments, cli_class=partial(TrialCLI, []), run=False)  # the trial's classes, built as run_trial does
    schedule = cli.config_init["evaluation"]
    evaluated = [step for step in range(1, steps + 1) if is_evaluation_step(step, schedule.every_n_steps, steps)]
    assert cli.model.hparams.steps == protocol.steps == steps
    assert evaluated == [every * k for k in range(1, points)] + [steps]  # 40 / 5 = 8 points; 20 / 5 = 4
    assert study_record(settings, protocol)["eval_every"] == every


def test_a_trial_writes_its_config_and_fit_retrains_it_exactly(tmp_path):
    storage, name = str(tmp_path / "optuna.journal"), "wgan_gp-ring8-wide"
    options = ("--dataset", "ring8", "--evaluation.every_n_steps=10")  # the mlp pair is ring8's own
    run_sweep(storage, tmp_path, 1, 1, 30, *options)
    (trial,) = load(storage, name).trials
    assert trial.user_attrs[STEP_RATE_ATTR] > 0  # timed over steps 5..25, for the launcher's projection
    directory = tmp_path / "sweeps" / name / "trial-0000" / "version_0"
    config = yaml.safe_load((directory / "config.yaml").read_text())
    assert {key: config["model"][key] for key in trial.params} == trial.params  # the trial's drawn values
    best = GAN.load_from_checkpoint(directory / "checkpoints" / "best.ckpt").eval()
    with torch.no_grad():  # the first points of the fixed evaluation noise, through the best generator
        points = best.generator(evaluation_noise(PREVIEW_SIZE, best.hparams.z_dim, best.gan_loss.prior)).double()
    preview = decode_points(trial.user_attrs[SAMPLE_POINTS_ATTR])
    assert preview.shape == (PREVIEW_SIZE, 2) and len({tuple(point) for point in preview}) > 10  # 30 steps: near 0
    assert abs(preview - points.numpy()).max() <= 5e-4 + 1e-9
    assert (config["model"]["steps"], config["evaluation"]["every_n_steps"], config["data"]["name"]) == (
        30,
        10,
        "ring8",
    )
    refit = subprocess.run(
        [str(SCRIPT), "fit", "--config", str(directory / "config.yaml"), "--run.root", str(tmp_path / "refit")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refit.returncode == 0, refit.stderr[-3000:]
    again = tmp_path / "refit" / "trial-0000" / "version_0"
    first, second = (torch.load(d / "checkpoints" / "best.ckpt", weights_only=False) for d in (directory, again))
    assert first["state_dict"].keys() == second["state_dict"].keys()
    assert all(torch.equal(first["state_dict"][key], second["state_dict"][key]) for key in first["state_dict"])
    losses = [pd.read_csv(d / "metrics.csv").filter(regex=r"^(d|g)[_/]|^step$") for d in (directory, again)]
    assert len(losses[0].columns) > 3
    pd.testing.assert_frame_equal(*losses)


def test_diverged_trials_keep_their_scores_count_as_tried_and_show_everywhere(tmp_path):
    """A real ring8 WGAN sweep: the authors' trial and three that diverge.

    lr 1e30 with clip 0.01: the critic stays bounded, so every loss of step 0 is finite, but the generator's first
    update makes its samples infinite: the step-1 evaluation finds them (the non-finite-sample rule). lr 1e30 with
    clip 1e30: the generator loss of step 0 follows a critic step that made every weight about 1e30. lr 1e6 with clip
    1e30: the step-1 evaluation scores, then the discriminator loss of step 1 is not finite.
    """
    storage, name = str(tmp_path / "optuna.journal"), "wgan-ring8-wide"
    trial_options = ("--model.steps=6", "--evaluation.every_n_steps=1", "--evaluation.samples=200")
    settings = SweepSettings(loss="wgan", dataset="ring8", storage=storage, trial=trial_options)
    study = open_study(settings, trial_protocol(settings), open_storage(storage))  # the authors' trial is trial 0
    for lr, clip in ((1e30, 0.01), (1e30, 1e30), (1e6, 1e30)):
        study.enqueue_trial({"lr": lr, "beta1": 0.5, "n_disc": 1, "d_batch_norm": False, "clip": clip})
    options = ("--dataset", "ring8", "--loss", "wgan", *trial_options, "--run.wandb=false")
    result = subprocess.run(
        [str(SCRIPT), "sweep", "--trials", "4", "--storage", storage, "--run.root", str(tmp_path), *options],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"study '{name}': 4 complete (3 of them diverged), 0 failed, 0 pruned" in result.stdout
    authors, samples, loss, after = load(storage, name).trials
    assert [trial.state for trial in (authors, samples, loss, after)] == [TrialState.COMPLETE] * 4
    assert "diverged_at" not in authors.user_attrs and len(authors.user_attrs["evaluations"]) == 6
    assert SAMPLE_POINTS_ATTR in authors.user_attrs and SAMPLE_POINTS_ATTR in after.user_attrs  # scored: a preview
    assert SAMPLE_POINTS_ATTR not in samples.user_attrs and SAMPLE_POINTS_ATTR not in loss.user_attrs
    # Before any evaluation: the worst value of a maximised objective, tried and never best.
    for trial, step, what in ((samples, 1, "a generated sample"), (loss, 0, "the generator loss")):
        assert trial.value == -math.inf and "evaluations" not in trial.user_attrs
        assert (trial.user_attrs["diverged_at"], trial.user_attrs["divergence"]) == (step, f"{what} is not finite")
        assert trial.user_attrs["objective"] == "eval/modes_points_n200"  # known before the first evaluation
    # After one: that evaluation's score is the trial's, the reference's minimum over its checkpoints.
    (first,) = after.user_attrs["evaluations"]
    assert first["step"] == 1 and after.value == first["eval/modes_points_n200"] == after.intermediate_values[1]
    assert after.user_attrs["diverged_at"] == 1
    assert after.user_attrs["divergence"] == "the discriminator loss is not finite"
    assert resolved_path(storage, after.user_attrs["best_checkpoint"]).is_file()
    report = subprocess.run([str(SCRIPT), "report", "--storage", storage], capture_output=True, text=True, timeout=120)
    assert f"| {name} | 4 | 3 | 2 | 0 |" in report.stdout  # complete, diverged, of them unscored, failed
    detail = dashboard_study(storage, port="18432")
    assert [trial["values"][0] for trial in detail["trials"]] == [authors.value, "-inf", "-inf", after.value]


@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgresql"])
def test_unscored_values_survive_every_storage_a_sweep_can_use(tmp_path, kind):
    """+inf and -inf (trials that diverged before any evaluation) read back exactly from every kind of storage."""
    if kind == "postgresql" and not POSTGRES:
        pytest.skip("set LIGHTNING_GANS_TEST_POSTGRES (CI starts a server with .ci/postgres.sh)")
    url = {"journal": str(tmp_path / "optuna.journal"), "sqlite": f"sqlite:///{tmp_path / 'optuna.db'}"}.get(
        kind, POSTGRES
    )
    name = f"unscored-{uuid.uuid4().hex[:12]}"  # the server outlives test runs
    study = optuna.create_study(study_name=name, storage=open_storage(url).storage)
    for value in (math.inf, 12.5, -math.inf):
        study.tell(study.ask(), value)
    reloaded = optuna.load_study(study_name=name, storage=open_storage(url).storage)
    assert [trial.value for trial in reloaded.trials] == [math.inf, 12.5, -math.inf]
    assert reloaded.best_value == -math.inf and all(t.state == TrialState.COMPLETE for t in reloaded.trials)
    optuna.delete_study(study_name=name, storage=open_storage(url).storage)


@needs_postgres
def test_a_password_in_the_storage_url_is_never_printed_echoed_or_on_a_workers_command_line(tmp_path):
    secret = "S3cret-do-not-print"
    url = POSTGRES.replace("postgresql://postgres@", f"postgresql://postgres:{secret}@")
    assert secret in url  # the CI's server trusts local connections, so the password is accepted and unused
    study = f"pw-{uuid.uuid4().hex[:12]}"
    variables = ["LOSS=wgan", "DATASET=ring8", "STEPS=4", "EVAL_SAMPLES=200", "TRIALS=1", f"STUDY={study}"]
    sweep = subprocess.Popen(
        ["make", "-s", "sweep", *variables, f"STORAGE={url}"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "WANDB_MODE": "offline"},
    )
    workers_seen = set()
    while sweep.poll() is None:
        for process in Path("/proc").iterdir():
            try:
                command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "sweep-worker" in command:
                workers_seen.add(process.name)
                assert secret not in command
        time.sleep(0.05)
    output = sweep.stdout.read()
    assert sweep.returncode == 0, output[-3000:]
    assert workers_seen, "no worker was seen running"
    assert secret not in output and "postgresql://postgres:***@" in output
    settings_file = Path(__file__).resolve().parents[1] / "runs" / "sweeps" / study / "sweep.yaml"
    assert secret not in settings_file.read_text()
    shutil.rmtree(settings_file.parent)


def test_an_orphan_is_retried_until_its_attempts_run_out(tmp_path):
    from lightning_gans.search.studies import HEARTBEAT_ATTR, recover_orphans

    storage = open_storage(str(tmp_path / "optuna.journal"))
    study = optuna.create_study(study_name="s", storage=storage.storage)
    study.enqueue_trial({"lr": 5e-5})
    for attempt in (1, 2, 3):  # each time the worker dies, say killed for running out of memory
        trial = study.ask()
        assert trial.user_attrs.get("attempt", 1) == attempt and trial.params == {} and trial.number == attempt - 1
        storage.storage.set_trial_user_attr(trial._trial_id, HEARTBEAT_ATTR, 0.0)
        with storage.claim_lock("s"):
            recover_orphans(study, storage, grace_seconds=60)
    states = [trial.state for trial in study.trials]
    assert states == [TrialState.FAIL] * 3  # the third death is the last: nothing waits
    assert (
        study.trials[2].user_attrs["fail_reason"]
        == "no heartbeat for 60 s: its worker died; attempt 3 of 3: not retried"
    )


def test_an_exception_is_retried_once_and_a_repeat_of_it_stays_failed(tmp_path):
    from lightning_gans.search.studies import fail_and_retry

    storage = open_storage(str(tmp_path / "optuna.journal"))
    study = optuna.create_study(study_name="s", storage=storage.storage)
    study.enqueue_trial({"lr": 5e-5}, user_attrs={"authors_setting": True})
    failure = "RuntimeError: out of luck"
    for expected_retry in (True, False):  # the first failure is retried; the same failure on the retry is final
        trial = storage.storage.get_trial(study.ask()._trial_id)
        assert fail_and_retry(study, storage, trial, failure, failure) is expected_retry
    first, retry = study.trials
    assert first.user_attrs["fail_reason"] == failure and "previous_failure" not in first.user_attrs
    assert retry.user_attrs["previous_failure"] == failure and retry.user_attrs["attempt"] == 2
    assert retry.system_attrs["fixed_params"] == {"lr": 5e-5} and retry.user_attrs["authors_setting"] is True
    assert retry.user_attrs["fail_reason"].endswith("so it is the trial's own failure: not retried")
    assert [trial.state for trial in study.trials] == [TrialState.FAIL, TrialState.FAIL]

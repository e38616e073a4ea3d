"""`lightning-gans sweep`: validates a sweep, creates its study, starts the worker processes and watches them.

One worker process per GPU (CUDA_VISIBLE_DEVICES), `--workers` per GPU for small models, or `--workers`
processes on the CPU. Workers share the study through its storage only, so more machines join by running the
same command against the same PostgreSQL URL. The progress bar counts complete trials in the storage, so it
includes every machine's work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

from optuna.trial import TrialState
from tqdm.auto import tqdm

from .defaults import EVALUATION_SAMPLES, GRACE_SECONDS, HEARTBEAT_SECONDS
from .search import SPACES
from .studies import StorageError, open_storage, redact, state_counts
from .sweep import DIVERGED_AT_ATTR, PRUNERS, SAMPLERS, SweepSettings, open_reruns, open_study, run_worker

POLL_SECONDS = 2.0


def parse_gpus(text: str | None) -> list[str]:
    if not text:
        return []
    gpus = [part.strip() for part in text.split(",") if part.strip()]
    bad = [gpu for gpu in gpus if not gpu.isdigit()]
    if bad:
        raise ValueError(f"GPUS={text!r} is not allowed; give GPU indices separated by commas, e.g. 0,1,2,3")
    return gpus


def sweep_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lightning-gans sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--loss", required=True)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--space", default="wide", help=f"one of {', '.join(SPACES)}")
    parser.add_argument("--trials", type=int, default=None, help="complete trials wanted (default 100 wide, 50 narrow)")
    parser.add_argument("--steps", type=int, default=None, help="D steps per trial (default: the paper's)")
    parser.add_argument("--study", default=None, help="study name (default <loss>-<dataset>-<space>)")
    parser.add_argument("--storage", default=None, help="journal file path (default runs/optuna.journal) or RDB URL")
    parser.add_argument("--gpus", default=None, help="GPU indices, e.g. 0,1,2,3: one worker per GPU")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per GPU (or on the CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-samples", type=int, default=EVALUATION_SAMPLES)
    parser.add_argument("--eval-every", type=int, default=None, help="evaluation interval in D steps")
    parser.add_argument("--extractor", default="auto", choices=["auto", "inception", "domain"])
    parser.add_argument("--backbone", default="infogan")
    parser.add_argument(
        "--objective", default="auto", help="what a trial is judged by (auto: FD; polygon F1; mixture modes)"
    )
    parser.add_argument("--sampler", default="random", help=f"one of {', '.join(SAMPLERS)}")
    parser.add_argument("--pruner", default="none", help=f"one of {', '.join(PRUNERS)}")
    parser.add_argument("--root", default="runs")
    parser.add_argument("--no-wandb", action="store_true", help="log trials to CSV only")
    parser.add_argument("--precision", default="32-true", help="trainer precision: 32-true (the paper's), bf16-mixed")
    parser.add_argument("--channels-last", action="store_true", help="channels-last layout for convolutions")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks")
    parser.add_argument("--heartbeat-seconds", type=float, default=HEARTBEAT_SECONDS)
    parser.add_argument(
        "--grace-seconds", type=float, default=GRACE_SECONDS, help="heartbeat age after which a trial is orphaned"
    )
    return parser


def settings_from(options: argparse.Namespace) -> SweepSettings:
    values = {
        "loss": options.loss,
        "dataset": options.dataset,
        "space": options.space,
        "trials": options.trials,
        "steps": options.steps,
        "study": options.study,
        "storage": options.storage,
        "seed": options.seed,
        "eval_samples": options.eval_samples,
        "extractor": options.extractor,
        "backbone": options.backbone,
        "objective": options.objective,
        "sampler": options.sampler,
        "pruner": options.pruner,
        "root": options.root,
        "wandb": not options.no_wandb,
        "precision": options.precision,
        "channels_last": options.channels_last,
        "compile": options.compile,
        "heartbeat_seconds": options.heartbeat_seconds,
        "grace_seconds": options.grace_seconds,
    }
    if options.eval_every is not None:
        values["eval_every"] = options.eval_every
    return SweepSettings(**values)


def sweep_command(arguments: list[str]) -> int:
    parser = sweep_parser()
    options = parser.parse_args(arguments)
    try:
        settings = settings_from(options)
        gpus = checked_devices(options)
        storage = open_storage(settings.storage)
        study = open_study(settings, storage)
    except (ValueError, StorageError) as error:
        parser.error(str(error))
    return launch(settings, storage.url, study, gpus, options.workers)


def reruns_command(arguments: list[str]) -> int:
    """The paper's third phase: the best setting of a study re-run with seeds 0..SEEDS-1, in its own study."""
    parser = sweep_parser()
    parser.prog = "lightning-gans reruns"
    parser.add_argument("--seeds", type=int, default=50, help="re-run the best setting with seeds 0..SEEDS-1")
    options = parser.parse_args(arguments)
    try:
        if options.seeds < 1:
            raise ValueError(f"SEEDS={options.seeds} is not allowed; it must be an integer >= 1")
        source = settings_from(options)
        settings = replace(source, study=f"{source.study_name}-reruns", trials=options.seeds, reruns=True)
        gpus = checked_devices(options)
        storage = open_storage(settings.storage)
        study = open_reruns(settings, storage, source.study_name, options.seeds)
    except (ValueError, StorageError) as error:
        parser.error(str(error))
    return launch(settings, storage.url, study, gpus, options.workers)


def checked_devices(options: argparse.Namespace) -> list[str]:
    if options.workers < 1:
        raise ValueError(f"WORKERS={options.workers} is not allowed; it must be an integer >= 1")
    return parse_gpus(options.gpus)


def launch(settings: SweepSettings, url: str, study, gpus: list[str], per_device: int) -> int:
    settings.run_root.mkdir(parents=True, exist_ok=True)
    print(
        f"study {settings.study_name!r} in {redact(url)}: {settings.target_trials} trials of "
        f"{settings.training_steps} D steps, {settings.space} space, {settings.eval_samples} evaluation samples"
    )
    print(f"trial logs and checkpoints: {settings.run_root}/")
    print(f"watch it: make dashboard STORAGE={url}")
    counts = state_counts(study)
    finished = counts[TrialState.COMPLETE] >= settings.target_trials or (
        settings.reruns and not counts[TrialState.WAITING] and not counts[TrialState.RUNNING]
    )
    if finished:
        print(f"the study already has {counts[TrialState.COMPLETE]} complete trials; nothing to do")
        return 0
    return watch(study, settings, start_workers(settings, gpus, per_device))


def start_workers(settings: SweepSettings, gpus: list[str], per_device: int) -> list[tuple[subprocess.Popen, Path]]:
    payload = json.dumps(asdict(settings))
    devices = gpus or [None]
    # CPU workers share the cores instead of each starting one thread per core.
    cpu_threads = str(max(1, (os.cpu_count() or 1) // per_device))
    workers = []
    for device in devices:
        for index in range(per_device):
            env = dict(os.environ)
            if device is not None:
                env["CUDA_VISIBLE_DEVICES"] = device
            else:
                env.setdefault("OMP_NUM_THREADS", cpu_threads)
            log = settings.run_root / f"worker-{device if device is not None else 'cpu'}-{index}.log"
            handle = open(log, "a")  # noqa: SIM115 (kept open for the child's lifetime)
            command = [sys.executable, "-m", "lightning_gans.cli", "sweep-worker", payload]
            workers.append((subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT), log))
    return workers


def watch(study, settings: SweepSettings, workers: list[tuple[subprocess.Popen, Path]]) -> int:
    """A sweep-level progress bar (complete trials in the storage, with ETA) until every worker has exited."""
    counts = state_counts(study)
    with tqdm(total=settings.target_trials, initial=counts[TrialState.COMPLETE], desc="trials", unit="trial") as bar:
        while any(process.poll() is None for process, _ in workers):
            time.sleep(POLL_SECONDS)
            counts = state_counts(study)
            bar.n = min(counts[TrialState.COMPLETE], settings.target_trials)
            bar.set_postfix(running=counts[TrialState.RUNNING], failed=counts[TrialState.FAIL], refresh=False)
            bar.refresh()
    failed = [(process.returncode, log) for process, log in workers if process.returncode != 0]
    for code, log in failed:
        print(f"a worker exited with status {code}; its log: {log}", file=sys.stderr)
    counts = state_counts(study)
    diverged = sum(DIVERGED_AT_ATTR in trial.user_attrs for trial in study.get_trials(states=(TrialState.COMPLETE,)))
    print(
        f"study {settings.study_name!r}: {counts[TrialState.COMPLETE]} complete ({diverged} of them diverged), "
        f"{counts[TrialState.FAIL]} failed, {counts[TrialState.PRUNED]} pruned"
    )
    return 1 if failed else 0


def sweep_worker_command(arguments: list[str]) -> int:
    """Internal: one worker process (started by `sweep`), settings as JSON."""
    values = json.loads(arguments[0])
    known = {field.name for field in fields(SweepSettings)}
    run_worker(SweepSettings(**{key: value for key, value in values.items() if key in known}))
    return 0

"""`lightning-gans sweep`: validates a sweep, creates its study, starts the worker processes and watches them.

One worker process per GPU (CUDA_VISIBLE_DEVICES), `--workers` per GPU for small models, or `--workers`
processes on the CPU. Workers share the study through its storage only, so more machines join by running the
same command against the same PostgreSQL URL. The progress bar counts complete trials in the storage, so it
includes every machine's work.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import torch
from jsonargparse import ArgumentParser, Namespace
from jsonargparse.typing import PositiveInt
from optuna.trial import TrialState
from tqdm.auto import tqdm

from ..atomic import atomic_path
from ..evaluation.schedule import is_evaluation_step
from .projection import Projection, project
from .studies import StorageError, open_storage, redact, retried_count, state_counts
from .summary import sweep_summary
from .sweep import (
    RERUN_OF_ATTR,
    RUN_GROUPS,
    SweepSettings,
    TrialProtocol,
    open_reruns,
    open_study,
    trial_protocol,
)
from .worker import Interrupted, run_worker

POLL_SECONDS = 2.0
STOP_SECONDS = 60.0
"""How long an interrupted launcher waits for a worker to record its trial before killing it."""
STORAGE_VARIABLE = "LIGHTNING_GANS_STORAGE"
"""How a worker learns the storage URL: the environment, not its command line, where `ps` would show a password."""
SETTINGS_FILE = "sweep.yaml"


def parse_gpus(text: str | None) -> list[str]:
    if not text:
        return []
    gpus = [part.strip() for part in text.split(",") if part.strip()]
    bad = [gpu for gpu in gpus if not gpu.isdigit()]
    if bad:
        raise ValueError(f"GPUS={text!r} is not allowed; give GPU indices separated by commas, e.g. 0,1,2,3")
    return gpus


def sweep_parser(prog: str = "lightning-gans sweep") -> ArgumentParser:
    """The study's settings (SweepSettings, typed and documented there) and where its workers run."""
    parser = ArgumentParser(
        prog=prog,
        description=__doc__.splitlines()[0],
        epilog=f"Arguments of `fit` (--config, --{'.*, --'.join(RUN_GROUPS)}.*) go to every trial, "
        "e.g. --model.steps=300 --evaluation.samples=2000 --run.wandb=false.",
    )
    parser.add_class_arguments(SweepSettings, as_group=False, skip={"trial"})  # `trial` is what the epilog says
    parser.add_argument("--gpus", type=str | None, default=None, help="GPU indices, e.g. 0,1,2,3: one worker per GPU")
    parser.add_argument("--workers", type=PositiveInt, default=1, help="worker processes per GPU (or on the CPU)")
    return parser


def split_trial_arguments(arguments: list[str]) -> tuple[list[str], list[str]]:
    """The sweep's own arguments, and those every trial's `fit` takes (as `--name=value`, for SweepSettings.trial)."""
    own: list[str] = []
    trial: list[str] = []
    index = 0
    while index < len(arguments):
        token = arguments[index]
        index += 1
        if not is_trial_argument(token.split("=", 1)[0].removeprefix("--")):
            own.append(token)
        elif "=" in token or index == len(arguments) or arguments[index].startswith("--"):
            trial.append(token)
        else:
            trial.append(f"{token}={arguments[index]}")
            index += 1
    return own, trial


def is_trial_argument(name: str) -> bool:
    return name == "config" or ("." in name and name.split(".")[0] in RUN_GROUPS)


def parse_sweep(parser: ArgumentParser, arguments: list[str]) -> tuple[Namespace, SweepSettings]:
    own, trial = split_trial_arguments(arguments)
    config = parser.parse_args(own)
    config.trial = trial
    return config, settings_from(config)


def settings_from(config: Namespace) -> SweepSettings:
    return SweepSettings(**{field.name: config[field.name] for field in fields(SweepSettings)})


def sweep_command(arguments: list[str]) -> int:
    parser = sweep_parser()
    config, settings = checked(parser, lambda: parse_sweep(parser, arguments))
    protocol = checked(parser, lambda: trial_protocol(settings))
    storage = checked(parser, lambda: open_storage(settings.storage))
    study = checked(parser, lambda: open_study(settings, protocol, storage))
    return launch(parser, config, settings, protocol, storage.url, study)


def reruns_command(arguments: list[str]) -> int:
    """The paper's third phase: the best setting of a study re-run with seeds 0..SEEDS-1, in its own study."""
    parser = sweep_parser("lightning-gans reruns")
    parser.add_argument("--seeds", type=PositiveInt, default=50, help="re-run the best setting with seeds 0..SEEDS-1")
    config, source = checked(parser, lambda: parse_sweep(parser, arguments))
    settings = replace(source, study=f"{source.study_name}-reruns", trials=config.seeds)
    config.study, config.trials = settings.study, settings.trials
    protocol = checked(parser, lambda: trial_protocol(settings))
    storage = checked(parser, lambda: open_storage(settings.storage))
    study = checked(parser, lambda: open_reruns(settings, protocol, storage, source.study_name, config.seeds))
    return launch(parser, config, settings, protocol, storage.url, study)


def checked(parser: ArgumentParser, step):
    """A bad value (a name, a count, a storage that cannot be reached) is a usage error, before any work is done."""
    try:
        return step()
    except (ValueError, StorageError) as error:
        parser.error(str(error))


def launch(
    parser: ArgumentParser, config: Namespace, settings: SweepSettings, protocol: TrialProtocol, url: str, study
) -> int:
    gpus = checked(parser, lambda: parse_gpus(config.gpus))
    protocol.root.mkdir(parents=True, exist_ok=True)
    print(
        f"study {settings.study_name!r} in {redact(url)}: {settings.target_trials} trials of "
        f"{protocol.steps} D steps, {settings.space} space, {protocol.eval_samples} evaluation samples"
    )
    print(f"trial logs and checkpoints: {protocol.root}/")
    print(f"watch it: make dashboard STORAGE={redact(url)}")
    counts = state_counts(study)
    finished = counts[TrialState.COMPLETE] >= settings.target_trials or (
        RERUN_OF_ATTR in study.user_attrs and not counts[TrialState.WAITING] and not counts[TrialState.RUNNING]
    )
    if finished:
        print(f"the study already has {counts[TrialState.COMPLETE]} complete trials; nothing to do")
        return 0
    workers_file = write_worker_settings(parser, config, protocol.root)
    workers = start_workers(workers_file, url, protocol.root, gpus, config.workers)
    return watch(study, settings, protocol, workers, redact(url))


def write_worker_settings(parser: ArgumentParser, config: Namespace, root: Path) -> Path:
    """The study's settings as the parser dumps them, for workers to parse with the same parser; no storage URL."""
    worker_config = config.clone()
    worker_config.storage = None
    for launcher_only in ("gpus", "workers", "seeds"):
        worker_config.pop(launcher_only, None)
    path = root / SETTINGS_FILE
    with atomic_path(path) as partial:
        partial.write_text(worker_parser().dump(worker_config))
    return path


def worker_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning-gans sweep-worker")
    parser.add_class_arguments(SweepSettings, as_group=False)
    return parser


def start_workers(
    settings_file: Path, url: str, root: Path, gpus: list[str], per_device: int
) -> list[tuple[subprocess.Popen, Path]]:
    devices = gpus or [None]
    # CPU workers share the cores instead of each starting one thread per core.
    cpu_threads = str(max(1, (os.cpu_count() or 1) // per_device))
    launcher = f"{socket.gethostname()}-{os.getpid()}"  # two launchers of one study never share a log
    workers = []
    for device in devices:
        for index in range(per_device):
            env = {**os.environ, STORAGE_VARIABLE: url}
            if device is not None:
                env["CUDA_VISIBLE_DEVICES"] = device
            else:
                env.setdefault("OMP_NUM_THREADS", cpu_threads)
            log = root / f"worker-{device if device is not None else 'cpu'}-{index}.{launcher}.log"
            handle = open(log, "a")  # noqa: SIM115 (kept open for the child's lifetime)
            command = [sys.executable, "-m", "lightning_gans.cli", "sweep-worker", str(settings_file)]
            workers.append((subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT), log))
    return workers


class StopRequest:
    """Ctrl-C and SIGTERM to the launcher, as a flag its watch loop reads between polls.

    A handler that raised instead (KeyboardInterrupt) could land anywhere, for instance inside the progress bar's
    write, leaving its lock held: the launcher then hung, and its workers trained on, unwatched.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = self.signum or signum


def watch(
    study, settings: SweepSettings, protocol: TrialProtocol, workers: list[tuple[subprocess.Popen, Path]], storage: str
) -> int:
    """A sweep-level progress bar (complete trials in the storage, with ETA) until every worker has exited.

    The projected wall time is printed as soon as a trial has been timed, and again when the first trial finishes
    (search/projection.py). Ctrl-C or SIGTERM to the launcher is passed on to its workers, which fail their trials as
    interrupted and enqueue them again; the launcher waits for them and exits with status 130, so no worker is left
    claiming trials.
    """
    counts = state_counts(study)
    shown: Projection | None = None
    points = range(1, protocol.steps + 1)
    evaluations = sum(is_evaluation_step(step, protocol.eval_every, protocol.steps) for step in points)
    stop = StopRequest()
    with tqdm(total=settings.target_trials, initial=counts[TrialState.COMPLETE], desc="trials", unit="trial") as bar:
        while stop.signum is None and any(process.poll() is None for process, _ in workers):
            time.sleep(POLL_SECONDS)  # a signal cuts it short only by its handler's flag, read below
            counts, retried = state_counts(study), retried_count(study)
            shown = reprojected(study, settings, protocol.steps, evaluations, len(workers), counts, shown)
            bar.n = min(counts[TrialState.COMPLETE], settings.target_trials)
            failed = counts[TrialState.FAIL] - retried
            bar.set_postfix(running=counts[TrialState.RUNNING], failed=failed, retried=retried, refresh=False)
            bar.refresh()
    if stop.signum is not None:
        return stop_workers(study, settings, workers)
    failed = [(process.returncode, log) for process, log in workers if process.returncode != 0]
    for code, log in failed:
        print(f"a worker exited with status {code}; its log: {log}", file=sys.stderr)
    print(sweep_summary(study, storage))
    return 1 if failed else 0


def reprojected(
    study,
    settings: SweepSettings,
    steps: int,
    evaluations: int,
    workers: int,
    counts: dict[TrialState, int],
    shown: Projection | None,
) -> Projection | None:
    """Prints a projection when it is the first, or the first from a finished trial; returns the one shown."""
    if shown is not None and shown.from_finished:
        return shown
    remaining = settings.target_trials - counts[TrialState.COMPLETE]
    pack = settings.pack_size("cuda" if torch.cuda.is_available() else "cpu")
    projection = project(study.get_trials(deepcopy=False), remaining, workers, steps, evaluations, pack)
    if projection is None or remaining <= 0 or (shown is not None and not projection.from_finished):
        return shown
    tqdm.write(projection.describe())
    return projection


def stop_workers(study, settings: SweepSettings, workers: list[tuple[subprocess.Popen, Path]]) -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not leave workers behind
    running = [process for process, _ in workers if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGINT)
    for process in running:
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()  # its trial becomes an orphan, retried once its heartbeat is stale
            process.wait()
    counts = state_counts(study)
    print(
        f"interrupted: {len(running)} workers stopped; study {settings.study_name!r} has {counts[TrialState.COMPLETE]} "
        f"complete trials, {counts[TrialState.WAITING]} waiting to be (re)tried by the next run of the same command",
        file=sys.stderr,
    )
    return 130


def sweep_worker_command(arguments: list[str]) -> int:
    """Internal: one worker process (started by `sweep`), given the settings file the launcher wrote."""
    config = worker_parser().parse_path(arguments[0])
    config.storage = os.environ[STORAGE_VARIABLE]
    try:
        run_worker(settings_from(config))
    except Interrupted as interruption:
        return 128 + interruption.signum  # the shell's status for "killed by this signal"
    return 0

"""A sweep worker: claims trials of its study, trains them (one by one, or K at a time as packs), tells their results.

Many workers, on one machine or many, share a study through its storage: each claims trials under the claim lock
(search/studies.py), stamps them with heartbeats while it trains them, and records each outcome, so a worker that
dies leaves trials that another retries, and a stopped worker's trial is retried with the same parameters.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from .packs import Outcome, structure_key, train_one_pack
from .studies import Heartbeat, StudyStorage, claim_trial, fail_and_retry, first_line, open_storage, state_counts
from .sweep import RERUN_OF_ATTR, SweepSettings, TrialProtocol, open_study, run_trial, trial_protocol


class Interrupted(BaseException):
    """The worker was told to stop (SIGINT, SIGTERM): not a failure of the trial it was running.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """SIGINT and SIGTERM stop a worker cleanly: mid-trial they raise Interrupted, between trials the loop ends.

    Lightning turns Ctrl-C into SystemExit(1) and SIGTERM into SIGTERMException; raising our own exception from the
    handler (Lightning calls the handler it found before its own) keeps what happened, so the trial is recorded as
    interrupted and retried rather than as an error.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.training = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.received = self.received or signum
        if self.training:
            self.training = False
            raise Interrupted(signum)

    @staticmethod
    def ignore() -> None:
        """Further signals wait: recording the interrupted trial must finish."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


def run_worker(settings: SweepSettings) -> int:
    """Claims and runs trials until the study has `target_trials` complete ones; returns how many this worker ran.

    In a rerun study (see `open_reruns`) every trial was enqueued up front, and the worker runs only those. SIGINT or
    SIGTERM stop it: a trial it was running is failed as interrupted and retried with the same parameters by the
    next worker that claims one (see `tell`). With `pack` > 1 it trains trials of one network structure K at a time
    as packs (search/packs.py, `HeldTrials`).
    """
    signals = StopSignals()
    protocol = trial_protocol(settings)
    storage = open_storage(settings.storage)
    study = open_study(settings, protocol, storage)
    reruns = RERUN_OF_ATTR in study.user_attrs
    devices = os.environ.get("CUDA_VISIBLE_DEVICES", "all visible")
    print(
        f"worker {socket.gethostname()}:{os.getpid()} (CUDA_VISIBLE_DEVICES={devices}) joins {study.study_name}",
        flush=True,
    )
    pack = settings.pack_size(worker_device_type(protocol))

    def claim() -> optuna.Trial | None:
        trial = claim_trial(study, storage, settings.target_trials, settings.grace_seconds, reruns)
        if trial is not None:
            trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        return trial

    ran = 0
    while signals.received is None:
        ran += train_claimable(study, storage, settings, protocol, pack, signals, claim)
        if signals.received is not None:
            break
        counts = state_counts(study)
        if counts[TrialState.COMPLETE] >= settings.target_trials or (reruns and not counts[TrialState.RUNNING]):
            return ran
        wait_for_running_trials(settings)  # a running trial may still fail and need a replacement
    raise Interrupted(signals.received)


PACK_ATTR = "pack"
"""The trial numbers a trial trained with, itself included (absent for a trial that trained alone)."""
HELD_PACKS = 2
"""How many packs' worth of claimed trials a worker holds while it looks for K of one structure: with the two
structures a search space draws (discriminator batch norm on or off), 2K - 1 trials always hold K of one."""


class HeldTrials:
    """Trials a worker has claimed and not yet trained, grouped by network structure, each with its heartbeat.

    A pack holds one structure (search/packs.py), and a search draws structures at random, so K trials claimed
    together train as two packs of about K/2, one after the other, each at nearly the cost of a full pack: on the
    mixtures that was about half the throughput of full packs. Holding claimed trials until K of one structure are in
    hand keeps the packs full; a partial pack trains only when the study has nothing more to claim.
    """

    def __init__(self, storage: StudyStorage, settings: SweepSettings) -> None:
        self.storage, self.settings = storage, settings
        self.groups: dict[tuple[Any, ...], list[optuna.Trial]] = {}
        self.heartbeats: dict[int, Heartbeat] = {}

    def __len__(self) -> int:
        return sum(len(group) for group in self.groups.values())

    def add(self, trial: optuna.Trial) -> None:
        self.groups.setdefault(structure_key(trial, self.settings), []).append(trial)
        heartbeat = Heartbeat(self.storage, trial._trial_id, self.settings.heartbeat_seconds)
        self.heartbeats[trial._trial_id] = heartbeat.__enter__()

    def full(self, pack: int) -> list[optuna.Trial] | None:
        return next((group for group in self.groups.values() if len(group) >= pack), None)

    def largest(self) -> list[optuna.Trial] | None:
        """The biggest group, the earliest claimed among equals; None when nothing is held."""
        return max(self.groups.values(), key=len, default=None)

    def release(self, group: list[optuna.Trial]) -> None:
        """The group was told: its trials leave the hold and their heartbeats stop."""
        for key, held in list(self.groups.items()):
            if held is group:
                del self.groups[key]
        for trial in group:
            self.heartbeats.pop(trial._trial_id).__exit__(None, None, None)

    def retry_all(self, study: optuna.Study, reason: str) -> None:
        """The worker stops: every held trial is failed and enqueued again with the same parameters."""
        if not len(self):
            return
        with self.storage.claim_lock(study.study_name):
            for group in self.groups.values():
                for trial in group:
                    frozen = self.storage.storage.get_trial(trial._trial_id)
                    fail_and_retry(study, self.storage, frozen, reason, None, False)
        for group in list(self.groups.values()):
            self.release(group)


UNSTARTED = "claimed, but its worker stopped before its pack started; retried with the same parameters"


def next_group(
    held: HeldTrials, pack: int, signals: StopSignals, claim: Callable[[], optuna.Trial | None]
) -> list[optuna.Trial] | None:
    """The next trials to train together: a full pack of one structure as soon as one is held, else, once nothing
    more can be claimed (or the hold is full), the largest group; None when nothing is held or claimable."""
    while (group := held.full(pack)) is None and len(held) < HELD_PACKS * pack and signals.received is None:
        trial = claim()
        if trial is None:
            break
        held.add(trial)
    return group or held.largest()


def train_claimable(
    study: optuna.Study,
    storage: StudyStorage,
    settings: SweepSettings,
    protocol: TrialProtocol,
    pack: int,
    signals: StopSignals,
    claim: Callable[[], optuna.Trial | None],
) -> int:
    """Claims (through `claim`) and trains trials until nothing more can be claimed; returns how many it told.

    Each group's outcomes are told as soon as it ends, so a stop or an error in a later pack never costs an earlier
    one; trials it holds but never started are failed and enqueued again with the same parameters, not left RUNNING
    for the heartbeat check to find.
    """

    def train(group: list[optuna.Trial]) -> list[Outcome]:
        """A group of one trains as a lone trial: the same result, bit for bit what `fit` on its config gives."""
        if len(group) == 1:
            return [run_trial(group[0], settings, protocol)]
        for trial in group:
            trial.set_user_attr(PACK_ATTR, [member.number for member in group])
        return train_one_pack(group, settings, protocol)

    held = HeldTrials(storage, settings)
    told = 0
    try:
        while signals.received is None and (group := next_group(held, pack, signals, claim)) is not None:
            try:
                tell(study, storage, group, train, signals)
            finally:
                held.release(group)
            told += len(group)
    except BaseException:
        signals.ignore()
        held.retry_all(study, UNSTARTED)
        raise
    held.retry_all(study, UNSTARTED)  # a signal ended the loop with trials still held
    return told


def worker_device_type(protocol: TrialProtocol) -> str:
    """Where this worker's trials train: on the CPU when the trial config says so or no GPU is visible."""
    accelerator = str(protocol.config.get("trainer.accelerator", "auto"))
    return "cuda" if accelerator != "cpu" and torch.cuda.is_available() else "cpu"


def tell(
    study: optuna.Study,
    storage: StudyStorage,
    trials: list[optuna.Trial],
    train: Callable[[list[optuna.Trial]], list[Outcome]],
    signals: StopSignals,
) -> None:
    """Runs trials (one, or a pack) and records each outcome: a value (divergence too), PRUNED, or FAIL and a retry.

    An interruption (Interrupted) fails every trial with a reason a person can read and enqueues it again with the
    same parameters, under the retry rules of `studies.fail_and_retry`, and the worker stops. An exception fails the
    trials it ended (all of them when it ended the training itself) the same way, and then the worker stops, as
    before (an error that repeats stays FAIL when the retry meets it again).
    """
    signals.training = True
    try:
        outcomes = train(trials)
    except Interrupted as interruption:
        signals.ignore()
        reason = f"interrupted by {interruption} before it finished; retried with the same parameters"
        with storage.claim_lock(study.study_name):
            for trial in trials:
                fail_and_retry(study, storage, storage.storage.get_trial(trial._trial_id), reason, None, counted=False)
        raise
    except BaseException as error:
        outcomes = [error] * len(trials)
    finally:
        signals.training = False  # a signal now waits for the worker loop, not this bookkeeping
    failed: BaseException | None = None
    for trial, outcome in zip(trials, outcomes, strict=True):
        if isinstance(outcome, optuna.TrialPruned):
            study.tell(trial, state=TrialState.PRUNED)
        elif isinstance(outcome, BaseException):
            failure = f"{type(outcome).__name__}: {first_line(outcome)}"
            with storage.claim_lock(study.study_name):
                fail_and_retry(study, storage, storage.storage.get_trial(trial._trial_id), failure, failure)
            failed = failed or outcome
        else:
            study.tell(trial, outcome)
    if failed is not None:
        raise failed


def wait_for_running_trials(settings: SweepSettings) -> None:
    time.sleep(min(settings.heartbeat_seconds, 5.0))

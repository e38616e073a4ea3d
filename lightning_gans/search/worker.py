"""A sweep worker: claims trials of its study, trains them (one by one, or K at a time as packs), tells their results.

Many workers, on one machine or many, share a study through its storage: each claims trials under the claim lock
(search/studies.py), stamps them with heartbeats while it trains them, and records each outcome, so a worker that
dies leaves trials that another retries, and a stopped worker's trial is retried with the same parameters.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable

import optuna
import torch
from optuna.trial import TrialState

from .packs import Outcome, structure_groups, train_one_pack
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
    next worker that claims one (see `tell`). With `pack` > 1 it claims up to `pack` trials at a time and trains
    them as packs (search/packs.py).
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
    ran = 0
    while signals.received is None:
        trials = claim_trials(study, storage, settings, reruns, pack)
        if not trials:
            counts = state_counts(study)
            if counts[TrialState.COMPLETE] >= settings.target_trials or (reruns and not counts[TrialState.RUNNING]):
                return ran
            wait_for_running_trials(settings)  # a running trial may still fail and need a replacement
            continue
        with contextlib.ExitStack() as heartbeats:
            for trial in trials:
                heartbeats.enter_context(Heartbeat(storage, trial._trial_id, settings.heartbeat_seconds))
            train_claimed(study, storage, trials, settings, protocol, pack, signals)
        ran += len(trials)
    raise Interrupted(signals.received)


def train_claimed(
    study: optuna.Study,
    storage: StudyStorage,
    trials: list[optuna.Trial],
    settings: SweepSettings,
    protocol: TrialProtocol,
    pack: int,
    signals: StopSignals,
) -> None:
    """Trains and tells the claimed trials: one pack per network structure (one trial at a time when `pack` is 1).

    Each pack's outcomes are told as soon as it ends, so a stop or an error in a later pack never costs an earlier
    one; the trials of packs it kept from starting are failed and enqueued again with the same parameters, not left
    RUNNING for the heartbeat check to find.
    """

    def train(group: list[optuna.Trial]) -> list[Outcome]:
        """A group of one trains as a lone trial: the same result, bit for bit what `fit` on its config gives."""
        if len(group) > 1:
            return train_one_pack(group, settings, protocol)
        return [run_trial(trial, settings, protocol) for trial in group]

    groups = structure_groups(trials, settings) if pack > 1 else [trials]
    for index, group in enumerate(groups):
        started = False
        try:
            if signals.received is not None:  # a signal between two packs: the next one does not start
                raise Interrupted(signals.received)
            started = True
            tell(study, storage, group, train, signals)
        except BaseException:
            signals.ignore()
            unstarted = [trial for later in groups[index + int(started) :] for trial in later]
            reason = "claimed, but its worker stopped before its pack started; retried with the same parameters"
            with storage.claim_lock(study.study_name):
                for trial in unstarted:
                    fail_and_retry(study, storage, storage.storage.get_trial(trial._trial_id), reason, None, False)
            raise


def worker_device_type(protocol: TrialProtocol) -> str:
    """Where this worker's trials train: on the CPU when the trial config says so or no GPU is visible."""
    accelerator = str(protocol.config.get("trainer.accelerator", "auto"))
    return "cuda" if accelerator != "cpu" and torch.cuda.is_available() else "cpu"


def claim_trials(
    study: optuna.Study, storage: StudyStorage, settings: SweepSettings, reruns: bool, pack: int
) -> list[optuna.Trial]:
    """Up to `pack` trials for this worker (fewer when the study needs fewer), each stamped with the worker's name."""
    trials: list[optuna.Trial] = []
    while len(trials) < pack:
        trial = claim_trial(study, storage, settings.target_trials, settings.grace_seconds, reruns)
        if trial is None:
            break
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trials.append(trial)
    return trials


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

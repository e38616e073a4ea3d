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
from functools import partial

import optuna
from optuna.trial import TrialState

from .packs import Outcome, train_pack
from .studies import Heartbeat, StudyStorage, claim_trial, fail_and_retry, first_line, open_storage, state_counts
from .sweep import RERUN_OF_ATTR, SweepSettings, open_study, run_trial, trial_protocol


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
    train = partial(train_pack, settings=settings, protocol=protocol) if settings.pack > 1 else None
    ran = 0
    while signals.received is None:
        trials = claim_trials(study, storage, settings, reruns)
        if not trials:
            counts = state_counts(study)
            if counts[TrialState.COMPLETE] >= settings.target_trials or (reruns and not counts[TrialState.RUNNING]):
                return ran
            wait_for_running_trials(settings)  # a running trial may still fail and need a replacement
            continue
        with contextlib.ExitStack() as heartbeats:
            for trial in trials:
                heartbeats.enter_context(Heartbeat(storage, trial._trial_id, settings.heartbeat_seconds))
            tell(study, storage, trials, train or (lambda trials: [run_trial(trials[0], settings, protocol)]), signals)
        ran += len(trials)
    raise Interrupted(signals.received)


def claim_trials(
    study: optuna.Study, storage: StudyStorage, settings: SweepSettings, reruns: bool
) -> list[optuna.Trial]:
    """Up to `pack` trials for this worker (fewer when the study needs fewer), each stamped with the worker's name."""
    trials: list[optuna.Trial] = []
    while len(trials) < settings.pack:
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

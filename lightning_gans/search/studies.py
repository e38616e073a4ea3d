"""Where studies live and how workers share them: storages, a claim lock, heartbeats and orphan recovery.

A study is shared by every worker process of a sweep, on one machine (the embedded journal file, the default) or
on many (a PostgreSQL URL). Three things make sharing exact:
- a claim lock (an exclusive file lock beside the journal, or a PostgreSQL advisory lock) around "count the
  trials, then ask for one", so N workers start exactly the trials still needed and never one more;
- a heartbeat each running trial's worker stamps on it, so a trial whose worker was killed is recognised;
- recovery under the same lock: an orphaned trial is marked FAIL with its reason and its parameters are enqueued
  again, so the study still ends with exactly the requested number of complete trials.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
from optuna.trial import FrozenTrial, TrialState

from ..defaults import MAX_ATTEMPTS

DEFAULT_STORAGE = "runs/optuna.journal"
RDB_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "mysql", "mysql+pymysql")
HEARTBEAT_ATTR = "heartbeat"
EVALUATIONS_ATTR = "evaluations"
CONDITIONAL_ATTR = "conditional"
"""A study of class-conditional GANs records it (absent: unconditional, as every study before conditioning)."""
CONDITIONAL_SUFFIX = "-conditional"
"""Ends a conditional study's default name, and its loss's name in the analysis ("ns_gan-conditional"), which puts
it beside the unconditional loss in every figure and table."""
"""Every evaluation's scores of a trial, a list of {"step": ..., "eval/...": ...}, rewritten after each one."""
# What a retried trial keeps of the orphan: how its parameters were chosen and, for reruns, its seed.
CARRIED_ATTRS = ("authors_setting", "rerun_seed")
ATTEMPT_ATTR = "attempt"
"""On a retry: which counted attempt at the trial this is (the first attempt has no attribute)."""
FAILURE_ATTR = "previous_failure"
"""On a retry after an exception: the exception's type and first line, to tell a failure that repeats."""
DRAWS_OF_ATTR = "draws_of"
"""On a retry: the number of the first trial of its line, whose random draws and seed the retry takes."""


class StorageError(ValueError):
    """A storage URL that is malformed or cannot be reached; raised before any training starts."""


@dataclass(frozen=True)
class StudyStorage:
    """An opened Optuna storage plus what the claim lock needs to know about it."""

    url: str
    storage: BaseStorage
    local_path: str
    """The storage's file, absolute as it was when opened (see open_storage), or the URL of a server's database."""

    @property
    def is_journal(self) -> bool:
        return isinstance(self.storage, JournalStorage)

    @contextlib.contextmanager
    def claim_lock(self, study_name: str) -> Iterator[None]:
        """Serialises trial claiming and orphan recovery across every worker of the study."""
        if isinstance(self.storage, RDBStorage) and self.url.startswith("postgresql"):
            key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
            engine = self.storage.engine
            with engine.connect() as connection:
                connection.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
                try:
                    yield
                finally:
                    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
            return
        lock_path = Path(self.local_path + f".{hashlib.sha256(study_name.encode()).hexdigest()[:12]}.lock")
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def open_storage(url: str | None = None) -> StudyStorage:
    """A journal file (a path, the default) or an RDB URL; fails clearly if the URL is malformed or unreachable.

    A file (a journal, an SQLite database) is opened by its absolute path. jsonargparse changes the process's
    working directory while it parses a config file, and a worker parses trial configs while its heartbeat threads
    write to the storage: a relative path then names a file that does not exist, and Optuna's journal lock, created
    under it, is never released (every writer of the study then waits for ever).
    """
    url = url or DEFAULT_STORAGE
    scheme = urlparse(url).scheme
    if "://" not in url:
        path = Path(url)
        if path.is_dir():
            raise StorageError(f"storage {url!r} is a directory; give a journal file path such as {DEFAULT_STORAGE}")
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(path)
        absolute = str(path.resolve())
        return StudyStorage(str(path), JournalStorage(JournalFileBackend(absolute)), absolute)
    if scheme not in RDB_SCHEMES:
        raise StorageError(
            f"storage {url!r} has an unsupported scheme {scheme!r}; use a journal file path (default "
            f"{DEFAULT_STORAGE}) or a URL starting with {', '.join(s + '://' for s in RDB_SCHEMES)}"
        )
    opened = absolute_sqlite(url)
    try:
        storage = RDBStorage(opened, engine_kwargs={"pool_pre_ping": True})
    except Exception as error:  # SQLAlchemy and driver errors come in many classes
        raise StorageError(f"cannot open storage {redact(url)}: {first_line(error)}") from error
    return StudyStorage(url, storage, opened.removeprefix("sqlite:///"))


def absolute_sqlite(url: str) -> str:
    """An SQLite URL with a relative file path made absolute (see open_storage); other URLs as they are."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url.startswith(prefix + "/") or url == prefix + ":memory:":
        return url
    return prefix + str(Path(url.removeprefix(prefix)).resolve())


def stored_path(url: str | None, path: Path) -> str:
    """A path as a study records it: relative to a journal file's folder when it lies inside it, else absolute.

    A journal and the trial folders beside it are one study that can be moved or copied to another machine and read
    from any working directory; a database study's paths can only be absolute.
    """
    absolute, url = path.resolve(), url or DEFAULT_STORAGE
    if "://" not in url and absolute.is_relative_to(base := Path(url).resolve().parent):
        return absolute.relative_to(base).as_posix()
    return str(absolute)


def resolved_path(url: str | None, stored: str) -> Path:
    """The file a study's recorded path names, read from anywhere (see stored_path)."""
    path, url = Path(stored), url or DEFAULT_STORAGE
    return path if path.is_absolute() or "://" in url else Path(url).resolve().parent / path


def repair_torn_tail(path: Path) -> Path | None:
    """Cuts a journal back to its last complete record if a crash tore its last line; returns where the rest went.

    Optuna appends one JSON record per line. A process killed while writing leaves a line without its newline, and
    every later record would be appended onto it, after which no command can read the journal. Under Optuna's own
    write lock (so no live writer is mid-line), the bytes after the last newline are copied to `<journal>.torn-N`
    and cut off; every complete record stays as it was.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return None
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        with open(path, "rb+") as journal:
            end = journal.seek(0, os.SEEK_END)
            complete = last_newline_end(journal, end)
            if complete == end:
                return None
            journal.seek(complete)
            torn = journal.read()
            kept = free_path(path, "torn")
            kept.write_bytes(torn)
            journal.truncate(complete)
    finally:
        lock.release()
    print(
        f"{path}: its last record was cut off by a crash ({len(torn)} bytes, kept in {kept}); "
        f"the journal now ends at its last complete record",
        file=sys.stderr,
    )
    return kept


def last_newline_end(journal: BinaryIO, end: int, chunk: int = 1 << 16) -> int:
    """The offset just after the last newline of an open file (0 if none), reading backwards from `end`."""
    position = end
    while position > 0:
        start = max(0, position - chunk)
        journal.seek(start)
        index = journal.read(position - start).rfind(b"\n")
        if index >= 0:
            return start + index + 1
        position = start
    return 0


def free_path(path: Path, tag: str) -> Path:
    """`<path>.<tag>-1`, or the first of -2, -3, ... that does not exist yet."""
    number = 1
    while (candidate := path.with_name(f"{path.name}.{tag}-{number}")).exists():
        number += 1
    return candidate


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# -- counting and claiming -----------------------------------------------------------------------------------


def state_counts(study: optuna.Study) -> dict[TrialState, int]:
    counts = dict.fromkeys(TrialState, 0)
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state] += 1
    return counts


def retried_count(study: optuna.Study) -> int:
    """Failed trials that were enqueued again with their parameters (an interruption, a dead worker): attempts whose
    retry stands in for them, not failed trials of the study (the analysis counts them apart the same way)."""
    return len(
        {trial.user_attrs["retry_of"] for trial in study.get_trials(deepcopy=False) if "retry_of" in trial.user_attrs}
    )


def claim_trial(
    study: optuna.Study, storage: StudyStorage, target: int, grace_seconds: float, only_enqueued: bool = False
) -> optuna.Trial | None:
    """The next trial this worker should run, or None when every needed trial is complete or running.

    Under the claim lock: orphans are recovered first, then a waiting (enqueued) trial is taken if any, else a new
    one only while complete + running trials are fewer than `target`. With `only_enqueued` (reruns, whose trials are
    all enqueued up front) no new trial is ever sampled.
    """
    with storage.claim_lock(study.study_name):
        recover_orphans(study, storage, grace_seconds)
        counts = state_counts(study)
        if counts[TrialState.WAITING] == 0 and only_enqueued:
            return None
        if counts[TrialState.COMPLETE] >= target and not only_enqueued:
            return None
        if counts[TrialState.WAITING] == 0 and counts[TrialState.COMPLETE] + counts[TrialState.RUNNING] >= target:
            return None
        trial = study.ask()
        storage.storage.set_trial_user_attr(trial._trial_id, HEARTBEAT_ATTR, time.time())
        return trial


def recover_orphans(study: optuna.Study, storage: StudyStorage, grace_seconds: float) -> list[FrozenTrial]:
    """Marks RUNNING trials whose heartbeat is older than the grace period FAIL and enqueues their parameters again.

    Call under the claim lock, so two workers never recover the same orphan twice.
    """
    now = time.time()
    orphans = [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if now - float(trial.user_attrs.get(HEARTBEAT_ATTR, 0.0)) > grace_seconds
    ]
    for trial in orphans:
        fail_and_retry(study, storage, trial, f"no heartbeat for {grace_seconds:.0f} s: its worker died", failure=None)
    return orphans


def fail_and_retry(
    study: optuna.Study,
    storage: StudyStorage,
    trial: FrozenTrial,
    reason: str,
    failure: str | None,
    counted: bool = True,
) -> bool:
    """Marks `trial` FAIL with `reason` and, unless the retry rules say no, enqueues the same trial again.

    The retry has the same parameters (an orphan killed before it sampled still has the ones it was enqueued with),
    draws whatever the trial had not drawn yet with its original's number, and keeps how it was chosen (authors'
    setting, rerun seed). Rules: a trial that failed with `failure` (an exception's type and first line) after its
    previous attempt failed the same way stays FAIL, since the same parameters, seed and code fail the same way
    again; a counted attempt beyond MAX_ATTEMPTS stays FAIL (a trial that kills its worker each time, say by running
    out of memory). Interruptions by a signal are not `counted`. Call under the claim lock. Returns whether it
    was retried.
    """
    attempt = trial.user_attrs.get(ATTEMPT_ATTR, 1)
    if failure is not None and trial.user_attrs.get(FAILURE_ATTR) == failure:
        reason += "; it failed the same way on its previous attempt, so it is the trial's own failure: not retried"
    elif counted and attempt >= MAX_ATTEMPTS:
        reason += f"; attempt {attempt} of {MAX_ATTEMPTS}: not retried"
    storage.storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
    storage.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    if reason.endswith("not retried"):
        return False
    retry_attrs = {key: value for key, value in trial.user_attrs.items() if key in CARRIED_ATTRS}
    retry_attrs |= {"retry_of": trial.number, DRAWS_OF_ATTR: draw_number(trial), ATTEMPT_ATTR: attempt + int(counted)}
    if failure is not None:
        retry_attrs[FAILURE_ATTR] = failure
    params = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
    study.enqueue_trial(params, user_attrs=retry_attrs)
    return True


def draw_number(trial: optuna.Trial | FrozenTrial) -> int:
    """The trial number its parameters and seed are derived from: its own, or the original's for a retry.

    A worker killed while it was drawing parameters leaves an orphan with only some of them; the retry draws the rest
    as the orphan would have, and trains with its seed, so a retry is the same trial whenever its worker died.
    """
    return trial.user_attrs.get(DRAWS_OF_ATTR, trial.number)


class Heartbeat:
    """Stamps the trial every `interval` seconds from a background thread while the worker trains it.

    Optuna has a heartbeat of its own (`heartbeat_interval`, with `failed_trial_callback` to retry), but only for RDB
    storages; a journal file, the default, needs the same guarantee. One mechanism for every storage (a user
    attribute stamped here, read by `recover_orphans` under the claim lock) keeps the two paths from differing.
    """

    def __init__(self, storage: StudyStorage, trial_id: int, interval: float) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="trial-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            self._storage.storage.set_trial_user_attr(self._trial_id, HEARTBEAT_ATTR, time.time())

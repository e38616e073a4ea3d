"""One line per study: how far it got and what it found, read straight from the storage."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from .studies import DEFAULT_STORAGE, StorageError, open_storage, redact


@dataclass(frozen=True)
class StudySummary:
    name: str
    complete: int
    failed: int
    pruned: int
    running: int
    best_fd: float | None
    median_fd: float | None
    best_trial: int | None
    best_params: dict

    def row(self) -> str:
        def number(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        params = ", ".join(
            f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in sorted(self.best_params.items())
        )
        return (
            f"| {self.name} | {self.complete} | {self.failed} | {number(self.best_fd)} | {number(self.median_fd)} | "
            f"{'-' if self.best_trial is None else self.best_trial} | {params} |"
        )


def summarize(study: optuna.Study) -> StudySummary:
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = min(complete, key=lambda t: t.value) if complete else None
    return StudySummary(
        name=study.study_name,
        complete=len(complete),
        failed=sum(t.state == TrialState.FAIL for t in trials),
        pruned=sum(t.state == TrialState.PRUNED for t in trials),
        running=sum(t.state == TrialState.RUNNING for t in trials),
        best_fd=best.value if best else None,
        median_fd=statistics.median(t.value for t in complete) if complete else None,
        best_trial=best.number if best else None,
        best_params=dict(best.params) if best else {},
    )


HEADER = (
    "| study | complete | failed | best FD | median FD | best trial | best trial's parameters |\n"
    "|---|---|---|---|---|---|---|"
)


def studies_command(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lightning-gans studies", description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=DEFAULT_STORAGE)
    options = parser.parse_args(arguments)
    try:
        storage = open_storage(options.storage)
    except StorageError as error:
        parser.error(str(error))
    names = [summary.study_name for summary in optuna.get_all_study_summaries(storage.storage)]
    print(f"studies in {redact(storage.url)}:")
    print(HEADER)
    for name in sorted(names):
        print(summarize(optuna.load_study(study_name=name, storage=storage.storage)).row())
    return 0

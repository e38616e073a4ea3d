"""Studies as one tidy pandas frame: a row per evaluation of every trial, so any figure is a groupby away.

A trial's identity (study, loss, dataset, space, trial number, state, parameters, objective value, duration) is
repeated on each of its evaluation rows, next to that evaluation's scores under their full metric keys
(`eval/fd_domain_n2000`, ...): scores from different extractors or sample counts stay in different columns. A trial
that never reached an evaluation (it failed first, or is still running) still has one row, with no step. The frame
round-trips through CSV and Parquet, so a cluster's results can be analysed on a laptop without the database.
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from jsonargparse import ArgumentParser
from optuna.trial import FrozenTrial, TrialState

from ..atomic import atomic_path
from ..evaluation.previews import SAMPLE_POINTS_ATTR
from ..search.spaces import ARGUMENTS_ATTR, parameter_names
from ..search.studies import (
    CONDITIONAL_ATTR,
    CONDITIONAL_SUFFIX,
    DEFAULT_STORAGE,
    EVALUATIONS_ATTR,
    open_storage,
    redact,
)

STUDY_COLUMNS = ("study", "rerun_of", "loss", "dataset", "space", "backbone", "steps", "eval_samples")
TRIAL_COLUMNS = (
    "trial",
    "state",
    "objective",
    "direction",
    "value",
    "best_step",
    "duration_s",
    "authors_setting",
    "rerun_seed",
    "diverged_at",
    "divergence",
    "fail_reason",
    "retried",
    SAMPLE_POINTS_ATTR,
)
TEXT_COLUMNS = ("rerun_of", "divergence", "fail_reason", "objective", SAMPLE_POINTS_ATTR)
OBJECTIVE_PREFIXES = ("eval/fd_", "eval/fid_")
"""What a trial without an `objective` attribute was judged by: the Frechet distance, in whatever features."""
FORMATS = (".csv", ".parquet")


def load_frame(source: str | os.PathLike, studies: Sequence[str] | str | None = None) -> pd.DataFrame:
    """The frame of `studies` (names or shell patterns; None or "" for all) from a storage URL or an exported file."""
    if Path(source).suffix in FORMATS:
        return select_studies(read_frame(source), studies, str(source))
    return storage_frame(str(source), studies)


def add_source_arguments(parser: ArgumentParser) -> None:
    """--storage and --study, read by `load_frame(options.storage, options.study)` in every analysis command."""
    parser.add_argument(
        "--storage", default=DEFAULT_STORAGE, help="Optuna storage (journal file or URL) or exported .csv/.parquet"
    )
    parser.add_argument(
        "--study", type=str | None, default=None, help="study names or shell patterns, comma-separated (default: all)"
    )


def storage_frame(url: str, studies: Sequence[str] | str | None = None) -> pd.DataFrame:
    if "://" not in url and not Path(url).is_file():
        raise FileNotFoundError(f"no study storage at {url!r}: give a journal file a sweep wrote, or a storage URL")
    storage = open_storage(url).storage
    available = sorted(summary.study_name for summary in optuna.get_all_study_summaries(storage))
    rows: list[dict[str, Any]] = []
    for name in match_studies(available, studies, redact(url)):
        rows.extend(study_rows(optuna.load_study(study_name=name, storage=storage)))
    return to_frame(rows)


def match_studies(available: Sequence[str], wanted: Sequence[str] | str | None, where: str) -> list[str]:
    """The studies named by `wanted`; each name or pattern must match something, so a typo is never a silent gap."""
    patterns = split_names(wanted)
    if not patterns:
        return list(available)
    chosen: list[str] = []
    for pattern in patterns:
        hits = fnmatch.filter(available, pattern)
        if not hits:
            raise ValueError(
                f"no study matches {pattern!r} in {where}; studies there: {', '.join(available) or 'none'}"
            )
        chosen.extend(hit for hit in hits if hit not in chosen)
    return chosen


def split_names(wanted: Sequence[str] | str | None) -> list[str]:
    """STUDIES as the Makefile passes it (comma-separated), or a list of such strings (repeated --study)."""
    if wanted is None:
        return []
    joined = wanted if isinstance(wanted, str) else ",".join(wanted)
    return [item.strip() for item in joined.split(",") if item.strip()]


def select_studies(frame: pd.DataFrame, studies: Sequence[str] | str | None, where: str) -> pd.DataFrame:
    names = match_studies(sorted(frame["study"].unique()), studies, where)
    return frame[frame["study"].isin(names)].reset_index(drop=True)


def study_rows(study: optuna.Study) -> list[dict[str, Any]]:
    attrs = study.user_attrs
    context = {column: attrs.get(column) for column in STUDY_COLUMNS}
    context["study"] = study.study_name
    if attrs.get(CONDITIONAL_ATTR) and context["loss"]:
        context["loss"] += CONDITIONAL_SUFFIX  # its own "loss" beside the unconditional one (style.loss_label)
    direction = study.direction.name.lower()
    trials = study.get_trials(deepcopy=False)
    retried = {trial.user_attrs["retry_of"] for trial in trials if "retry_of" in trial.user_attrs}
    rows = []
    for trial in trials:
        # An attempt that failed and was enqueued again (an interruption, a dead worker) is not a result of the
        # study: its retry, with the same parameters, is. Figures and tables leave it out (`attempts`).
        identity = {**context, **trial_identity(trial, direction), "retried": trial.number in retried}
        evaluations = trial_evaluations(trial)
        objective = objective_key(evaluations, trial)
        identity["objective"] = objective
        if not evaluations:
            rows.append({**identity, "step": math.nan})
        rows.extend({**identity, **evaluation} for evaluation in evaluations)
    return rows


def trial_identity(trial: FrozenTrial, direction: str) -> dict[str, Any]:
    attrs = trial.user_attrs
    finished = trial.datetime_complete is not None and trial.datetime_start is not None
    return {
        "trial": trial.number,
        "state": trial.state.name,
        "direction": direction,
        "value": trial.value if trial.state == TrialState.COMPLETE else math.nan,
        "best_step": attrs.get("best_step", math.nan),
        "duration_s": (trial.datetime_complete - trial.datetime_start).total_seconds() if finished else math.nan,
        "authors_setting": bool(attrs.get("authors_setting", False)),
        "rerun_seed": attrs.get("rerun_seed", math.nan),
        # A diverged trial is COMPLETE with its best score before divergence (+inf or -inf if it had none).
        "diverged_at": attrs.get("diverged_at", math.nan),
        "divergence": attrs.get("divergence"),
        "fail_reason": attrs.get("fail_reason"),
        SAMPLE_POINTS_ATTR: attrs.get(SAMPLE_POINTS_ATTR),  # the best samples' preview, on point datasets
        **attrs.get(ARGUMENTS_ATTR, {}),
        **trial.params,
    }


def trial_evaluations(trial: FrozenTrial) -> list[dict[str, Any]]:
    """Every evaluation's scores; trials from before the `evaluations` attribute have only their FD curve.

    For those, the scores of the last evaluation (kept as attributes) join the FD of the same step.
    """
    if EVALUATIONS_ATTR in trial.user_attrs:
        return [dict(evaluation) for evaluation in trial.user_attrs[EVALUATIONS_ATTR]]
    last_scores = {key: value for key, value in trial.user_attrs.items() if key.startswith("eval/")}
    fd_key = next((key for key in last_scores if key.startswith(OBJECTIVE_PREFIXES)), None)
    if fd_key is None or not trial.intermediate_values:
        return []
    last_step = max(trial.intermediate_values)
    return [
        {"step": step, fd_key: value, **(last_scores if step == last_step else {})}
        for step, value in sorted(trial.intermediate_values.items())
    ]


def objective_key(evaluations: Iterable[dict[str, Any]], trial: FrozenTrial) -> str | None:
    """The key the trial recorded; trials from before that attribute were judged by FD."""
    if isinstance(trial.user_attrs.get("objective"), str):
        return trial.user_attrs["objective"]
    for scores in (*evaluations, trial.user_attrs):
        for key in scores:
            if key.startswith(OBJECTIVE_PREFIXES):
                return key
    return None


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Identity columns first, then parameters in the paper's order, then the scores; one dtype per column."""
    frame = pd.DataFrame(rows)
    identity = [*STUDY_COLUMNS, *TRIAL_COLUMNS, "step"]
    for column in identity:
        if column not in frame:
            frame[column] = pd.Series(dtype=object if column in TEXT_COLUMNS else float)
    parameters = [name for name in parameter_names() if name in frame]
    scores = sorted(column for column in frame if column not in (*identity, *parameters))
    frame = frame[[*identity, *parameters, *scores]]
    return frame.sort_values(["study", "trial", "step"], na_position="first", kind="stable").reset_index(drop=True)


def per_trial(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trial: its scores at the evaluation that gave its objective value (what best.ckpt holds).

    Trials without that evaluation (failed, running) keep their first row.
    """
    frame = frame.assign(_distance=(objective_scores(frame) - frame["value"]).abs().fillna(math.inf))
    chosen = frame.sort_values("_distance", kind="stable").groupby(["study", "trial"], sort=False).head(1)
    return chosen.drop(columns="_distance").sort_values(["study", "trial"]).reset_index(drop=True)


def objective_scores(frame: pd.DataFrame) -> pd.Series:
    """Each row's score under its own trial's objective key (studies in one frame may use different ones)."""
    scores = pd.Series(math.nan, index=frame.index)
    for key in frame["objective"].dropna().unique():
        rows = frame["objective"] == key
        scores[rows] = frame.loc[rows, key]
    return scores


def attempts(trials: pd.DataFrame) -> pd.Series:
    """Trials that failed and were retried with the same parameters: attempts, not outcomes of the search."""
    return (trials["state"] == "FAIL") & trials["retried"].fillna(False).astype(bool)


def unscored(trials: pd.DataFrame) -> pd.Series:
    """Complete trials that diverged before any evaluation: their value is +-inf (tried, never best)."""
    return (trials["state"] == "COMPLETE") & ~np.isfinite(trials["value"].astype(float))


def diverged(trials: pd.DataFrame) -> pd.Series:
    """Complete trials that diverged, scored by their evaluations before it or unscored."""
    return (trials["state"] == "COMPLETE") & trials["diverged_at"].notna()


def save_frame(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Writes CSV or Parquet by suffix, atomically: an interrupted export never leaves half a file behind."""
    path = Path(path)
    check_format(path)
    with atomic_path(path, suffix=path.suffix) as temporary:
        if path.suffix == ".csv":
            frame.to_csv(temporary, index=False)
        else:
            frame.to_parquet(temporary, index=False)
    return path


def read_frame(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    check_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exported frame at {str(path)!r}")
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def check_format(path: Path) -> None:
    if path.suffix not in FORMATS:
        allowed = ", ".join(FORMATS)
        raise ValueError(f"cannot read or write {str(path)!r}: its suffix {path.suffix!r} is not one of {allowed}")

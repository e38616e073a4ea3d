"""What `sweep` tells the user when its workers are done: the best trial, the authors' trial, what to run next.

The study in the storage is the record; this reads it, so the summary is the same whichever machines ran the trials.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import TrialState

from ..summary import feature_space_note
from .spaces import AUTHORS_SETTING_ATTR
from .studies import resolved_path, retried_count, state_counts
from .sweep import DIVERGED_AT_ATTR


def sweep_summary(study: optuna.Study, storage: str) -> str:
    counts, retried = state_counts(study), retried_count(study)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    diverged = sum(DIVERGED_AT_ATTR in trial.user_attrs for trial in complete)
    attempts = f" ({retried} interrupted attempts retried)" if retried else ""
    lines = [
        f"study {study.study_name!r}: {counts[TrialState.COMPLETE]} complete ({diverged} of them diverged), "
        f"{counts[TrialState.FAIL] - retried} failed{attempts}, {counts[TrialState.PRUNED]} pruned"
    ]
    scored = [trial for trial in complete if trial.value is not None and math.isfinite(trial.value)]
    if scored:
        best = study.best_trial
        key = best.user_attrs.get("objective", "objective")
        lines.append(f"  best: trial {best.number}, {key} = {best.value:.6g}; {parameters(best.params)}")
        if note := feature_space_note(key):
            lines.append(f"    ({note})")
        authors = next((t for t in complete if t.user_attrs.get(AUTHORS_SETTING_ATTR) is True), None)
        if authors is not None:
            lines.append(f"  the authors' setting: trial {authors.number}, {key} = {authors.value:.6g}")
        if "best_checkpoint" in best.user_attrs:
            lines.append(f"  best checkpoint: {resolved_path(storage, best.user_attrs['best_checkpoint'])}")
    lines += [
        f"  next: make dashboard STORAGE={storage}   (every trial's curves, in the browser)",
        f"        make report STORAGE={storage}      (this summary for every study, as a table)",
        f"        make analysis STORAGE={storage}    (the paper's figures and tables, into reports/)",
    ]
    return "\n".join(lines)


def parameters(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}" for name, value in params.items()
    )

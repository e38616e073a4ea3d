"""What a run is judged by: the score whose best value over its evaluations is the run's (and the trial's) value.

The paper judges by the minimum FD. On the synthetic sets the truth is known and a direct measure is better: F1 of
polygon precision and recall, and the number of Gaussian-mixture modes covered; both are maximised. An objective is
chosen by name (`auto` picks the dataset's), and its direction sets the Optuna study's.
"""

from __future__ import annotations

from ..data.datasets import DATASETS

AUTO = "auto"
DIRECTIONS: dict[str, str] = {
    "fd": "minimize",
    "kid": "minimize",
    "f1": "maximize",
    "precision": "maximize",
    "recall": "maximize",
    "modes": "maximize",
    "high_quality": "maximize",
    "intra_fd": "minimize",
    "class_consistency": "maximize",
}


def resolve_objective(objective: str, dataset: str) -> str:
    """The objective's name, `auto` replaced by the dataset's (its DatasetSpec); unknown names list the valid ones."""
    if objective == AUTO:
        return DATASETS.get(dataset).objective if dataset in DATASETS else "fd"
    if objective not in DIRECTIONS:
        raise ValueError(f"unknown objective {objective!r}; valid objectives: {AUTO}, {', '.join(DIRECTIONS)}")
    return objective


def direction(objective: str) -> str:
    return DIRECTIONS[objective]


def improves(value: float, best: float | None, objective: str) -> bool:
    if best is None:
        return True
    return value < best if direction(objective) == "minimize" else value > best

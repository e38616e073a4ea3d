"""The numbers the paper reports, as typed records read from the packaged `configs/paper_scores.yaml`.

A reproduction is judged against them, so they are data beside the search spaces rather than constants in whichever
code prints them: the report, the figures and the bias check all read the same file. Each record carries the score
key its number was measured under (`eval/fid_inception_n10000`), because a study's number can stand next to the
paper's only when both are the same metric: a Frechet distance in the domain classifier's features, or a FID from
fewer samples, is a different number (`is_comparable`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import yaml

from ..resources import PAPER_SCORES_FILE

RERUNS = "reruns"
"""The paper's rerun table: each loss's best setting retrained with many seeds."""
BIAS_CHECK = "bias_check"
"""Real train images scored against real test images: what a perfect generator would score."""


@dataclass(frozen=True)
class PaperScore:
    """One reported number and what it is: a kind of measurement (RERUNS, BIAS_CHECK) on a dataset, for a loss where
    a GAN was trained, under `metric` (a score key), with the budget behind it where one was spent."""

    kind: str
    dataset: str
    metric: str
    mean: float
    statistic: str
    source: str
    loss: str | None = None
    std: float | None = None
    space: str | None = None
    trials: int | None = None
    seeds: int | None = None

    def is_comparable(self, key: str) -> bool:
        """Whether a study scored under `key` measured the same thing: same score, features and sample count."""
        return key == self.metric


@functools.cache
def paper_scores() -> tuple[PaperScore, ...]:
    """Every number in the file, read once per process; a field the record does not know is an error, not ignored."""
    kinds = yaml.safe_load(PAPER_SCORES_FILE.read_text())
    return tuple(
        PaperScore(kind=kind, **{key: value for key, value in entry.items() if key != "scores"}, **score)
        for kind, entry in kinds.items()
        for score in entry["scores"]
    )


def paper_score(kind: str, dataset: str, loss: str | None = None) -> PaperScore | None:
    """The paper's number of this kind for `dataset` (and `loss`), or None where the paper reports none."""
    found = [score for score in paper_scores() if (score.kind, score.dataset, score.loss) == (kind, dataset, loss)]
    return found[0] if found else None

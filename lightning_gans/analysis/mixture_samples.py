"""Scatter plots of what the generators draw on the 2-D mixtures: each loss's best and median search trial.

A box of modes-covered counts says how often a loss collapses; the samples say how (all points on three modes, a
smear between the modes, a ring drawn twice as wide as the data). People look at these first, so the figure shows two
trials per loss that a search really produces: its best, the one a paper would print, and its median, what a
researcher gets from a typical draw of the space. Both come from the preview each trial keeps in its storage record
(evaluation/previews.py), so the figure is redrawn from a committed journal without any checkpoint.
"""

from __future__ import annotations

import itertools
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from ..data.mixtures import MIXTURES
from ..evaluation.previews import SAMPLE_POINTS_ATTR, decode_points
from ..metrics.modes import QUALITY_STDS
from . import style

RANKS = ("best", "median")
PANEL_INCHES = 2.3
MARGIN = 0.3
"""Share of the mixture's extent added around it: room for a ring drawn a little wide, not for far-flung points,
which are counted in the panel's title instead (fixed limits keep every panel comparable)."""
CENTRE_COLOUR = "0.35"


def preview_datasets(trials: pd.DataFrame) -> list[str]:
    """The mixtures some completed search trial of the frame has a sample preview for."""
    previews = _completed_previews(trials)
    return [dataset for dataset in MIXTURES if (previews["dataset"] == dataset).any()]


def sample_rows(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The trials mixture_samples draws: per loss its best and its median completed search trial on `dataset`.

    Trials are ranked by their value (modes covered, in the study's direction), ties broken by the high-quality share
    of the same evaluation; the median is the lower middle of that ranking. Columns: rank, loss, study, trial, value,
    high_quality, trials (how many were ranked), and the preview.
    """
    done = _completed_previews(trials)
    done = done[done["dataset"] == dataset]
    if done.empty:
        raise ValueError(
            f"no completed search trial on {dataset!r} has a sample preview; datasets with them: "
            f"{', '.join(preview_datasets(trials)) or 'none'}"
        )
    rows = []
    for loss in style.losses_in(done):
        ranked = _ranked(done[done["loss"] == loss])
        for rank, position in zip(RANKS, (0, (len(ranked) - 1) // 2), strict=True):
            trial = ranked.iloc[position]
            rows.append(
                {
                    "rank": rank,
                    "loss": loss,
                    "study": trial["study"],
                    "trial": int(trial["trial"]),
                    "value": float(trial["value"]),
                    "high_quality": float(trial["_high_quality"]),
                    "trials": len(ranked),
                    SAMPLE_POINTS_ATTR: trial[SAMPLE_POINTS_ATTR],
                }
            )
    return pd.DataFrame(rows)


def mixture_samples(trials: pd.DataFrame, dataset: str) -> Figure:
    """A panel per loss (columns) and rank (rows: best, median): the trial's preview over the mixture's modes, each
    mode drawn as the circle within which a sample counts as high quality."""
    rows = sample_rows(trials, dataset)
    mixture = MIXTURES[dataset]
    centres = mixture.centres.double().numpy()
    low, high = _limits(centres)
    losses = list(dict.fromkeys(rows["loss"]))
    palette = style.loss_palette(losses)
    figure, axes = plt.subplots(
        len(RANKS),
        len(losses),
        figsize=(PANEL_INCHES * len(losses), PANEL_INCHES * len(RANKS) + 0.8),
        squeeze=False,
        layout="constrained",
    )
    most = len(centres)
    for (row, rank), (column, loss) in itertools.product(enumerate(RANKS), enumerate(losses)):
        ax = axes[row][column]
        chosen = rows[(rows["rank"] == rank) & (rows["loss"] == loss)].iloc[0]
        points = decode_points(chosen[SAMPLE_POINTS_ATTR])
        for centre in centres:
            ax.add_patch(Circle(centre, QUALITY_STDS * mixture.std, fill=False, color=CENTRE_COLOUR, lw=0.6))
        ax.scatter(points[:, 0], points[:, 1], s=3, color=palette[loss], alpha=0.7, linewidths=0)
        ax.set(xlim=(low, high), ylim=(low, high), aspect="equal", xticks=[], yticks=[])
        outside = int(((points < low) | (points > high)).any(axis=1).sum())
        ax.set_title(_panel_title(loss, rank, chosen, most, outside), fontsize=9)
    figure.suptitle(
        f"{style.dataset_label(dataset)}: {len(points)} samples of each loss's best and median search trial\n"
        f"circles: {QUALITY_STDS:g} std around each mode, where a sample counts as high quality"
    )
    return figure


def _completed_previews(trials: pd.DataFrame) -> pd.DataFrame:
    """Completed search trials (not reruns) with a preview and a finite value."""
    if SAMPLE_POINTS_ATTR not in trials:
        return trials.iloc[0:0]
    chosen = (
        trials["rerun_of"].isna()
        & (trials["state"] == "COMPLETE")
        & trials[SAMPLE_POINTS_ATTR].notna()
        & np.isfinite(trials["value"].astype(float))
    )
    return trials[chosen]


def _ranked(trials: pd.DataFrame) -> pd.DataFrame:
    """Best first by value in the study's direction, then by high-quality share, then by trial number."""
    high_quality = pd.Series(math.nan, index=trials.index)
    for key in trials["objective"].dropna().unique():
        quality_key = key.replace("eval/modes_", "eval/high_quality_", 1)
        if quality_key in trials:
            rows = trials["objective"] == key
            high_quality[rows] = trials.loc[rows, quality_key].astype(float)
    sign = trials["direction"].map({"maximize": -1.0, "minimize": 1.0}).fillna(1.0)
    ranked = trials.assign(
        _high_quality=high_quality,
        _order=sign * trials["value"].astype(float),
        _quality_order=-high_quality.fillna(-math.inf),
    )
    return ranked.sort_values(["_order", "_quality_order", "trial"], kind="stable")


def _limits(centres: np.ndarray) -> tuple[float, float]:
    """Square limits around every mode, with MARGIN of the mixture's extent on each side."""
    low, high = float(centres.min()), float(centres.max())
    pad = MARGIN * (high - low)
    return low - pad, high + pad


def _panel_title(loss: str, rank: str, chosen: pd.Series, most: int, outside: int) -> str:
    lines = [
        f"{style.loss_label(loss)}: {rank} of {chosen['trials']} (trial {chosen['trial']})",
        f"{chosen['value']:g}/{most} modes, {chosen['high_quality']:.0%} high quality",
    ]
    if outside:
        lines.append(f"{outside} point{'s' if outside > 1 else ''} outside the frame")
    return "\n".join(lines)

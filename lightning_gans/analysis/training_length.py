"""Is the training long enough? The objective of every search trial at each evaluation step, per loss.

A study's ranking holds only if its trials have stopped improving by the end: a loss whose scores still climb at the
last evaluation would rank higher with longer runs. Every trial records each evaluation (the `evaluations`
attribute), so the curves come from the storage alone: per loss, the median and interquartile range over its
completed search trials at each step, and in the table, how many trials still changed between the last two
evaluations and how many reached their best only at the last one.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from . import style
from .frames import objective_scores

CURVE_KEYS = ["dataset", "objective", "loss", "study"]
PANEL_INCHES = (4.4, 3.4)


def has_curves(frame: pd.DataFrame) -> bool:
    """Whether training_curves and length_check have something to read: a completed search trial's evaluation."""
    return not _completed_search_rows(frame).empty


def objective_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """A row per search study and evaluation step: trials scored there, median, lower and upper quartile.

    `frame` is the per-evaluation frame (`frames.load_frame`, not `per_trial`); completed search trials only, each
    scored under its own objective key. A trial that diverged stops contributing after its last evaluation.
    """
    rows = _completed_search_rows(frame)
    grouped = rows.groupby([*CURVE_KEYS, "step"], sort=False)["score"]
    curves = grouped.agg(
        trials="count", median="median", lower=lambda s: s.quantile(0.25), upper=lambda s: s.quantile(0.75)
    ).reset_index()
    return curves.sort_values([*CURVE_KEYS, "step"], kind="stable").reset_index(drop=True)


def length_check(frame: pd.DataFrame) -> pd.DataFrame:
    """A row per search study: its completed trials with two or more evaluations, the share whose score changed
    between their last two evaluations, the share whose best score came only at the last one, and the median
    change (last minus the one before)."""
    rows = _completed_search_rows(frame).sort_values("step", kind="stable")
    records = []
    for _, trial in rows.groupby(["study", "trial"], sort=False):
        if len(trial) < 2:
            continue
        history = trial["score"].to_numpy()
        higher = trial["direction"].iloc[0] == "maximize"
        earlier_best = history[:-1].max() if higher else history[:-1].min()
        records.append(
            {
                **trial.iloc[0][CURVE_KEYS].to_dict(),
                "changed": bool(history[-1] != history[-2]),
                "best_at_last": bool(history[-1] > earlier_best if higher else history[-1] < earlier_best),
                "change": float(history[-1] - history[-2]),
            }
        )
    if not records:
        raise ValueError("no completed search trial has two evaluations: nothing to compare at the end of training")
    per_trial = pd.DataFrame(records)
    table = per_trial.groupby(CURVE_KEYS, sort=False).agg(
        trials=("changed", "size"),
        changed_last=("changed", "mean"),
        best_at_last=("best_at_last", "mean"),
        median_change=("change", "median"),
    )
    return table.reset_index()


def training_curves(frame: pd.DataFrame) -> Figure:
    """A panel per dataset and objective key: per loss, the median score of its search trials at each evaluation
    step (line) and the interquartile range (band)."""
    curves = objective_curves(frame)
    if curves.empty:
        raise ValueError("no completed search trial has an evaluation: no training curve to draw")
    panels = list(curves[["dataset", "objective"]].drop_duplicates().itertuples(index=False, name=None))
    palette = style.loss_palette(style.losses_in(curves))
    figure, axes = plt.subplots(
        1,
        len(panels),
        figsize=(PANEL_INCHES[0] * len(panels), PANEL_INCHES[1] + 0.9),
        squeeze=False,
        layout="constrained",
    )
    for ax, (dataset, key) in zip(axes.flat, panels, strict=True):
        panel = curves[(curves["dataset"] == dataset) & (curves["objective"] == key)]
        for loss in style.losses_in(panel):
            for _, curve in panel[panel["loss"] == loss].groupby("study"):
                colour = palette[loss]
                ax.plot(curve["step"], curve["median"], color=colour, marker="o", markersize=3)
                ax.fill_between(curve["step"], curve["lower"], curve["upper"], color=colour, alpha=0.12, linewidth=0)
        ax.set(title=style.dataset_label(dataset), xlabel="training step", ylabel=style.metric_label(key))
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))  # "25,000" five times fits a panel's width
        ax.xaxis.set_major_formatter(FuncFormatter(lambda step, _: f"{step:,.0f}"))
    handles = [plt.Line2D([], [], color=palette[loss], marker="o") for loss in style.losses_in(curves)]
    figure.legend(
        handles,
        [style.loss_label(loss) for loss in style.losses_in(curves)],
        loc="outside lower center",
        ncols=len(handles),
        frameon=False,
    )
    figure.suptitle("Score of the search trials over training: median (line) and interquartile range (band) per loss")
    return figure


def _completed_search_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Evaluation rows of completed search trials (not reruns), each with its score under its trial's objective."""
    chosen = frame[(frame["state"] == "COMPLETE") & frame["rerun_of"].isna() & frame["step"].notna()]
    scored = chosen.assign(score=objective_scores(chosen).astype(float))
    return scored[np.isfinite(scored["score"])]

"""The paper's figures from a per-trial frame: FD distributions, budget curves, reruns, sensitivity, polygon scores,
mode collapse.

"Are GANs Created Equal?" argues that a loss is judged by the outcomes its hyperparameter search produces, not by
its single best run, so every figure shows every trial (box plus points) or a curve over the search budget. Each
function takes the frame of `frames.per_trial` and returns a matplotlib Figure, so notebooks, tests and scripts draw
identical figures. The points a figure plots are a tidy frame of their own (`distribution_rows`, `sensitivity_rows`,
`polygon_rows`, `mode_collapse_rows`; the curves are `budget_frame`): a row per point, naming the trial it stands for,
drawn by seaborn's categorical and relational plots. So what a figure shows can be checked, or tabulated, without
reading it back from the drawing. Three rules keep the figures honest: one panel holds one objective key (FD in
different features or from a different number of samples is a different number); a loss keeps its colour and
position everywhere (`style`); and the paper's numbers (`paper_rows`) are drawn only beside scores of the paper's own
metric, while a domain FD says in its title that it is not FID. A frame with nothing to draw is an error that says
what the frame holds, never an empty figure.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullFormatter

from ..data.labels import LABELLED_DATASETS, NUM_CLASSES
from ..data.mixtures import MIXTURES
from ..search.spaces import SPACES, parameter_names, search_space
from ..training.losses import LOSSES
from ..training.nets import uses_d_batch_norm
from . import style
from .budget import bootstrap_best
from .frames import attempts, diverged, unscored
from .tables import mode_collapse_keys, paper_numbers

__all__ = [
    "OBJECTIVES",
    "budget_curves",
    "budget_frame",
    "distribution_rows",
    "fid_distributions",
    "has_polygon_scores",
    "has_reruns",
    "has_searches",
    "mode_collapse",
    "mode_collapse_datasets",
    "mode_collapse_rows",
    "paper_rows",
    "polygon_rows",
    "polygon_scores",
    "rerun_distributions",
    "save_figure",
    "sensitivity",
    "sensitivity_datasets",
    "sensitivity_rows",
]

FD_PREFIXES = ("eval/fd_", "eval/fid_")
"""Objectives that are Frechet distances: the only ones FD figures draw."""


@dataclass(frozen=True)
class Objective:
    """A kind of study objective that the search, budget, rerun and sensitivity figures draw, one kind per figure.

    FD (the paper's, lower is better) and the mixtures' modes covered (higher is better) are judged the opposite way,
    so a figure draws one kind and says which way is better; `title` is how titles name it (`{fd}` is named for the
    FD's features by style.distance_title), `suffix` what the figures' and tables' file names add.
    """

    prefixes: tuple[str, ...]
    higher_is_better: bool
    title: str
    suffix: str
    judged: str
    """How errors name the studies: "with an FD objective"."""

    def judges(self, key: object) -> bool:
        return isinstance(key, str) and key.startswith(self.prefixes)

    @property
    def better(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


OBJECTIVES = {
    "fd": Objective(FD_PREFIXES, False, title="{fd}", suffix="", judged="with an FD objective"),
    "modes": Objective(("eval/modes_",), True, "modes covered", suffix="_modes", judged="judged by modes covered"),
}
"""The objectives the figures draw, by the name their `objective` argument takes."""
POLYGON_KEY = re.compile(r"eval/(?P<score>precision|recall|f1)_polygons_n(?P<samples>\d+)")
POLYGON_SCORES = ("precision", "recall", "f1")
FINISHED = ("COMPLETE", "FAIL")
BUDGET_KEYS = ["study", "loss", "dataset", "space", "objective"]
POINT_COLUMNS = ["study", "trial", "loss", "space"]
"""What each row of a figure's frame names besides its value: the trial a point stands for and how it is drawn."""
PANEL_SIZE = (4.0, 3.3)
"""Inches per panel: small enough that 10-11 pt text (style.apply_theme) stays legible when a row of three panels
is shown at the width of a README page."""
POLYGON_PANEL_SIZE = (4.4, 4.0)
"""Taller panels for the polygon scores, whose axis labels also say what share each score is."""
MODE_COLLAPSE_PANEL_SIZE = (4.4, 3.8)
"""Taller panels for the mode-collapse scores, whose titles also say what each score measures."""
MODE_COLLAPSE_PANELS: dict[str, tuple[bool, str]] = {
    "precision": (True, "share of samples near the real data"),
    "recall": (True, "share of the real data near a sample"),
    "density": (True, "real neighbourhoods per sample, over k;\n1 for samples drawn like the data"),
    "coverage": (True, "share of real neighbourhoods holding a sample"),
    "support_lower": (True, "distinct samples G can draw; the estimate\nitself is infinite when no pair turns up"),
    "duplicates": (False, "how often G repeats itself (birthday test)"),
    "classes": (True, "classes the domain classifier finds"),
    "class_kl": (False, "imbalance of the predicted classes, nats"),
    "modes": (True, "mixture modes with samples near them"),
    "high_quality": (True, "share of samples within 3 std of a mode"),
}
"""The panels of mode_collapse: whether higher is better, and what the score measures. Support is drawn as its 95%
lower bound, which is always finite; the estimate is infinite when no near-duplicate pair was found."""
SHARES = ("precision", "recall", "coverage", "high_quality")
COUNTS = ("duplicates", "classes", "modes")
MAXIMUM_LABEL = "maximum possible"
PAPER_GID = "paper"
"""The group id of every artist that draws one of the paper's numbers, so a reader of the figure object finds them."""
BOX_ALPHA = 0.3
BOX_GAP = 0.3
"""Share of a box's slot left empty, so the boxes of two spaces under one loss do not touch."""
NEUTRAL = "0.35"
PAPER_BAND: dict[str, Any] = {"color": NEUTRAL, "alpha": 0.15, "linewidth": 0}
"""The paper's ± std band in distribution panels, and its legend patch."""
POINTS: dict[str, Any] = {"edgecolor": "white", "linewidth": 0.5, "zorder": 3}
"""How every point is drawn, above the boxes, white-edged so overlapping points stay countable."""
POINT_AREA = 22.0
"""Marker area in points squared (seaborn's stripplot takes its square root, the diameter)."""
BOX_JITTER, STRIP_JITTER = 0.16, 0.27
"""Seaborn's jitter: the half-width of the spread as a share of a category, divided among the dodged hue levels, so
points stay inside their box's slot (0.16 of 0.8) or their loss's strip (a third of 0.8)."""
PANEL_ORDERS: dict[str, tuple[str, ...]] = {
    "dataset": tuple(style.DATASET_LABELS),
    "space": style.SPACE_ORDER,
}


def distribution_rows(trials: pd.DataFrame, reruns: bool = False, objective: str = "fd") -> pd.DataFrame:
    """The points of fid_distributions (or, with `reruns`, rerun_distributions): a row per completed trial with an FD.

    A trial that diverged is a point at its best FD before divergence; one that diverged before any evaluation (FD
    +-inf) and a failed one have no FD and no row (the figure counts them under their loss instead). Columns dataset,
    objective (one panel each), study, trial, loss, space, value.
    """
    return _scored(_finished(trials, reruns, objective), "value", ["dataset", "objective"])


def paper_rows(trials: pd.DataFrame, reruns: bool = False, objective: str = "fd") -> pd.DataFrame:
    """The paper's numbers that fid_distributions and budget_curves (or, with `reruns`, rerun_distributions) draw.

    A row per (dataset, objective, loss) of their trials whose objective is the paper's metric, Inception FID of as
    many samples (`tables.paper_numbers`); none for a domain FD, which the paper never measured. Columns
    tables.PAPER_COLUMNS.
    """
    return paper_numbers(_finished(trials, reruns, objective))


def fid_distributions(trials: pd.DataFrame) -> Figure:
    """FD of every completed search trial per loss, wide and narrow space side by side; one panel per dataset and FD.

    Trials that diverged are points at their best FD before divergence and are counted under their loss's label; those
    that diverged before any evaluation (and failed trials) have no FD to draw and are counted there too. Where the
    paper reports the same metric, its number for each loss is a dashed line across the loss's slot.
    """
    return _distribution_figure(trials, "{fd} of every completed trial of each search (lower is better)", "fd")


def rerun_distributions(trials: pd.DataFrame, objective: str = "fd") -> Figure:
    """Best score of each loss's chosen setting retrained with different seeds: the spread a single run hides.

    Where the paper reports the same metric, its mean ± std over its seeds is a dashed line and band per loss.
    """
    reruns = _finished(trials, True, objective)
    seeds = reruns[reruns["state"] == "COMPLETE"].groupby("study").size()
    count = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    kind = OBJECTIVES[objective]
    title = f"Best {kind.title} of the chosen setting retrained with {count} seeds ({kind.better})"
    return _distribution_figure(trials, title, objective, reruns=True)


def budget_frame(trials: pd.DataFrame, draws: int = 2000, seed: int = 0, objective: str = "fd") -> pd.DataFrame:
    """Every search study's budget curve: the expected best score (minimum FD, most modes) of k of its completed
    trials, k = 1..n.

    Trials that diverged before any evaluation are among them (+-inf: tried, never best). Columns study, loss,
    dataset, space, objective, then bootstrap_minimum's k, mean, lower, upper, exact, unscored, trials, unscored_trials
    (for a score where higher is better, the bootstrap of the minimum of its negation, turned back).
    """
    searches = _finished(trials, False, objective)
    done = searches[searches["state"] == "COMPLETE"]
    curves = [
        bootstrap_best(group["value"].to_numpy(), OBJECTIVES[objective].higher_is_better, draws, seed).assign(
            **dict(zip(BUDGET_KEYS, keys, strict=True))
        )
        for keys, group in done.groupby(BUDGET_KEYS)
    ]
    frame = pd.concat(curves, ignore_index=True)
    return frame[[*BUDGET_KEYS, *(column for column in frame if column not in BUDGET_KEYS)]]


def budget_curves(trials: pd.DataFrame, draws: int = 2000, seed: int = 0, objective: str = "fd") -> Figure:
    """Expected best score against the number of trials a researcher can afford, a line and 95% band per loss.

    Where the paper reports the same metric, its number for each loss is a dotted line in the loss's colour: where
    the loss's curve levels off against it says whether the search found what the paper's did.
    """
    curves = budget_frame(trials, draws, seed, objective)
    paper = paper_rows(trials, objective=objective)
    kind = OBJECTIVES[objective]
    palette = style.loss_palette(style.losses_in(curves))
    panels = _panels(curves, ["dataset", "space", "objective"])
    figure, axes = _grid(len(panels))
    for ax, (dataset, space, key) in zip(axes, panels, strict=True):
        panel = _select(curves, dataset=dataset, space=space, objective=key)
        reported = _select(paper, dataset=dataset, objective=key)
        reported = reported[reported["loss"].isin(panel["loss"])]
        # A band whose worse end is infinite (a search of that size often ends with nothing) runs to the panel's edge.
        bounds = pd.concat([panel["lower"], panel["upper"], panel["mean"], reported["mean"]])
        finite = bounds[np.isfinite(bounds.astype(float))]
        edge = _band_edge(finite, kind.higher_is_better)
        for loss, mean in zip(reported["loss"], reported["mean"], strict=True):
            ax.axhline(mean, color=palette[loss], linestyle=":", linewidth=1.5, gid=PAPER_GID)
        for loss in style.losses_in(panel):
            colour = palette[loss]
            for _, curve in _select(panel, loss=loss).groupby("study"):
                ax.plot(curve["k"], curve["mean"], color=colour, marker="o", markersize=3, label=style.loss_label(loss))
                lower, upper = (curve[end].where(np.isfinite(curve[end]), edge) for end in ("lower", "upper"))
                ax.fill_between(curve["k"], lower, upper, color=colour, alpha=0.15, linewidth=0)
        if (panel["unscored_trials"] > 0).any():
            ax.set_ylim(**{"bottom" if kind.higher_is_better else "top": edge})
            counts = panel.groupby("loss")["unscored_trials"].first()
            ax.text(
                0.98,
                0.98,
                "diverged before any evaluation:\n"
                + "\n".join(f"{style.loss_label(loss)}: {counts[loss]}" for loss in style.losses_in(panel)),
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(
            title=f"{style.dataset_label(dataset)}, {style.space_label(space)}",
            xlabel="number of trials (budget)",
            ylabel=f"expected {'maximum' if kind.higher_is_better else 'minimum'}\n{_wrap(_in_sentence(key))}",
        )
    handles, labels = _loss_handles(style.losses_in(curves), palette, linestyle="-")
    if len(paper):
        handles.append(Line2D([], [], color=NEUTRAL, linestyle=":", linewidth=1.5))
        labels.append(_paper_label(paper, "mean", "dotted, in the loss's colour"))
    _legend(figure, handles, labels)
    title = (
        f"Expected best {kind.title} of a random search with a budget of k trials, diverged trials included\n"
        f"(line: bootstrap mean of the searches that scored; band: middle 95% of searches; {kind.better})"
    )
    figure.suptitle(style.distance_title(title, curves["objective"].unique()))
    return figure


def _in_sentence(key: str) -> str:
    """A metric's label after other words: 'modes covered (...)', but 'FD (...)' keeps its capitals."""
    label = style.metric_label(key)
    return label if label.split()[0].isupper() else label[:1].lower() + label[1:]


def _band_edge(finite: pd.Series, higher_is_better: bool) -> float:
    """Where a budget band with an infinite worse end stops: a little beyond the panel's finite values on that side
    (above them for FD, below them for modes covered)."""
    if finite.empty:
        return 0.0 if higher_is_better else 1.0
    low, high = float(finite.min()), float(finite.max())
    margin = 0.05 * max(high - low, abs(high), 1e-12)
    return low - margin if higher_is_better else high + margin


def sensitivity_rows(trials: pd.DataFrame, dataset: str, objective: str = "fd") -> pd.DataFrame:
    """The points of sensitivity: per panel, each completed search trial on `dataset` with a score and that parameter.

    A panel is an (objective, parameter) whose parameter took two or more values among those trials; a trial that
    diverged before any evaluation has no FD to place. Columns objective, parameter, study, trial, loss, space,
    setting (the parameter's value), value.
    """
    done, panels = _sensitivity_trials(trials, dataset, objective)
    return pd.concat([_parameter_rows(done, *panel) for panel in panels], ignore_index=True)


def sensitivity(trials: pd.DataFrame, dataset: str, objective: str = "fd") -> Figure:
    """The score of every completed search trial on `dataset` against each parameter the searches varied, hue = loss.

    Log-uniform parameters get a log axis; parameters searched as a choice are strips of jittered points.
    """
    done, panels = _sensitivity_trials(trials, dataset, objective)
    points = sensitivity_rows(trials, dataset, objective)
    kinds = _parameter_kinds()
    losses = style.losses_in(done)
    palette = style.loss_palette(losses)
    figure, axes = _grid(len(panels), columns=4)
    for ax, (key, parameter) in zip(axes, panels, strict=True):
        rows = _select(points, objective=key, parameter=parameter)
        if kinds[parameter] & {"uniform", "log_uniform"}:
            _scatter(ax, rows.assign(setting=rows["setting"].astype(float)), "setting", "value", palette)
            if "log_uniform" in kinds[parameter]:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # labels within a decade would overlap
        else:
            _strips(ax, rows, losses, palette)
        ax.set(xlabel=style.parameter_label(parameter), ylabel=_wrap(style.metric_label(key)))
    loss_handles, loss_labels = _loss_handles(losses, palette)
    space_handles, space_labels = _space_handles(style.in_order(done["space"].dropna(), style.SPACE_ORDER))
    _legend(figure, loss_handles + space_handles, loss_labels + space_labels)
    kind = OBJECTIVES[objective]
    title = f"{kind.title} against each searched parameter on {style.dataset_label(dataset)} ({kind.better})"
    figure.suptitle(style.distance_title(title, done["objective"].unique()))
    return figure


def polygon_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The points of polygon_scores: a row per completed search trial with polygon precision, recall and F1.

    Columns dataset and samples (one pair of panels each), study, trial, loss, space, precision, recall, f1.
    """
    panels = _polygon_panels(trials)
    if not panels:
        raise ValueError(f"no search study has polygon precision, recall and F1 scores among: {_study_names(trials)}")
    return pd.concat([_polygon_points(*panel) for panel in panels], ignore_index=True)


def polygon_scores(trials: pd.DataFrame) -> Figure:
    """Precision against recall, and F1, of every completed search trial of the studies scored on polygons."""
    points = polygon_rows(trials)
    panels = _polygon_panels(trials)
    finished = pd.concat([rows for *_, rows in panels])
    losses = style.losses_in(finished)
    palette = style.loss_palette(losses)
    figure, axes = _grid(2 * len(panels), columns=2, size=POLYGON_PANEL_SIZE)
    for (dataset, samples, keys, rows), scatter_ax, f1_ax in zip(panels, axes[::2], axes[1::2], strict=True):
        panel = _select(points, dataset=dataset, samples=samples)
        _scatter(scatter_ax, panel, "precision", "recall", palette, clip_on=False)
        scatter_ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            title=f"{style.dataset_label(dataset)}: precision and recall",
            xlabel=f"{style.metric_label(keys['precision'])}\nshare of samples near a test polygon",
            ylabel=f"{style.metric_label(keys['recall'])}\nshare of test polygons near a sample",
        )
        _distribution(f1_ax, panel.rename(columns={"f1": "value"}), rows, palette)
        f1_ax.set(
            title=f"{style.dataset_label(dataset)}: F1 (higher is better)",
            xlabel="loss",
            ylabel=_wrap(style.metric_label(keys["f1"])),
        )
    loss_handles, loss_labels = _loss_handles(losses, palette)
    space_handles, space_labels = _space_handles(style.in_order(finished["space"].dropna(), style.SPACE_ORDER))
    _legend(figure, loss_handles + space_handles, loss_labels + space_labels)
    figure.suptitle("Polygon scores of every completed trial: precision, recall and F1")
    return figure


def mode_collapse_rows(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The points of mode_collapse: a row per completed search trial on `dataset` and mode-collapse score it has.

    Each trial's scores are those of its best evaluation. Columns score, key (one panel each), study, trial, loss,
    space, value.
    """
    panels = _mode_collapse_panels(trials, dataset)
    if not panels:
        datasets = ", ".join(mode_collapse_datasets(trials)) or "none"
        raise ValueError(
            f"no completed search trial on {dataset!r} has mode-collapse scores; datasets with them: {datasets}"
        )
    return pd.concat([_scored(rows, key).assign(score=score, key=key) for score, key, rows in panels])[
        ["score", "key", *POINT_COLUMNS, "value"]
    ].reset_index(drop=True)


def mode_collapse(trials: pd.DataFrame, dataset: str) -> Figure:
    """Each mode-collapse score of the completed search trials on `dataset`: box and points per loss and space.

    FD folds sample quality and diversity into one number; these scores take them apart (precision, density and the
    high-quality share measure quality; recall, coverage, support, classes and modes measure how much of the data is
    covered), so a loss that reaches a good FD while dropping part of the data shows it here. One panel per metric
    key; a count with a known ceiling (every class, every mode) has a dashed line there, labelled MAXIMUM_LABEL.
    """
    points = mode_collapse_rows(trials, dataset)
    panels = _mode_collapse_panels(trials, dataset)
    shown = pd.concat([rows for *_, rows in panels])
    palette = style.loss_palette(style.losses_in(shown))
    figure, axes = _grid(len(panels), size=_loss_panel_size(shown, MODE_COLLAPSE_PANEL_SIZE))
    for ax, (score, key, rows) in zip(axes, panels, strict=True):
        higher, meaning = MODE_COLLAPSE_PANELS[score]
        _distribution(ax, _select(points, key=key), rows, palette, clip_on=False)  # whole points on fixed bounds
        ax.set(
            title=f"{style.SCORE_LABELS[score]} ({'higher' if higher else 'lower'} is better)\n{meaning}",
            xlabel="loss",
            ylabel=_wrap(style.metric_label(key)),
        )
        _score_axis(ax, score, _most_possible(score, dataset))
    spaces = style.in_order(shown["space"].dropna(), style.SPACE_ORDER)
    handles, labels = _space_handles(spaces, boxes=True)
    if any(_most_possible(score, dataset) is not None for score, *_ in panels):
        handles.append(Line2D([], [], color=NEUTRAL, linestyle="--", linewidth=1))
        labels.append(MAXIMUM_LABEL)
    _legend(figure, handles, labels)
    figure.suptitle(
        f"Mode collapse on {style.dataset_label(dataset)}: every completed search trial at its best evaluation"
    )
    return figure


def has_searches(trials: pd.DataFrame, objective: str = "fd") -> bool:
    """Whether budget_curves (and for FD fid_distributions) has something to draw: a completed search trial judged
    by the objective."""
    return not _completed_searches(trials, objective).empty


def sensitivity_datasets(trials: pd.DataFrame, objective: str = "fd") -> list[str]:
    """The datasets sensitivity can draw: a parameter took two or more values among their completed searches."""
    done = _completed_searches(trials, objective)
    return [dataset for dataset in _datasets(done) if _sensitivity_panels(_select(done, dataset=dataset))]


def has_reruns(trials: pd.DataFrame, objective: str = "fd") -> bool:
    """Whether rerun_distributions has something to draw: a completed rerun trial judged by the objective."""
    return bool((_judged_by(trials, True, objective)["state"] == "COMPLETE").any())


def has_polygon_scores(trials: pd.DataFrame) -> bool:
    """Whether polygon_scores has something to draw: a search study with polygon precision, recall and F1."""
    return bool(_polygon_panels(trials))


def mode_collapse_datasets(trials: pd.DataFrame) -> list[str]:
    """The datasets mode_collapse can draw: a completed search trial there has a mode-collapse score."""
    return [dataset for dataset in _datasets(_finished_searches(trials)) if _mode_collapse_panels(trials, dataset)]


def save_figure(figure: Figure, directory: str | Path, name: str) -> list[Path]:
    """Writes `<directory>/<name>.png` (150 dpi, for the README) and `.svg` (for print); the figure stays open."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{name}.{suffix}" for suffix in ("png", "svg")]
    for path in paths:
        figure.savefig(path, dpi=150, bbox_inches="tight")
    return paths


def _judged_by(trials: pd.DataFrame, reruns: bool, objective: str) -> pd.DataFrame:
    """Finished (COMPLETE or FAIL) trials of studies judged by `objective` (OBJECTIVES), of reruns or of searches.

    A trial that failed before its first evaluation has no objective of its own and takes its study's, so it is
    still counted with its study.
    """
    keys = trials["objective"].fillna(trials.groupby("study")["objective"].transform("first"))
    judged = keys.map(OBJECTIVES[objective].judges).astype(bool)
    chosen = judged & trials["state"].isin(FINISHED) & ~attempts(trials) & (trials["rerun_of"].notna() == reruns)
    return trials.assign(objective=keys)[chosen]


def _finished(trials: pd.DataFrame, reruns: bool, objective: str) -> pd.DataFrame:
    """_judged_by, at least one of them completed, or an error naming the studies there are."""
    finished = _judged_by(trials, reruns, objective)
    if reruns and finished.empty:
        raise ValueError(f"no rerun studies among: {_study_names(trials)}")
    names = _study_names(finished if reruns else trials)
    kind = "rerun trial" if reruns else f"search trial {OBJECTIVES[objective].judged}"
    _require_complete(finished, f"no completed {kind} among: {names}")
    return finished


def _finished_searches(trials: pd.DataFrame) -> pd.DataFrame:
    """Finished trials of searches, whatever their objective: the scores beside FD are measured in every study."""
    return trials[trials["rerun_of"].isna() & trials["state"].isin(FINISHED) & ~attempts(trials)]


def _completed_searches(trials: pd.DataFrame, objective: str = "fd") -> pd.DataFrame:
    searches = _judged_by(trials, False, objective)
    return searches[searches["state"] == "COMPLETE"]


def _scored(finished: pd.DataFrame, column: str, keys: list[str] | None = None) -> pd.DataFrame:
    """The points a panel draws: completed trials with a finite `column`, as `keys`, POINT_COLUMNS and value.

    A failed trial has no score, and one that diverged before any evaluation has +-inf: neither can be placed.
    """
    done = finished[(finished["state"] == "COMPLETE") & np.isfinite(finished[column].astype(float))]
    columns = [*(keys or []), *POINT_COLUMNS]
    return done[columns].assign(value=done[column].astype(float)).reset_index(drop=True)


def _datasets(frame: pd.DataFrame) -> list[str]:
    return style.in_order(frame["dataset"].dropna(), PANEL_ORDERS["dataset"])


def _sensitivity_trials(
    trials: pd.DataFrame, dataset: str, objective: str
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Completed searches judged by `objective` on `dataset` and their panels, or an error that says what there is
    instead."""
    done = _completed_searches(trials, objective)
    if not (done["dataset"] == dataset).any():
        datasets = ", ".join(_datasets(done)) or "none"
        raise ValueError(
            f"no completed search trial {OBJECTIVES[objective].judged} on {dataset!r}; datasets here: {datasets}"
        )
    done = _select(done, dataset=dataset)
    panels = _sensitivity_panels(done)
    if not panels:
        raise ValueError(f"no searched parameter takes two or more values among the trials on {dataset!r}")
    return done, panels


def _sensitivity_panels(done: pd.DataFrame) -> list[tuple[str, str]]:
    """(objective, parameter) for each parameter with two or more values among completed trials of one objective.

    Discriminator batch norm is left out where no trial's backbone has any (the mixtures' MLP pair): drawn by the
    search but applied nowhere, its panel would show noise as if it were a finding.
    """
    return [
        (objective, parameter)
        for objective in sorted(done["objective"].unique())
        for parameter in parameter_names()
        if parameter in done
        and _select(done, objective=objective)[parameter].nunique() >= 2
        and (parameter != "d_batch_norm" or _apply_batch_norm(_select(done, objective=objective)))
    ]


def _apply_batch_norm(trials: pd.DataFrame) -> bool:
    """Whether some trial's backbone has batch norm for d_batch_norm to switch (unknown backbones are assumed to)."""
    return any(not isinstance(backbone, str) or uses_d_batch_norm(backbone) for backbone in trials["backbone"])


def _parameter_rows(done: pd.DataFrame, objective: str, parameter: str) -> pd.DataFrame:
    """One sensitivity panel's points: the trials of `objective` that set `parameter` and have an FD to place.

    The setting is an object column, so a choice keeps its type (True, not 1.0) when stacked with numeric panels.
    """
    rows = _select(done, objective=objective).dropna(subset=[parameter])
    points = _scored(rows.assign(setting=rows[parameter].astype(object)), "value", ["setting"])
    return points.assign(objective=objective, parameter=parameter)[
        ["objective", "parameter", *POINT_COLUMNS, "setting", "value"]
    ]


def _require_complete(frame: pd.DataFrame, message: str) -> None:
    if not (frame["state"] == "COMPLETE").any():
        raise ValueError(message)


def _study_names(trials: pd.DataFrame) -> str:
    return ", ".join(sorted(trials["study"].dropna().unique())) or "no studies"


def _select(frame: pd.DataFrame, **values: Any) -> pd.DataFrame:
    mask = np.logical_and.reduce([frame[column] == value for column, value in values.items()])
    return frame[mask]


def _panels(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """The frame's distinct combinations of `columns`, datasets, spaces and losses in their usual order."""
    keys = [
        style.loss_rank if column == "loss" else style.order_key(PANEL_ORDERS.get(column, ())) for column in columns
    ]
    combinations = frame[columns].dropna().drop_duplicates().itertuples(index=False, name=None)
    return sorted(combinations, key=lambda values: tuple(key(value) for key, value in zip(keys, values, strict=True)))


def _wrap(label: str) -> str:
    """A metric label on two lines, name above (features, samples), so it fits along a panel's y axis."""
    return label.replace(" (", "\n(", 1)


def _loss_panel_size(rows: pd.DataFrame, size: tuple[float, float]) -> tuple[float, float]:
    """Wide enough for every loss's label side by side: seven losses in one panel would overlap at 4 inches."""
    slots = len(style.losses_in(rows)) * max(1, rows["space"].nunique())
    return max(size[0], 0.8 * slots + 1.2), size[1]


def _grid(count: int, columns: int = 3, size: tuple[float, float] = PANEL_SIZE) -> tuple[Figure, list[Axes]]:
    """`count` panels, `columns` to a row, laid out with room for a suptitle above and a legend below."""
    rows = math.ceil(count / columns)
    columns = math.ceil(count / rows)  # balanced rows: 5 panels as 3 + 2, not 4 + 1
    figure, axes = plt.subplots(
        rows, columns, figsize=(size[0] * columns, size[1] * rows), layout="constrained", squeeze=False
    )
    panels = list(axes.flat)
    for spare in panels[count:]:
        spare.remove()
    return figure, panels[:count]


def _distribution_figure(trials: pd.DataFrame, title: str, objective: str, reruns: bool = False) -> Figure:
    """Box and points per loss of distribution_rows, one panel per (dataset, objective key) of the finished trials
    judged by `objective`, and the paper's numbers of paper_rows across their losses' slots; `title` may name the
    distance `{fd}`."""
    finished = _finished(trials, reruns, objective)
    points = distribution_rows(trials, reruns, objective)
    paper = paper_rows(trials, reruns, objective)
    palette = style.loss_palette(style.losses_in(finished))
    panels = _panels(finished, ["dataset", "objective"])
    figure, axes = _grid(len(panels), size=_loss_panel_size(finished, PANEL_SIZE))
    for ax, (dataset, key) in zip(axes, panels, strict=True):
        selection = {"dataset": dataset, "objective": key}
        _distribution(ax, _select(points, **selection), _select(finished, **selection), palette)
        _paper_spans(ax, _select(paper, **selection), style.losses_in(_select(finished, **selection)))
        ax.set(title=style.dataset_label(dataset), xlabel="loss", ylabel=_wrap(style.metric_label(key)))
    handles, labels = _space_handles(style.in_order(finished["space"].dropna(), style.SPACE_ORDER), boxes=True)
    if len(paper):
        handles.append((Patch(**PAPER_BAND), Line2D([], [], color=NEUTRAL, linestyle="--")))
        labels.append(_paper_label(paper, "mean ± std", "dashed line and band"))
    _legend(figure, handles, labels)
    figure.suptitle(style.distance_title(title, finished["objective"].unique()))
    return figure


def _paper_spans(ax: Axes, paper: pd.DataFrame, losses: list[str]) -> None:
    """The paper's mean ± std for each loss of a distribution panel: a dashed line across the loss's slot, above the
    points, and a band of one std either side behind the boxes."""
    for row in paper.itertuples():
        slot = losses.index(row.loss) + np.array([-0.45, 0.45])
        ax.plot(slot, [row.mean, row.mean], color=NEUTRAL, linestyle="--", linewidth=1.2, zorder=4, gid=PAPER_GID)
        ax.fill_between(slot, row.mean - row.std, row.mean + row.std, zorder=1, gid=PAPER_GID, **PAPER_BAND)


def _paper_label(paper: pd.DataFrame, statistic: str, drawn: str) -> str:
    """The legend entry of the paper's numbers: which statistic over how many seeds, from where, and how drawn."""
    seeds = ", ".join(str(int(count)) for count in sorted(paper["seeds"].unique()))
    sources = "; ".join(sorted(paper["source"].unique()))
    return f"paper ({sources}): {statistic} of {seeds} seeds, {drawn}"


@contextmanager
def _fixed_jitter(seed: int = 0) -> Iterator[None]:
    """Seeds NumPy's global generator, which seaborn jitters with, for the length of a draw, then restores it.

    The same frame then always gives the same picture (a saved PNG changes only when the results do), and the
    caller's own random stream is left where it was.
    """
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _distribution(
    ax: Axes, points: pd.DataFrame, finished: pd.DataFrame, palette: dict[str, str], **options: Any
) -> None:
    """Per loss, a box and the jittered points of `points`' value for each space, dodged side by side.

    The loss sets the colour and the x position, the space the dodge slot (seaborn's hue, hue_order the usual space
    order), the box's hatching and the points' marker; hue only colours by space, hence a seaborn call per (loss,
    space) in that loss's colour. The x tick labels name every loss among the `finished` trials in the usual order
    and count those of its trials that diverged (drawn at their best score before it), diverged before any
    evaluation (no score) and failed (no score). `options` go to the points (clip_on=False keeps a point on the edge
    of a fixed axis whole).
    """
    losses = style.losses_in(finished)
    spaces = style.in_order(points["space"].dropna(), style.SPACE_ORDER)
    with _fixed_jitter():
        for (loss, space), group in points.groupby(["loss", "space"]):
            colour = palette[loss]
            placement = {
                "data": group,
                "x": "loss",
                "y": "value",
                "order": losses,
                "hue": "space",
                "hue_order": spaces,
                "dodge": True,
                "palette": dict.fromkeys(spaces, colour),
                "legend": False,
                "ax": ax,
            }
            hatch = style.SPACE_HATCHES.get(space, style.OTHER_SPACE_HATCH)
            sns.boxplot(
                **placement,
                saturation=1,
                gap=BOX_GAP,
                showfliers=False,
                linecolor=colour,
                boxprops={"facecolor": to_rgba(colour, BOX_ALPHA), "hatch": hatch},
                medianprops={"linewidth": 2},
            )
            sns.stripplot(
                **placement, jitter=BOX_JITTER, marker=_marker(space), size=math.sqrt(POINT_AREA), **POINTS, **options
            )
    ax.set_xticks(range(len(losses)), [style.loss_label(loss) + _outcome_counts(finished, loss) for loss in losses])
    ax.set_xlim(-0.5, len(losses) - 0.5)


def _outcome_counts(rows: pd.DataFrame, loss: str) -> str:
    """Lines under a loss's label: how many of its trials diverged (how many before scoring) and failed."""
    trials = rows[rows["loss"] == loss]
    diverged_count, unscored_count = int(diverged(trials).sum()), int(unscored(trials).sum())
    failed = int((trials["state"] == "FAIL").sum())
    outcome = f"{diverged_count} diverged" + (f", {unscored_count} unscored" if unscored_count else "")
    lines = [outcome] if diverged_count else []
    return "".join(f"\n{line}" for line in [*lines, *([f"{failed} failed"] if failed else [])])


def _strips(ax: Axes, rows: pd.DataFrame, losses: list[str], palette: dict[str, str]) -> None:
    """FD per value of a categorical parameter: a strip of jittered points per loss (seaborn's hue), dodged side by
    side; a call per space, whose marker the points take."""
    categories = sorted(rows["setting"].unique())
    with _fixed_jitter():
        for space, group in rows.groupby("space"):
            sns.stripplot(
                data=group,
                x="setting",
                y="value",
                orient="x",
                order=categories,
                hue="loss",
                hue_order=losses,
                palette=palette,
                dodge=True,
                legend=False,
                ax=ax,
                jitter=STRIP_JITTER,
                marker=_marker(space),
                size=math.sqrt(POINT_AREA),
                **POINTS,
            )
    ax.set_xticks(range(len(categories)), [_category_label(value) for value in categories])
    ax.set_xlim(-0.5, len(categories) - 0.5)


def _category_label(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, int | float | np.number) else str(value)


def _scatter(ax: Axes, rows: pd.DataFrame, x: str, y: str, palette: dict[str, str], **options: Any) -> None:
    """Points of `rows` at (x, y): the loss's colour (seaborn's hue) and the space's marker (style)."""
    if rows.empty:
        return
    spaces = style.in_order(rows["space"].dropna(), style.SPACE_ORDER)
    sns.scatterplot(
        data=rows,
        x=x,
        y=y,
        hue="loss",
        hue_order=style.losses_in(rows),
        palette=palette,
        style="space",
        style_order=spaces,
        markers={space: _marker(space) for space in spaces},
        legend=False,
        ax=ax,
        s=POINT_AREA,
        **POINTS,
        **options,
    )


def _marker(space: str) -> str:
    return style.SPACE_MARKERS.get(space, style.OTHER_SPACE_MARKER)


def _parameter_kinds() -> dict[str, set[str]]:
    """How each parameter is searched (uniform, log_uniform, choice, fixed) for any loss in any space.

    A parameter's kind depends on its row of spaces.yaml, not on the losses a selection holds, so a panel keeps its
    axis (log or linear, points or strips) whichever studies are chosen.
    """
    kinds: dict[str, set[str]] = defaultdict(set)
    for loss in LOSSES:
        for space in SPACES:
            for parameter in search_space(loss, space):
                kinds[parameter.name].add(parameter.kind)
    return kinds


def _polygon_panels(trials: pd.DataFrame) -> list[tuple[str, int, dict[str, str], pd.DataFrame]]:
    """(dataset, samples, {score: column}, finished trials) per dataset and sample count of searches scored on
    polygons."""
    searches = _finished_searches(trials)
    panels = []
    for samples, keys in _polygon_keys(trials).items():
        scored = searches.loc[searches[keys["f1"]].notna(), "study"]
        rows = searches[searches["study"].isin(scored)]
        panels.extend(
            (dataset, samples, keys, _select(rows, dataset=dataset)) for (dataset,) in _panels(rows, ["dataset"])
        )
    return panels


def _polygon_points(dataset: str, samples: int, keys: dict[str, str], finished: pd.DataFrame) -> pd.DataFrame:
    """One pair of polygon panels' points: the completed trials with all three scores finite."""
    done = finished[(finished["state"] == "COMPLETE") & np.isfinite(finished[list(keys.values())].astype(float)).all(1)]
    scores = {score: done[key].astype(float) for score, key in keys.items()}
    return done[POINT_COLUMNS].assign(dataset=dataset, samples=samples, **scores)[
        ["dataset", "samples", *POINT_COLUMNS, *POLYGON_SCORES]
    ]


def _polygon_keys(trials: pd.DataFrame) -> dict[int, dict[str, str]]:
    """{samples: {score: column}} for every sample count with all of precision, recall and F1 columns."""
    found: dict[int, dict[str, str]] = defaultdict(dict)
    for column in trials.columns:
        match = POLYGON_KEY.fullmatch(column)
        if match:
            found[int(match["samples"])][match["score"]] = column
    return {samples: keys for samples, keys in sorted(found.items()) if set(keys) == set(POLYGON_SCORES)}


def _mode_collapse_panels(trials: pd.DataFrame, dataset: str) -> list[tuple[str, str, pd.DataFrame]]:
    """(score, key, finished trials of the studies scored with it) per mode-collapse key with a completed score."""
    searches = _select(_finished_searches(trials), dataset=dataset)
    done = searches[searches["state"] == "COMPLETE"]
    panels = []
    for key in mode_collapse_keys(searches.columns):
        score = style.parse_metric(key)[0]
        scored = done.loc[done[key].notna(), "study"]
        if score in MODE_COLLAPSE_PANELS and len(scored):
            panels.append((score, key, searches[searches["study"].isin(scored)]))
    return panels


def _score_axis(ax: Axes, score: str, most: int | None) -> None:
    """A mode-collapse panel's y axis: shares on [0, 1], support on a log scale, counts from 0 in whole numbers up
    to a dashed line at the most they can reach, where that is known."""
    if score in SHARES:
        ax.set_ylim(0, 1)
    elif score == "support_lower":
        ax.set_yscale("log")  # spans orders of magnitude
    else:
        ax.set_ylim(0, None if most is None else most * 1.08)
    if score in COUNTS:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if most is not None:
        ax.axhline(most, color=NEUTRAL, linestyle="--", linewidth=1, zorder=1, label=MAXIMUM_LABEL)


def _most_possible(score: str, dataset: str) -> int | None:
    """The count a generator that covers everything reaches: every class of a labelled set, every mixture mode."""
    if score == "classes" and dataset in LABELLED_DATASETS.names():
        return NUM_CLASSES
    if score == "modes" and dataset in MIXTURES:
        return len(MIXTURES[dataset].centres)
    return None


def _loss_handles(losses: list[str], palette: dict[str, str], linestyle: str = "") -> tuple[list[Any], list[str]]:
    handles = [Line2D([], [], color=palette[loss], marker="o", linestyle=linestyle) for loss in losses]
    return handles, [style.loss_label(loss) for loss in losses]


def _space_handles(spaces: list[str], boxes: bool = False) -> tuple[list[Any], list[str]]:
    """Legend entries for the spaces' markers, and with `boxes` their box hatching, in a neutral colour."""
    handles: list[Any] = []
    for space in spaces:
        marker = Line2D([], [], color=NEUTRAL, marker=_marker(space), linestyle="")
        hatch = style.SPACE_HATCHES.get(space, style.OTHER_SPACE_HATCH)
        box = Patch(facecolor=to_rgba(NEUTRAL, BOX_ALPHA), edgecolor=NEUTRAL, hatch=hatch)
        handles.append((box, marker) if boxes else marker)
    return handles, [style.space_label(space) for space in spaces]


def _legend(figure: Figure, handles: list[Any], labels: list[str]) -> None:
    figure.legend(handles, labels, loc="outside lower center", ncols=len(handles), frameon=False)

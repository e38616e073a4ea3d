"""The paper's figures from a per-trial frame: FD distributions, budget curves, reruns, sensitivity, polygon scores,
mode collapse.

"Are GANs Created Equal?" argues that a loss is judged by the outcomes its hyperparameter search produces, not by
its single best run, so every figure shows every trial (box plus points) or a curve over the search budget. Each
function takes the frame of `frames.per_trial` and returns a matplotlib Figure, so notebooks, tests and scripts draw
identical figures. Two rules keep the figures honest: one panel holds one objective key (FD in different features or
from a different number of samples is a different number), and a loss keeps its colour and position everywhere
(`style`). A frame with nothing to draw is an error that says what the frame holds, never an empty figure.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullFormatter

from ..data.labels import LABELLED_DATASETS, NUM_CLASSES
from ..data.mixtures import MIXTURES
from ..losses import OBJECTIVES
from ..search import SPACES, parameter_names, search_space
from . import style
from .budget import bootstrap_minimum
from .frames import diverged, unscored
from .tables import mode_collapse_keys

__all__ = [
    "budget_curves",
    "budget_frame",
    "fid_distributions",
    "has_polygon_scores",
    "has_reruns",
    "has_searches",
    "mode_collapse",
    "mode_collapse_datasets",
    "polygon_scores",
    "rerun_distributions",
    "save_figure",
    "sensitivity",
    "sensitivity_datasets",
]

FD_PREFIXES = ("eval/fd_", "eval/fid_")
"""Objectives that are Frechet distances: the only ones FD figures draw."""
POLYGON_KEY = re.compile(r"eval/(?P<score>precision|recall|f1)_polygons_n(?P<samples>\d+)")
POLYGON_SCORES = ("precision", "recall", "f1")
FINISHED = ("COMPLETE", "FAIL")
BUDGET_KEYS = ["study", "loss", "dataset", "space", "objective"]
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
    "support_lower": (True, "distinct samples G can draw; the estimate\nitself is infinite when no pair turns up"),
    "duplicates": (False, "how often G repeats itself (birthday test)"),
    "classes": (True, "classes the domain classifier finds"),
    "class_kl": (False, "imbalance of the predicted classes, nats"),
    "modes": (True, "mixture modes with samples near them"),
    "high_quality": (True, "share of samples within 3 std of a mode"),
}
"""The panels of mode_collapse: whether higher is better, and what the score measures. Support is drawn as its 95%
lower bound, which is always finite; the estimate is infinite when no near-duplicate pair was found."""
SHARES = ("precision", "recall", "high_quality")
COUNTS = ("duplicates", "classes", "modes")
BOX_ALPHA = 0.3
NEUTRAL = "0.35"
PANEL_ORDERS: dict[str, tuple[str, ...]] = {
    "dataset": tuple(style.DATASET_LABELS),
    "space": style.SPACE_ORDER,
    "loss": style.LOSS_ORDER,
}


def fid_distributions(trials: pd.DataFrame) -> Figure:
    """FD of every completed search trial per loss, wide and narrow space side by side; one panel per dataset and FD.

    Trials that diverged are points at their best FD before divergence and are counted under their loss's label; those
    that diverged before any evaluation (and failed trials) have no FD to draw and are counted there too.
    """
    return _distribution_figure(_searches(trials), "FD of every completed trial of each search (lower is better)")


def rerun_distributions(trials: pd.DataFrame) -> Figure:
    """Best FD of each loss's chosen setting retrained with different seeds: the spread a single run hides."""
    reruns = _fd_trials(trials, reruns=True)
    if reruns.empty:
        raise ValueError(f"no rerun studies among: {_study_names(trials)}")
    _require_complete(reruns, f"no completed rerun trial among: {_study_names(reruns)}")
    seeds = reruns[reruns["state"] == "COMPLETE"].groupby("study").size()
    count = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    return _distribution_figure(reruns, f"Best FD of the chosen setting retrained with {count} seeds (lower is better)")


def budget_frame(trials: pd.DataFrame, draws: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Every search study's budget curve: the expected minimum FD of k of its completed trials, k = 1..n.

    Trials that diverged before any evaluation are among them (+inf: tried, never best). Columns study, loss,
    dataset, space, objective, then bootstrap_minimum's k, mean, lower, upper, exact, unscored, trials, unscored_trials.
    """
    searches = _searches(trials)
    done = searches[searches["state"] == "COMPLETE"]
    curves = [
        bootstrap_minimum(group["value"].to_numpy(), draws=draws, seed=seed).assign(
            **dict(zip(BUDGET_KEYS, keys, strict=True))
        )
        for keys, group in done.groupby(BUDGET_KEYS)
    ]
    frame = pd.concat(curves, ignore_index=True)
    return frame[[*BUDGET_KEYS, *(column for column in frame if column not in BUDGET_KEYS)]]


def budget_curves(trials: pd.DataFrame, draws: int = 2000, seed: int = 0) -> Figure:
    """Expected best FD against the number of trials a researcher can afford, a line and 95% band per loss."""
    curves = budget_frame(trials, draws, seed)
    palette = style.loss_palette(style.losses_in(curves))
    panels = _panels(curves, ["dataset", "space", "objective"])
    figure, axes = _grid(len(panels))
    for ax, (dataset, space, objective) in zip(axes, panels, strict=True):
        panel = _select(curves, dataset=dataset, space=space, objective=objective)
        # A band whose upper end is infinite (a search of that size often ends with nothing) runs to the panel's top.
        finite = pd.concat([panel["upper"], panel["mean"]]).replace(math.inf, np.nan).dropna()
        top = float(finite.max()) * 1.05 if len(finite) else 1.0
        for loss in style.losses_in(panel):
            colour = palette[loss]
            for _, curve in _select(panel, loss=loss).groupby("study"):
                ax.plot(curve["k"], curve["mean"], color=colour, marker="o", markersize=3, label=style.loss_label(loss))
                upper = curve["upper"].where(np.isfinite(curve["upper"]), top)
                ax.fill_between(curve["k"], curve["lower"], upper, color=colour, alpha=0.15, linewidth=0)
        if (panel["unscored_trials"] > 0).any():
            ax.set_ylim(top=top)
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
            ylabel=_wrap(f"expected minimum {style.metric_label(objective)}"),
        )
    _legend(figure, *_loss_handles(style.losses_in(curves), palette, linestyle="-"))
    figure.suptitle(
        "Expected best FD of a random search with a budget of k trials, diverged trials included\n"
        "(line: bootstrap mean of the searches that scored; band: middle 95% of searches; lower is better)"
    )
    return figure


def sensitivity(trials: pd.DataFrame, dataset: str) -> Figure:
    """FD of every completed search trial on `dataset` against each parameter the searches varied, hue = loss.

    Log-uniform parameters get a log axis; parameters searched as a choice are strips of jittered points.
    """
    done = _completed_searches(trials)
    if not (done["dataset"] == dataset).any():
        datasets = ", ".join(_datasets(done)) or "none"
        raise ValueError(f"no completed search trial with an FD objective on {dataset!r}; datasets here: {datasets}")
    done = _select(done, dataset=dataset)
    panels = _sensitivity_panels(done)
    if not panels:
        raise ValueError(f"no searched parameter takes two or more values among the trials on {dataset!r}")
    kinds = _parameter_kinds()
    losses = style.losses_in(done)
    palette = style.loss_palette(losses)
    figure, axes = _grid(len(panels), columns=4)
    for ax, (objective, parameter) in zip(axes, panels, strict=True):
        rows = _select(done, objective=objective).dropna(subset=[parameter])
        rows = rows[~unscored(rows)]  # diverged before any evaluation: no score to place
        if kinds[parameter] & {"uniform", "log_uniform"}:
            _points(ax, rows, rows[parameter].astype(float), rows["value"], palette)
            if "log_uniform" in kinds[parameter]:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # labels within a decade would overlap
        else:
            _strips(ax, rows, parameter, palette)
        ax.set(xlabel=style.parameter_label(parameter), ylabel=_wrap(style.metric_label(objective)))
    loss_handles, loss_labels = _loss_handles(losses, palette)
    space_handles, space_labels = _space_handles(style.in_order(done["space"].dropna(), style.SPACE_ORDER))
    _legend(figure, loss_handles + space_handles, loss_labels + space_labels)
    figure.suptitle(f"FD against each searched parameter on {style.dataset_label(dataset)} (lower is better)")
    return figure


def polygon_scores(trials: pd.DataFrame) -> Figure:
    """Precision against recall, and F1, of every completed search trial of the studies scored on polygons."""
    panels = _polygon_panels(trials)
    if not panels:
        raise ValueError(f"no search study has polygon precision, recall and F1 scores among: {_study_names(trials)}")
    losses = style.losses_in(pd.concat([rows for *_, rows in panels]))
    palette = style.loss_palette(losses)
    figure, axes = _grid(2 * len(panels), columns=2, size=POLYGON_PANEL_SIZE)
    for (dataset, keys, rows), scatter_ax, f1_ax in zip(panels, axes[::2], axes[1::2], strict=True):
        done = rows[rows["state"] == "COMPLETE"].dropna(subset=list(keys.values()))
        _points(scatter_ax, done, done[keys["precision"]], done[keys["recall"]], palette, clip_on=False)
        scatter_ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            title=f"{style.dataset_label(dataset)}: precision and recall",
            xlabel=f"{style.metric_label(keys['precision'])}\nshare of samples near a test polygon",
            ylabel=f"{style.metric_label(keys['recall'])}\nshare of test polygons near a sample",
        )
        _distribution(f1_ax, rows, keys["f1"], palette)
        f1_ax.set(
            title=f"{style.dataset_label(dataset)}: F1 (higher is better)",
            xlabel="loss",
            ylabel=_wrap(style.metric_label(keys["f1"])),
        )
    loss_handles, loss_labels = _loss_handles(losses, palette)
    spaces = style.in_order(pd.concat([rows["space"] for *_, rows in panels]).dropna(), style.SPACE_ORDER)
    space_handles, space_labels = _space_handles(spaces)
    _legend(figure, loss_handles + space_handles, loss_labels + space_labels)
    figure.suptitle("Polygon scores of every completed trial: precision, recall and F1")
    return figure


def mode_collapse(trials: pd.DataFrame, dataset: str) -> Figure:
    """Each mode-collapse score of the completed search trials on `dataset`: box and points per loss and space.

    FD folds sample quality and diversity into one number; these scores take them apart (precision and the
    high-quality share measure quality; recall, support, classes and modes measure how much of the data is covered),
    so a loss that reaches a good FD while dropping part of the data shows it here. One panel per metric key.
    """
    panels = _mode_collapse_panels(trials, dataset)
    if not panels:
        datasets = ", ".join(mode_collapse_datasets(trials)) or "none"
        raise ValueError(
            f"no completed search trial on {dataset!r} has mode-collapse scores; datasets with them: {datasets}"
        )
    shown = pd.concat([rows for *_, rows in panels])
    palette = style.loss_palette(style.losses_in(shown))
    figure, axes = _grid(len(panels), size=_loss_panel_size(shown, MODE_COLLAPSE_PANEL_SIZE))
    maxima = False
    for ax, (score, key, rows) in zip(axes, panels, strict=True):
        higher, meaning = MODE_COLLAPSE_PANELS[score]
        _distribution(ax, rows, key, palette, clip_on=False)  # whole points on the axes' fixed bounds
        ax.set(
            title=f"{style.SCORE_LABELS[score]} ({'higher' if higher else 'lower'} is better)\n{meaning}",
            xlabel="loss",
            ylabel=_wrap(style.metric_label(key)),
        )
        most = _most_possible(score, dataset)
        if score in SHARES:
            ax.set_ylim(0, 1)
        elif score == "support_lower":
            ax.set_yscale("log")  # spans orders of magnitude
        else:
            ax.set_ylim(0, None if most is None else most * 1.08)
        if score in COUNTS:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if most is not None:
            ax.axhline(most, color=NEUTRAL, linestyle="--", linewidth=1, zorder=1)
            maxima = True
    spaces = style.in_order(pd.concat([rows["space"] for *_, rows in panels]).dropna(), style.SPACE_ORDER)
    handles, labels = _space_handles(spaces, boxes=True)
    if maxima:
        handles.append(Line2D([], [], color=NEUTRAL, linestyle="--", linewidth=1))
        labels.append("maximum possible")
    _legend(figure, handles, labels)
    figure.suptitle(
        f"Mode collapse on {style.dataset_label(dataset)}: every completed search trial at its best evaluation"
    )
    return figure


def has_searches(trials: pd.DataFrame) -> bool:
    """Whether fid_distributions and budget_curves have something to draw: a completed FD search trial."""
    return not _completed_searches(trials).empty


def sensitivity_datasets(trials: pd.DataFrame) -> list[str]:
    """The datasets sensitivity can draw: a parameter took two or more values among their completed searches."""
    done = _completed_searches(trials)
    return [dataset for dataset in _datasets(done) if _sensitivity_panels(_select(done, dataset=dataset))]


def has_reruns(trials: pd.DataFrame) -> bool:
    """Whether rerun_distributions has something to draw: a completed rerun trial with an FD objective."""
    return bool((_fd_trials(trials, reruns=True)["state"] == "COMPLETE").any())


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


def _fd_trials(trials: pd.DataFrame, reruns: bool) -> pd.DataFrame:
    """Finished (COMPLETE or FAIL) trials of FD studies, of reruns or of searches.

    A trial that failed before its first evaluation has no objective of its own and takes its study's, so it is
    still counted with its study.
    """
    objective = trials["objective"].fillna(trials.groupby("study")["objective"].transform("first"))
    is_fd = objective.map(lambda key: isinstance(key, str) and key.startswith(FD_PREFIXES)).astype(bool)
    chosen = is_fd & trials["state"].isin(FINISHED) & (trials["rerun_of"].notna() == reruns)
    return trials.assign(objective=objective)[chosen]


def _searches(trials: pd.DataFrame) -> pd.DataFrame:
    """Finished trials of FD searches, at least one of them completed, or an error naming the studies there are."""
    searches = _fd_trials(trials, reruns=False)
    _require_complete(searches, f"no completed search trial with an FD objective among: {_study_names(trials)}")
    return searches


def _finished_searches(trials: pd.DataFrame) -> pd.DataFrame:
    """Finished trials of searches, whatever their objective: the scores beside FD are measured in every study."""
    return trials[trials["rerun_of"].isna() & trials["state"].isin(FINISHED)]


def _completed_searches(trials: pd.DataFrame) -> pd.DataFrame:
    searches = _fd_trials(trials, reruns=False)
    return searches[searches["state"] == "COMPLETE"]


def _datasets(frame: pd.DataFrame) -> list[str]:
    return style.in_order(frame["dataset"].dropna(), PANEL_ORDERS["dataset"])


def _sensitivity_panels(done: pd.DataFrame) -> list[tuple[str, str]]:
    """(objective, parameter) for each parameter with two or more values among completed trials of one objective."""
    return [
        (objective, parameter)
        for objective in sorted(done["objective"].unique())
        for parameter in parameter_names()
        if parameter in done and _select(done, objective=objective)[parameter].nunique() >= 2
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
    keys = [style.order_key(PANEL_ORDERS.get(column, ())) for column in columns]
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


def _distribution_figure(rows: pd.DataFrame, title: str) -> Figure:
    """Box and points per loss of the trials' values, one panel per (dataset, objective)."""
    palette = style.loss_palette(style.losses_in(rows))
    panels = _panels(rows, ["dataset", "objective"])
    figure, axes = _grid(len(panels), size=_loss_panel_size(rows, PANEL_SIZE))
    for ax, (dataset, objective) in zip(axes, panels, strict=True):
        _distribution(ax, _select(rows, dataset=dataset, objective=objective), "value", palette)
        ax.set(title=style.dataset_label(dataset), xlabel="loss", ylabel=_wrap(style.metric_label(objective)))
    _legend(figure, *_space_handles(style.in_order(rows["space"].dropna(), style.SPACE_ORDER), boxes=True))
    figure.suptitle(title)
    return figure


def _distribution(ax: Axes, rows: pd.DataFrame, column: str, palette: dict[str, str], **options: Any) -> None:
    """Per loss, a box and the points of `column` for each space side by side, in the loss's colour.

    The x tick labels name the losses in the usual order and count their trials that diverged (drawn at their best
    score before it), those that diverged before any evaluation (no score) and failed ones (no score).
    `options` go to the points (clip_on=False keeps a point on the edge of a fixed axis whole).
    """
    losses = style.losses_in(rows)
    done = rows[(rows["state"] == "COMPLETE") & np.isfinite(rows[column].astype(float))]
    spaces = style.in_order(done["space"].dropna(), style.SPACE_ORDER)
    width = 0.8 / max(len(spaces), 1)
    slots = {space: (slot - (len(spaces) - 1) / 2) * width for slot, space in enumerate(spaces)}
    centres = done["loss"].map({loss: position for position, loss in enumerate(losses)}) + done["space"].map(slots)
    jitter = np.random.default_rng(0).uniform(-width / 5, width / 5, len(done))
    for (loss, space), group in done.groupby(["loss", "space"]):
        ax.boxplot(
            group[column].to_numpy(dtype=float),
            positions=[centres[group.index[0]]],
            widths=0.7 * width,
            patch_artist=True,
            showfliers=False,
            manage_ticks=False,
            boxprops={
                "facecolor": to_rgba(palette[loss], BOX_ALPHA),
                "edgecolor": palette[loss],
                "hatch": style.SPACE_HATCHES.get(space, style.OTHER_SPACE_HATCH),
            },
            medianprops={"color": palette[loss], "linewidth": 2},
            whiskerprops={"color": palette[loss]},
            capprops={"color": palette[loss]},
        )
    _points(ax, done, centres + jitter, done[column], palette, **options)
    ax.set_xticks(range(len(losses)), [style.loss_label(loss) + _outcome_counts(rows, loss) for loss in losses])
    ax.set_xlim(-0.5, len(losses) - 0.5)


def _outcome_counts(rows: pd.DataFrame, loss: str) -> str:
    """Lines under a loss's label: how many of its trials diverged (how many before scoring) and failed."""
    trials = rows[rows["loss"] == loss]
    diverged_count, unscored_count = int(diverged(trials).sum()), int(unscored(trials).sum())
    failed = int((trials["state"] == "FAIL").sum())
    outcome = f"{diverged_count} diverged" + (f", {unscored_count} unscored" if unscored_count else "")
    lines = [outcome] if diverged_count else []
    return "".join(f"\n{line}" for line in [*lines, *([f"{failed} failed"] if failed else [])])


def _strips(ax: Axes, rows: pd.DataFrame, parameter: str, palette: dict[str, str]) -> None:
    """FD per value of a categorical parameter: a strip of jittered points per loss, losses side by side."""
    categories = sorted(rows[parameter].unique())
    losses = style.losses_in(rows)
    width = 0.8 / len(losses)
    offsets = {loss: (slot - (len(losses) - 1) / 2) * width for slot, loss in enumerate(losses)}
    centres = rows[parameter].map({value: position for position, value in enumerate(categories)})
    jitter = np.random.default_rng(0).uniform(-width / 3, width / 3, len(rows))
    _points(ax, rows, centres + rows["loss"].map(offsets) + jitter, rows["value"], palette)
    ax.set_xticks(range(len(categories)), [_category_label(value) for value in categories])
    ax.set_xlim(-0.5, len(categories) - 0.5)


def _category_label(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, int | float | np.number) else str(value)


def _points(ax: Axes, rows: pd.DataFrame, x: pd.Series, y: pd.Series, palette: dict[str, str], **options: Any) -> None:
    """One scatter layer per (loss, space): the loss's colour and the space's marker."""
    for (loss, space), group in rows.groupby(["loss", "space"]):
        ax.scatter(
            x[group.index],
            y[group.index],
            color=palette[loss],
            marker=style.SPACE_MARKERS.get(space, style.OTHER_SPACE_MARKER),
            s=22,
            edgecolors="white",
            linewidths=0.5,
            zorder=3,
            **options,
        )


def _parameter_kinds() -> dict[str, set[str]]:
    """How each parameter is searched (uniform, log_uniform, choice, fixed) for any loss in any space.

    A parameter's kind depends on its row of spaces.yaml, not on the losses a selection holds, so a panel keeps its
    axis (log or linear, points or strips) whichever studies are chosen.
    """
    kinds: dict[str, set[str]] = defaultdict(set)
    for loss in OBJECTIVES:
        for space in SPACES:
            for parameter in search_space(loss, space):
                kinds[parameter.name].add(parameter.kind)
    return kinds


def _polygon_panels(trials: pd.DataFrame) -> list[tuple[str, dict[str, str], pd.DataFrame]]:
    """(dataset, {score: column}, finished trials) per dataset and sample count of searches with polygon scores."""
    searches = _finished_searches(trials)
    panels = []
    for keys in _polygon_keys(trials).values():
        scored = searches.loc[searches[keys["f1"]].notna(), "study"]
        rows = searches[searches["study"].isin(scored)]
        panels.extend((dataset, keys, _select(rows, dataset=dataset)) for (dataset,) in _panels(rows, ["dataset"]))
    return panels


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
        marker = Line2D(
            [], [], color=NEUTRAL, marker=style.SPACE_MARKERS.get(space, style.OTHER_SPACE_MARKER), linestyle=""
        )
        hatch = style.SPACE_HATCHES.get(space, style.OTHER_SPACE_HATCH)
        box = Patch(facecolor=to_rgba(NEUTRAL, BOX_ALPHA), edgecolor=NEUTRAL, hatch=hatch)
        handles.append((box, marker) if boxes else marker)
    return handles, [style.space_label(space) for space in spaces]


def _legend(figure: Figure, handles: list[Any], labels: list[str]) -> None:
    figure.legend(handles, labels, loc="outside lower center", ncols=len(handles), frameon=False)

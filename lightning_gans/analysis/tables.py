"""The numbers behind the figures: a line per study, the paper's rerun table (best FD, mean ± std over seeds), the
paper's own numbers where a study measured the same thing, and the mode-collapse scores per loss.

Everything here takes the per-trial frame (`frames.per_trial`) and returns a frame, so the terminal report, the
notebooks and the tests all read the same numbers.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from ..search.spaces import parameter_names
from .budget import quantiles
from .frames import attempts, diverged, unscored
from .literature import RERUNS, paper_score
from .style import DATASET_LABELS, dataset_label, loss_label, loss_rank, losses_in, metric_label, order_key

SUMMARY_COLUMNS = (
    "study",
    "complete",
    "diverged",
    "unscored",
    "failed",
    "best",
    "median",
    "q25",
    "q75",
    "authors",
    "paper",
    "best_trial",
    "running",
    "pruned",
    "retried",
    "objective",
    "best_parameters",
)
MODE_COLLAPSE_SCORES = (
    "precision",
    "recall",
    "density",
    "coverage",
    "support",
    "support_lower",
    "duplicates",
    "classes",
    "class_kl",
    "modes",
    "high_quality",
)
"""What an evaluation measures of mode collapse, in the order tables and figures show them."""
MODE_COLLAPSE_MEASURES = ("domain", "inception", "points")
"""Where: in the FD features, or on a mixture's points. Polygon precision and recall belong to the polygon scores."""
DATASET_ORDER = order_key(tuple(DATASET_LABELS))
MODE_COLLAPSE_KEY = re.compile(
    rf"eval/(?P<score>{'|'.join(MODE_COLLAPSE_SCORES)})_(?P<measure>{'|'.join(MODE_COLLAPSE_MEASURES)})_n(?P<samples>\d+)"
)
MODE_COLLAPSE_COLUMNS = ("dataset", "loss", "score", "trials", "median")
PAPER_REPORTED = ("mean", "std", "seeds", "statistic", "source")
"""What paper_numbers takes from each of the paper's records (literature.PaperScore)."""
PAPER_COLUMNS = ("dataset", "objective", "loss", *PAPER_REPORTED)


def study_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """Per study: trial states, the distribution of trial values, the authors' setting's value, the best setting.

    `authors` is trial 0's value (the loss's published setting) for a sweep; reruns have none. `paper` is the paper's
    number for the study's loss and dataset ("mean ± std" over its seeds), only where the study's objective is the
    paper's metric (`paper_numbers`). `diverged` counts the complete trials that diverged (each keeps its best score
    before divergence), `unscored` those of them that had none (value +-inf); they count in the quartiles as the worst
    values, as the reference's sentinel score would.
    """
    rows = [summarize_study(name, study) for name, study in trials.groupby("study", sort=True)]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)).astype({"best_trial": "Int64"})


def summarize_study(name: str, study: pd.DataFrame) -> dict[str, object]:
    complete = study[study["state"] == "COMPLETE"]
    values = complete["value"]
    maximize = (study["direction"] == "maximize").any()  # polygon F1 and mixture modes are maximised
    best = complete.loc[values.idxmax() if maximize else values.idxmin()] if len(complete) else None
    is_sweep = study["rerun_of"].isna().all()
    authors = complete[complete["authors_setting"].astype(bool)] if is_sweep else complete.iloc[:0]
    # Maximised objectives mark unscored trials -inf: negate so that "worst" is +inf for the quantiles either way.
    sign = -1.0 if maximize else 1.0
    q25, median, q75 = (  # + 0.0: a negated zero prints as -0.0
        (sign * quantiles(sign * values.to_numpy(float), [0.25, 0.5, 0.75]) + 0.0) if len(values) else [math.nan] * 3
    )
    if maximize:
        q25, q75 = q75, q25
    paper = paper_numbers(study)
    return {
        "study": name,
        "complete": len(complete),
        "diverged": int(diverged(study).sum()),
        "unscored": int(unscored(study).sum()),
        "failed": int(((study["state"] == "FAIL") & ~attempts(study)).sum()),
        "best": best["value"] if best is not None else math.nan,
        "median": median,
        "q25": q25,
        "q75": q75,
        "authors": authors["value"].iloc[0] if len(authors) else math.nan,
        "paper": mean_std(paper["mean"].iloc[0], paper["std"].iloc[0]) if len(paper) else None,
        "best_trial": int(best["trial"]) if best is not None else None,
        "running": int((study["state"] == "RUNNING").sum()),
        "pruned": int((study["state"] == "PRUNED").sum()),
        "retried": int(attempts(study).sum()),
        "objective": study["objective"].dropna().iloc[0] if study["objective"].notna().any() else None,
        "best_parameters": describe_parameters(best) if best is not None else "",
    }


def describe_parameters(trial: pd.Series) -> str:
    """`name=value` for every parameter the trial has, in the paper's table order, floats to 3 significant digits."""
    parts = []
    for name in parameter_names():
        value = trial.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        parts.append(f"{name}={parameter_text(value)}")
    return ", ".join(parts)


def parameter_text(value: object) -> str:
    """A column with gaps is float even for an integer parameter (n_disc), so integral floats print as integers."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.3g}"
    return str(value)


def rerun_statistics(trials: pd.DataFrame) -> pd.DataFrame:
    """Best FD over the seeds of each rerun study: the paper's third phase, as numbers (std with ddof=1).

    Mean, std, min and max are over the seeds that scored; `diverged` counts the seeds that diverged (scored or not)
    and `unscored` those that diverged before any evaluation, so a setting that only sometimes trains shows it.
    """
    reruns = trials[trials["rerun_of"].notna() & (trials["state"] == "COMPLETE")]
    reruns = reruns.assign(
        scored=reruns["value"].where(~unscored(reruns)), unscored=unscored(reruns), diverged=diverged(reruns)
    )
    grouped = reruns.groupby(["loss", "dataset", "objective"], sort=False)
    statistics = grouped.agg(
        seeds=("value", "count"),
        mean=("scored", "mean"),
        std=("scored", "std"),
        min=("scored", "min"),
        max=("scored", "max"),
        diverged=("diverged", "sum"),
        unscored=("unscored", "sum"),
    ).reset_index()
    order = {loss: index for index, loss in enumerate(losses_in(statistics))}
    return (
        statistics.assign(_order=statistics["loss"].map(order))
        .sort_values(["_order", "dataset"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def rerun_table(trials: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2 layout: a row per loss, a column per dataset and objective, cells "mean ± std".

    Every column names its metric (features and samples), so a domain FD never reads as the paper's FID, and a
    dataset scored with two objectives gets a column each. Where the objective is the paper's metric, a column of
    the paper's own numbers for the same losses follows it (`paper_numbers`).
    """
    statistics = rerun_statistics(trials)
    paper = paper_numbers(statistics)
    measured = statistics.assign(
        column=[objective_column(*pair) for pair in zip(statistics["dataset"], statistics["objective"], strict=True)],
        cell=[rerun_cell(row) for _, row in statistics.iterrows()],
    )
    quoted = paper.assign(
        column=[paper_column(*pair) for pair in zip(paper["dataset"], paper["seeds"], strict=True)],
        cell=[mean_std(*pair) for pair in zip(paper["mean"], paper["std"], strict=True)],
    )
    cells = pd.concat([measured, quoted], ignore_index=True).assign(row=lambda frame: frame["loss"].map(loss_label))
    groups = _ordered(statistics[["dataset", "objective"]].drop_duplicates(), {"dataset": DATASET_ORDER})
    columns = []
    for dataset, objective in groups.itertuples(index=False):
        columns.append(objective_column(dataset, objective))
        beside = quoted[(quoted["dataset"] == dataset) & (quoted["objective"] == objective)]
        columns.extend(beside["column"].unique())
    rows = [loss_label(loss) for loss in losses_in(statistics)]
    table = cells.pivot(index="row", columns="column", values="cell").reindex(index=rows, columns=columns)
    table.index.name, table.columns.name = "loss", None
    return table.fillna("-")


def objective_column(dataset: str, objective: str) -> str:
    """A rerun table column: the dataset and the metric its cells are in."""
    return f"{dataset_label(dataset)}: {metric_label(objective)}"


def paper_column(dataset: str, seeds: int) -> str:
    """The column of the paper's numbers beside a dataset's: the same metric, so only its seeds need saying."""
    return f"{dataset_label(dataset)}: paper ({int(seeds)} seeds)"


def rerun_cell(row: pd.Series) -> str:
    """mean ± std over the seeds that scored, and how many seeds diverged before any evaluation."""
    cell = mean_std(row["mean"], row["std"])
    return cell + (f" ({int(row['unscored'])} of {int(row['seeds'])} unscored)" if row["unscored"] else "")


def mean_std(mean: float, std: float) -> str:
    return f"{mean:.1f} ± {std:.1f}"


def paper_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """The paper's rerun number for each (dataset, objective, loss) of `frame` whose objective is the paper's metric.

    Only the same key counts (FID in Inception features of as many samples as the paper's): a study scored in
    domain features, or from fewer samples, measured another number, and a row here is what puts the paper's number
    beside a study's in the tables and figures. Columns PAPER_COLUMNS, datasets and losses in their usual order.
    """
    rows = []
    groups = frame[["dataset", "objective", "loss"]].dropna().drop_duplicates()
    for dataset, objective, loss in groups.itertuples(index=False):
        score = paper_score(RERUNS, dataset, loss)
        if score is not None and score.is_comparable(objective):
            reported = {column: getattr(score, column) for column in PAPER_REPORTED}
            rows.append({"dataset": dataset, "objective": objective, "loss": loss, **reported})
    return _ordered(pd.DataFrame(rows, columns=list(PAPER_COLUMNS)), {"dataset": DATASET_ORDER, "loss": loss_rank})


def mode_collapse_keys(columns: Iterable[str]) -> list[str]:
    """The mode-collapse score columns among `columns`, by score (MODE_COLLAPSE_SCORES), features, then samples."""
    matches = [match for match in map(MODE_COLLAPSE_KEY.fullmatch, columns) if match]
    ranked = sorted(
        matches,
        key=lambda match: (
            MODE_COLLAPSE_SCORES.index(match["score"]),
            MODE_COLLAPSE_MEASURES.index(match["measure"]),
            int(match["samples"]),
        ),
    )
    return [match.string for match in ranked]


def mode_collapse_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, loss and mode-collapse score: how many completed search trials have it, and their median.

    Columns dataset, loss, score (the metric key), trials, median. A trial counts with its scores at the evaluation
    that gave its value, as in every figure; spaces are pooled, as the paper compares losses. An infinite support
    estimate (no near-duplicate pair found) is a real outcome and counts as larger than any finite one.
    """
    done = trials[trials["rerun_of"].isna() & (trials["state"] == "COMPLETE")]
    keys = mode_collapse_keys(done.columns)
    scores = done[["dataset", "loss", *keys]].melt(["dataset", "loss"], var_name="score").dropna(subset=["value"])
    summary = scores.groupby(["dataset", "loss", "score"])["value"].agg(trials="count", median="median").reset_index()
    ordered = _ordered(summary, {"dataset": DATASET_ORDER, "loss": loss_rank, "score": order_key(keys)})
    return ordered[list(MODE_COLLAPSE_COLUMNS)]


def _ordered(frame: pd.DataFrame, ranks: dict[str, Callable[[str], tuple[int, str]]]) -> pd.DataFrame:
    """Rows sorted by `ranks`' columns, each by its own order (`order_key`), ties kept as they were."""
    ordered = frame.sort_values(list(ranks), key=lambda column: column.map(ranks[column.name]), kind="stable")
    return ordered.reset_index(drop=True)


def save_table(frame: pd.DataFrame, directory: str | os.PathLike, name: str) -> Path:
    path = Path(directory) / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=frame.index.name is not None)
    return path


def markdown(frame: pd.DataFrame, digits: int = 1) -> str:
    """A GitHub-markdown table, for the terminal and for pasting into docs (no extra dependency)."""
    header = ([frame.index.name] if frame.index.name else []) + [str(column) for column in frame.columns]

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.{digits}f}"
        return "-" if value is None or value is pd.NA else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        cells = ([cell(index)] if frame.index.name else []) + [cell(value) for value in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)

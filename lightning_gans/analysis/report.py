"""`lightning-gans report`: the analysis summary in the terminal, straight from a storage or an exported frame.

The same tables the notebooks save (a line per study; the rerun table in the paper's layout), for a quick look
over SSH while a sweep runs, and `--export` to take the frame elsewhere as CSV or Parquet. The paper's numbers stand
beside a study's only where it measured the paper's metric; a domain FD is said to be one, never passed off as FID.
"""

from __future__ import annotations

from pathlib import Path

from jsonargparse import ArgumentParser

from ..search.studies import StorageError, redact
from .frames import add_source_arguments, check_format, load_frame, per_trial, save_frame
from .style import NOT_FID, is_domain_fd, metric_label
from .tables import markdown, paper_numbers, rerun_table, study_summary


def report_command(arguments: list[str]) -> int:
    parser = ArgumentParser(prog="lightning-gans report", description=__doc__.splitlines()[0])
    add_source_arguments(parser)
    parser.add_argument(
        "--export", type=str | None, default=None, help="also write the tidy frame (one row per evaluation) here"
    )
    options = parser.parse_args(arguments)
    try:
        if options.export:
            check_format(Path(options.export))  # before the work, not after it
        frame = load_frame(options.storage, options.study)
    except (StorageError, FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    trials = per_trial(frame)
    summary = study_summary(trials)
    quoted = summary["paper"].notna().any()  # a column of dashes would only suggest the numbers are comparable
    paper = "; paper: the paper's number for the same loss, dataset and metric" if quoted else ""
    print(f"studies in {redact(options.storage)} (best/median/q25/q75/authors: each study's objective, below{paper}):")
    print(markdown(summary.drop(columns=["objective"] if quoted else ["objective", "paper"])))
    objectives = summary["objective"].dropna().unique()
    for objective in objectives:
        names = ", ".join(summary.loc[summary["objective"] == objective, "study"])
        print(f"{objective} = {metric_label(objective)}: {names}")
    if any(is_domain_fd(objective) for objective in objectives):
        print(NOT_FID)
    if trials["rerun_of"].notna().any():
        print("\nreruns: the best setting of each sweep, best value over seeds, mean ± std")
        print(markdown(rerun_table(trials)))
    for statistic, source in paper_numbers(trials)[["statistic", "source"]].drop_duplicates().itertuples(index=False):
        print(f"paper: {statistic}; {source}")
    if options.export:
        print(f"\nwrote {save_frame(frame, options.export)} ({len(frame)} rows, {len(trials)} trials)")
    return 0

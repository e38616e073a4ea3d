"""`lightning-gans report`: the analysis summary in the terminal, straight from a storage or an exported frame.

The same tables the notebooks save (a line per study; the rerun table in the paper's layout), for a quick look
over SSH while a sweep runs, and `--export` to take the frame elsewhere as CSV or Parquet.
"""

from __future__ import annotations

from pathlib import Path

from jsonargparse import ArgumentParser

from ..search.studies import StorageError, redact
from .frames import add_source_arguments, check_format, load_frame, per_trial, save_frame
from .style import metric_label
from .tables import markdown, rerun_table, study_summary


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
    print(f"studies in {redact(options.storage)} (best/median/q25/q75/authors: each study's objective, below):")
    summary = study_summary(trials)
    print(markdown(summary.drop(columns="objective")))
    for objective in summary["objective"].dropna().unique():
        names = ", ".join(summary.loc[summary["objective"] == objective, "study"])
        print(f"{objective} = {metric_label(objective)}: {names}")
    if trials["rerun_of"].notna().any():
        print("\nreruns: the best setting of each sweep, best value over seeds, mean ± std")
        print(markdown(rerun_table(trials)))
    if options.export:
        print(f"\nwrote {save_frame(frame, options.export)} ({len(frame)} rows, {len(trials)} trials)")
    return 0

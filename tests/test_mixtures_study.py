"""The committed mixtures study (docs/studies/mixtures.md) is re-read from its storage alone, as its page says.

`make analysis` on a copy of the committed journal must produce every figure the page shows and tables equal to the
committed ones: the figures and numbers in the docs are what the storage holds, not a hand-edited copy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

STUDY = Path(__file__).resolve().parents[1] / "docs" / "studies" / "mixtures"
SCRIPT = Path(sys.executable).with_name("lightning-gans")


def test_the_committed_study_regenerates_its_figures_and_tables(tmp_path):
    journal = tmp_path / "optuna.journal"
    shutil.copyfile(STUDY / "optuna.journal", journal)  # reading takes the journal's lock: never in the repository
    output = tmp_path / "report"
    result = subprocess.run(
        [str(SCRIPT), "analysis", "--storage", str(journal), "--output", str(output)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    committed = STUDY / "report"
    figures = sorted(path.name for path in (committed / "figures").glob("*.png"))
    assert "mixture_samples_ring8.png" in figures and "budget_curves_modes.png" in figures
    assert figures == sorted(path.name for path in (output / "figures").glob("*.png"))
    tables = sorted(path.name for path in (committed / "tables").glob("*.csv"))
    assert "study_summary.csv" in tables and "length_check.csv" in tables
    assert tables == sorted(path.name for path in (output / "tables").glob("*.csv"))
    for name in tables:
        pd.testing.assert_frame_equal(
            pd.read_csv(output / "tables" / name), pd.read_csv(committed / "tables" / name), rtol=1e-9, obj=name
        )
    shown = re.findall(r"\(mixtures/report/figures/([\w.]+\.png)\)", (STUDY.parent / "mixtures.md").read_text())
    assert "mixture_samples_ring8.png" in shown and set(shown) <= set(figures)  # the page shows what is regenerated

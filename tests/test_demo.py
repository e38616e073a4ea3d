"""`make demo` at a tiny size: every step of a real study runs, and everything it promises is where it says."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from lightning_gans.demo import demo_command
from lightning_gans.search.studies import open_storage


def test_the_demo_runs_a_whole_small_study_and_links_its_outputs(tmp_path, quick_domain_classifier, capsys):
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    status = demo_command(
        [
            "--root", str(runs), "--reports", str(reports), "--losses", "[ns_gan]", "--trials", "2", "--steps", "4",
            "--evaluations", "1", "--samples", "200", "--seeds", "2", "--workers", "1",
            "--notebooks", "[01_fid_distributions]",
        ]
    )  # fmt: skip
    output = capsys.readouterr().out
    assert status == 0, output[-3000:]
    storage = open_storage(str(runs / "optuna.journal")).storage
    for name in ("ns_gan-fashion_mnist-wide", "ns_gan-fashion_mnist-wide-reruns"):
        study = optuna.load_study(study_name=name, storage=storage)
        assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 2
    assert not (runs / "cache").exists()  # the classifier real runs use was there: no demo copy of it
    page = (reports / "index.html").read_text()
    assert '<a href="01_fid_distributions.html">01_fid_distributions</a>' in page
    figures = sorted((reports / "figures").glob("*.png"))
    assert figures and all(f'src="figures/{png.name}"' in page for png in figures)
    assert "| ns_gan-fashion_mnist-wide | 2 | 0 | 0 | 0 |" in output  # the report's table
    assert f"{reports / 'index.html'}  (every figure, table and notebook)" in output

"""The analysis a user runs: tables, `lightning-gans report` and the notebooks executed headless, on a real storage.

Every number checked here is recomputed from the Optuna storage itself, not from the frame the code built.
"""

import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import nbformat
import optuna
import pandas as pd
import pytest
from analysis_fixture import FID_KEY, RERUN_SEEDS, as_inception, build_studies, paper_rerun
from noise import noise_in
from optuna.trial import TrialState

from lightning_gans.analysis.frames import load_frame, per_trial, save_frame
from lightning_gans.analysis.notebooks import notebook_paths
from lightning_gans.analysis.report import report_command
from lightning_gans.analysis.style import NOT_FID
from lightning_gans.analysis.tables import markdown, rerun_statistics, rerun_table, study_summary
from lightning_gans.search.studies import open_storage

SCRIPT = Path(sys.executable).with_name("lightning-gans")
FIGURES = (
    "fid_distributions",
    "budget_curves",
    "rerun_distributions",
    "sensitivity_fashion_mnist",
    "polygon_scores",
    "mode_collapse_fashion_mnist",
    "mode_collapse_ring8",
    "mixture_samples_ring8",
    "budget_curves_modes",
    "sensitivity_ring8_modes",
    "training_curves",
)
DOMAIN_COLUMN = "Fashion-MNIST: FD (domain features, 2,000 samples)"
INCEPTION_COLUMN = "Fashion-MNIST: FID (Inception features, 10,000 samples)"
PAPER_COLUMN = "Fashion-MNIST: paper (50 seeds)"
MAXIMISED = ("-polygons-", "-ring8-")
"""Studies judged by polygon F1 or mixture modes, which are maximised; the others minimise FD."""
DOMAIN_COLLAPSE_SCORES = (
    "precision",
    "recall",
    "density",
    "coverage",
    "support",
    "support_lower",
    "duplicates",
    "classes",
    "class_kl",
)


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    return build_studies(tmp_path_factory.mktemp("studies") / "optuna.journal")


@pytest.fixture(scope="module")
def stored(storage) -> dict[str, list[optuna.trial.FrozenTrial]]:
    """Each study's trials, read with Optuna alone."""
    opened = open_storage(storage).storage
    return {
        summary.study_name: optuna.load_study(study_name=summary.study_name, storage=opened).trials
        for summary in optuna.get_all_study_summaries(opened)
    }


def complete_values(trials: list[optuna.trial.FrozenTrial]) -> list[float]:
    return [trial.value for trial in trials if trial.state == TrialState.COMPLETE]


def best_value(name: str, trials: list[optuna.trial.FrozenTrial]) -> float:
    """The best completed value in the study's own direction."""
    return (max if any(part in name for part in MAXIMISED) else min)(complete_values(trials))


def best_scores(stored: dict[str, list[optuna.trial.FrozenTrial]], dataset: str, loss: str, key: str) -> list[float]:
    """`key` of each completed search trial of `loss` on `dataset`, at the first evaluation that gave its value."""
    scores = []
    for name, trials in stored.items():
        if name.startswith(f"{loss}-{dataset}-") and not name.endswith("-reruns"):
            for trial in trials:
                if trial.state == TrialState.COMPLETE and math.isfinite(trial.value):  # unscored: no evaluation
                    objective = trial.user_attrs["objective"]
                    best = next(e for e in trial.user_attrs["evaluations"] if e[objective] == trial.value)
                    scores.append(best[key])
    return scores


def test_study_summary_equals_the_storage(storage, stored):
    summary = study_summary(per_trial(load_frame(storage))).set_index("study")
    assert sorted(summary.index) == sorted(stored)
    for name, trials in stored.items():
        values = complete_values(trials)
        row = summary.loc[name]
        assert row["complete"] == len(values)
        assert row["failed"] == sum(trial.state == TrialState.FAIL for trial in trials)
        assert row["diverged"] == sum("diverged_at" in trial.user_attrs for trial in trials)
        assert row["running"] == sum(trial.state == TrialState.RUNNING for trial in trials)
        assert row["best"] == best_value(name, trials)
        assert row["median"] == pytest.approx(statistics.median(values), rel=1e-12)
        best = next(t for t in trials if t.state == TrialState.COMPLETE and t.value == best_value(name, trials))
        assert row["best_trial"] == best.number
        assert f"lr={best.params['lr']:.3g}" in row["best_parameters"]
        if name.endswith("-reruns"):
            assert pd.isna(row["authors"])
        else:
            assert trials[0].user_attrs["authors_setting"] is True
            assert row["authors"] == trials[0].value
    # Diverged trials are complete and counted: one kept its first evaluation's FD, one had none (+inf).
    assert summary.loc["wgan_gp-fashion_mnist-wide", ["complete", "diverged", "unscored", "failed"]].tolist() == [
        10, 2, 1, 0
    ]  # fmt: skip
    assert summary.loc["wgan_gp-fashion_mnist-wide", "q75"] < math.inf  # 1 of 10 at +inf: the quartiles stay finite
    assert summary.loc["began-fashion_mnist-wide", "failed"] == 1
    assert summary.loc["began-fashion_mnist-wide", "running"] == 1


def test_rerun_table_has_the_papers_layout_and_the_storages_numbers(storage, stored):
    trials = per_trial(load_frame(storage))
    numbers = rerun_statistics(trials).set_index("loss")
    table = rerun_table(trials)
    assert table.index.tolist() == ["NS GAN", "WGAN GP"]  # the registry's loss order, the paper's names
    # The header says what the numbers are, domain FD; the paper measured none, so it has no column.
    assert table.columns.tolist() == [DOMAIN_COLUMN]
    for loss, label in (("ns_gan", "NS GAN"), ("wgan_gp", "WGAN GP")):
        values = complete_values(stored[f"{loss}-fashion_mnist-wide-reruns"])
        assert numbers.loc[loss, "seeds"] == RERUN_SEEDS == len(values)
        assert numbers.loc[loss, "mean"] == pytest.approx(statistics.mean(values), rel=1e-12)
        assert numbers.loc[loss, "std"] == pytest.approx(statistics.stdev(values), rel=1e-12)
        expected = f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"
        assert table.loc[label, DOMAIN_COLUMN] == expected
    assert markdown(table).splitlines()[:2] == [f"| loss | {DOMAIN_COLUMN} |", "|---|---|"]


def test_tables_put_the_papers_numbers_beside_inception_fid_of_its_sample_count_only(storage, stored):
    trials = per_trial(load_frame(storage))
    inception = as_inception(trials)
    table = rerun_table(inception)
    assert table.columns.tolist() == [INCEPTION_COLUMN, PAPER_COLUMN]
    for loss, label in (("ns_gan", "NS GAN"), ("wgan_gp", "WGAN GP")):
        values = complete_values(stored[f"{loss}-fashion_mnist-wide-reruns"])
        assert table.loc[label, INCEPTION_COLUMN] == f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"
        mean, std = paper_rerun(loss, "fashion_mnist")
        assert table.loc[label, PAPER_COLUMN] == f"{mean:.1f} ± {std:.1f}"
    summary = study_summary(inception).set_index("study")
    for name in stored:
        loss, dataset, *_ = name.split("-")
        if dataset == "fashion_mnist":
            assert summary.loc[name, "paper"] == "{:.1f} ± {:.1f}".format(*paper_rerun(loss, dataset)), name
        else:
            assert pd.isna(summary.loc[name, "paper"]), name  # polygons and ring8 are judged by F1 and modes
    # Domain FD, and FID of fewer samples than the paper's, are other numbers: no paper beside them.
    fewer = as_inception(trials, FID_KEY.replace("n10000", "n2000"))
    for frame in (trials, fewer):
        assert study_summary(frame)["paper"].isna().all()
        assert not any("paper" in column for column in rerun_table(frame).columns)
    assert rerun_table(fewer).columns.tolist() == ["Fashion-MNIST: FID (Inception features, 2,000 samples)"]


def test_report_quotes_the_paper_beside_inception_fid(storage, tmp_path, capsys):
    export = tmp_path / "inception.csv"
    save_frame(as_inception(load_frame(storage)), export)
    assert report_command(["--storage", str(export), "--study", "*-fashion_mnist-*"]) == 0
    out = capsys.readouterr().out
    mean, std = paper_rerun("wgan_gp", "fashion_mnist")
    assert f"| loss | {INCEPTION_COLUMN} | {PAPER_COLUMN} |" in out
    assert re.search(rf"\| WGAN GP \| [0-9.]+ ± [0-9.]+ \| {mean:.1f} ± {std:.1f} \|", out)
    # The study's line has the paper's number after its nine counts and values (complete ... authors).
    assert re.search(rf"\| wgan_gp-fashion_mnist-wide \|( [^|]+ \|){{9}} {mean:.1f} ± {std:.1f} \|", out)
    assert "paper: best FID of the best setting of a loss's wide search, retrained with 50 seeds" in out
    assert "; Lucic et al. 2018, Table 2" in out and NOT_FID not in out


def test_report_prints_the_summary_and_exports_the_frame(storage, stored, tmp_path):
    export = tmp_path / "studies.parquet"
    result = subprocess.run(
        [str(SCRIPT), "report", "--storage", storage, "--study", "wgan_gp-*", "--export", str(export)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    values = complete_values(stored["wgan_gp-fashion_mnist-wide"])
    median = statistics.median(values)
    row = f"| wgan_gp-fashion_mnist-wide | {len(values)} | 2 | 1 | 0 | {min(values):.1f} | {median:.1f} |"
    assert row in result.stdout  # complete, diverged (one of them unscored), failed, best, median
    assert "ns_gan-fashion_mnist-wide |" not in result.stdout  # only the chosen studies
    assert "eval/fd_domain_n2000 = FD (domain features, 2,000 samples)" in result.stdout
    # Domain FD is said not to be FID, and no paper column or number stands beside it.
    assert NOT_FID in result.stdout and "| paper |" not in result.stdout and "paper:" not in result.stdout
    rerun_values = complete_values(stored["wgan_gp-fashion_mnist-wide-reruns"])
    cell = f"{statistics.mean(rerun_values):.1f} ± {statistics.stdev(rerun_values):.1f}"
    assert f"| WGAN GP | {cell} |" in result.stdout
    exported = pd.read_parquet(export)
    assert set(exported["study"]) == {name for name in stored if name.startswith("wgan_gp-")}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--study", "vae-*"], "no study matches 'vae-*'"),
        (["--export", "out.xlsx"], "suffix '.xlsx' is not one of .csv, .parquet"),
    ],
)
def test_report_rejects_bad_input_with_exit_status_2(storage, tmp_path, arguments, message):
    result = subprocess.run(
        [str(SCRIPT), "report", "--storage", storage, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_report_on_a_missing_storage_says_so(tmp_path):
    result = subprocess.run(
        [str(SCRIPT), "report", "--storage", str(tmp_path / "none.journal")], capture_output=True, text=True
    )
    assert result.returncode == 2 and "no study storage at" in result.stderr
    assert not (tmp_path / "none.journal").exists()


def test_notebooks_execute_headless_into_figures_tables_and_html(storage, stored, tmp_path):
    output = tmp_path / "reports"
    result = subprocess.run(
        [str(SCRIPT), "analysis", "--storage", storage, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert noise_in(result.stdout + result.stderr) == []
    index = (output / "index.html").read_text()
    for notebook in notebook_paths():
        assert f'<a href="{notebook.stem}.html">{notebook.stem}</a>' in index
        executed = nbformat.read(output / notebook.name, as_version=4)
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, notebook.name
        assert (output / f"{notebook.stem}.html").stat().st_size > 10_000
    for figure in FIGURES:
        for suffix in (".png", ".svg"):
            assert (output / "figures" / f"{figure}{suffix}").stat().st_size > 1_000, figure + suffix
        assert f'<a href="figures/{figure}.svg"><img src="figures/{figure}.png"' in index
    summary = pd.read_csv(output / "tables" / "study_summary.csv").set_index("study")
    for name, trials in stored.items():
        assert summary.loc[name, "best"] == pytest.approx(best_value(name, trials), rel=1e-12)
        assert summary.loc[name, "complete"] == len(complete_values(trials))
    reruns = pd.read_csv(output / "tables" / "rerun_statistics.csv").set_index("loss")
    assert reruns.loc["ns_gan", "mean"] == pytest.approx(
        statistics.mean(complete_values(stored["ns_gan-fashion_mnist-wide-reruns"])), rel=1e-12
    )
    budget = pd.read_csv(output / "tables" / "budget.csv")
    first = budget[(budget["study"] == "wgan_gp-fashion_mnist-wide") & (budget["k"] == 1)].iloc[0]
    values = complete_values(stored["wgan_gp-fashion_mnist-wide"])
    scored = [value for value in values if math.isfinite(value)]  # one trial diverged before its first evaluation
    assert first["exact"] == pytest.approx(statistics.mean(scored), rel=1e-12) and first["trials"] == len(values)
    assert first["unscored"] == pytest.approx(1 / len(values)) and first["unscored_trials"] == 1
    collapse = pd.read_csv(output / "tables" / "mode_collapse.csv")
    assert collapse.groupby("dataset")["score"].agg(set).to_dict() == {
        "fashion_mnist": {f"eval/{score}_domain_n2000" for score in DOMAIN_COLLAPSE_SCORES},
        "ring8": {"eval/modes_points_n2000", "eval/high_quality_points_n2000"},
    }
    groups = collapse[["dataset", "loss"]].drop_duplicates().to_numpy().tolist()
    assert groups == [
        ["fashion_mnist", "ns_gan"],
        ["fashion_mnist", "wgan_gp"],
        ["fashion_mnist", "began"],
        ["ring8", "ns_gan"],
    ]
    for row in collapse.itertuples():
        scores = best_scores(stored, row.dataset, row.loss, row.score)
        assert row.trials == len(scores), row
        assert row.median == pytest.approx(statistics.median(scores), rel=1e-12), row


def test_analysis_reads_an_exported_frame_and_keeps_going_past_a_notebook_with_nothing_to_show(storage, tmp_path):
    export = tmp_path / "fashion.csv"
    subprocess.run(
        [str(SCRIPT), "report", "--storage", storage, "--study", "*-fashion_mnist-*", "--export", str(export)],
        check=True,
        capture_output=True,
    )
    output = tmp_path / "reports"
    result = subprocess.run(
        [str(SCRIPT), "analysis", "--storage", str(export), "--output", str(output), "--notebook", "[05_polygons]"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "no study" in (output / "05_polygons.html").read_text().lower()  # said, not raised
    assert not (output / "figures" / "polygon_scores.png").exists()


def test_analysis_rejects_unknown_notebooks_and_studies_before_running_any(storage, tmp_path):
    for arguments, message in (
        (["--notebook", "[06_nothing]"], "unknown notebook '06_nothing'"),
        (["--study", "lsgan-*"], "no study matches 'lsgan-*'"),
    ):
        result = subprocess.run(
            [str(SCRIPT), "analysis", "--storage", storage, "--output", str(tmp_path / "out"), *arguments],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()

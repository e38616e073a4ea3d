"""A conditional study beside the unconditional one of the same loss: its own name, label, place and colour."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests draw without a display

import numpy as np
import pytest
from analysis_fixture import run_sweep
from matplotlib.colors import to_hex

from lightning_gans.analysis import figures, style
from lightning_gans.analysis.frames import load_frame, per_trial
from lightning_gans.analysis.report import report_command
from lightning_gans.analysis.tables import study_summary

SEARCHES = (("ns_gan", False), ("ns_gan", True), ("wgan_gp", True))
"""NS GAN searched both ways, WGAN-GP only conditionally (its trial 3 diverges after one evaluation, as in
analysis_fixture): a conditional study needs no unconditional partner."""
LABELS = ["NS GAN", "NS GAN, conditional", "WGAN GP, conditional"]


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    url = str(tmp_path_factory.mktemp("conditional") / "optuna.journal")
    rng = np.random.default_rng(3)
    for loss, conditional in SEARCHES:
        run_sweep(url, loss, "fashion_mnist", "wide", 6, rng, conditional=conditional)
    return url


@pytest.fixture(scope="module")
def trials(storage):
    return per_trial(load_frame(storage))


def test_a_conditional_study_is_its_own_loss_in_the_frame(trials):
    studies = trials.groupby("study")["loss"].first().to_dict()
    assert studies == {
        "ns_gan-fashion_mnist-wide": "ns_gan",
        "ns_gan-fashion_mnist-wide-conditional": "ns_gan-conditional",
        "wgan_gp-fashion_mnist-wide-conditional": "wgan_gp-conditional",
    }
    assert [style.loss_label(loss) for loss in style.losses_in(trials)] == LABELS


def test_distributions_and_budget_curves_put_the_conditional_study_beside_its_loss(trials):
    (distributions,) = figures.fid_distributions(trials).axes
    ticks = [label.get_text() for label in distributions.get_xticklabels()]
    assert ticks == [*LABELS[:2], f"{LABELS[2]}\n1 diverged"]
    budget = figures.budget_curves(trials, draws=200)
    (panel,) = budget.axes
    lines, labels = panel.get_legend_handles_labels()
    assert labels == LABELS
    colours = [to_hex(line.get_color()) for line in lines]
    assert colours[0] == style.LOSS_COLOURS["ns_gan"] and len(set(colours)) == 3


def test_the_report_names_each_study_with_its_condition(storage, trials, capsys):
    summary = study_summary(trials)
    assert summary["study"].tolist() == [
        "ns_gan-fashion_mnist-wide",
        "ns_gan-fashion_mnist-wide-conditional",
        "wgan_gp-fashion_mnist-wide-conditional",
    ]
    assert summary["complete"].tolist() == [6, 6, 6]
    assert report_command(["--storage", storage]) == 0
    printed = capsys.readouterr().out
    assert "ns_gan-fashion_mnist-wide-conditional" in printed and "ns_gan-fashion_mnist-wide " in printed


def test_each_conditional_loss_comes_right_after_its_unconditional_one():
    import pandas as pd

    frame = pd.DataFrame({"loss": ["zeta_gan", "wgan_gp-conditional", "ns_gan", "ns_gan-conditional", "mm_gan"]})
    assert style.losses_in(frame) == ["mm_gan", "ns_gan", "ns_gan-conditional", "wgan_gp-conditional", "zeta_gan"]

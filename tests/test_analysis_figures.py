"""Figures read back from their artists: every point, line, colour and label checked against the fixture's storage.

Counts come from Optuna's own view of the storage, not from the analysis frame, so a figure that drops or duplicates
a trial fails here even if the frame code has the same mistake.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests draw without a display

import matplotlib.pyplot as plt
import optuna
import pandas as pd
import pytest
from analysis_fixture import FD_KEY, RERUN_SEEDS, build_studies
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from optuna.trial import TrialState

from lightning_gans.analysis import figures, style
from lightning_gans.analysis.frames import load_frame, per_trial
from lightning_gans.studies import open_storage

COLOUR_TO_LOSS = {colour: loss for loss, colour in style.LOSS_COLOURS.items()}
LABEL_TO_LOSS = {label: loss for loss, label in style.LOSS_LABELS.items()}
FD_LABEL = style.metric_label(FD_KEY)


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    return build_studies(tmp_path_factory.mktemp("studies") / "optuna.journal")


@pytest.fixture(scope="module")
def trials(storage) -> pd.DataFrame:
    return per_trial(load_frame(storage))


@pytest.fixture(scope="module")
def stored(storage) -> list[optuna.Study]:
    opened = open_storage(storage).storage
    return [
        optuna.load_study(study_name=summary.study_name, storage=opened)
        for summary in optuna.get_all_study_summaries(opened)
    ]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def states(stored: list[optuna.Study], dataset: str, reruns: bool, state: TrialState, scored: bool = True) -> Counter:
    """Trials in `state` per loss on `dataset`, among rerun studies or among searches, as Optuna reads them.

    With `scored`, complete trials that diverged before any evaluation (value +-inf, nothing to draw) are left out.
    """
    counts: Counter = Counter()
    for study in stored:
        attrs = study.user_attrs
        if attrs["dataset"] == dataset and (attrs.get("rerun_of") is not None) == reruns:
            counts[attrs["loss"]] += sum(
                trial.state == state and not (scored and trial.value is not None and math.isinf(trial.value))
                for trial in study.trials
            )
    return +counts


def points_per_loss(ax: Axes) -> Counter:
    """Plotted points per loss, the loss told by the points' colour."""
    counts: Counter = Counter()
    for layer in ax.collections:
        if isinstance(layer, PathCollection):
            colours = {to_hex(colour) for colour in layer.get_facecolors()}
            assert len(colours) == 1, "a scatter layer mixes losses"
            counts[COLOUR_TO_LOSS[colours.pop()]] += len(layer.get_offsets())
    return counts


def panels(figure: Figure) -> dict[str, Axes]:
    return {ax.get_title(): ax for ax in figure.axes}


def one_line(label: str) -> str:
    return label.replace("\n", " ")


def check_labels(figure: Figure) -> None:
    assert figure.get_suptitle()
    for ax in figure.axes:
        if ax.has_data():
            assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()


def tick_labels(ax: Axes) -> list[str]:
    return [label.get_text() for label in ax.get_xticklabels()]


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("eval/fd_domain_n2000", "FD (domain features, 2,000 samples)"),
        ("eval/fid_inception_n10000", "FID (Inception features, 10,000 samples)"),
        ("eval/f1_polygons_n2000", "F1 (polygons, 2,000 samples)"),
        ("eval/kid_std_domain_n500", "KID std (domain features, 500 samples)"),
        ("eval/support_lower_domain_n2000", "Support, 95% lower bound (domain features, 2,000 samples)"),
        ("eval/modes_points_n2000", "Modes covered (2-D points, 2,000 samples)"),
    ],
)
def test_metric_label_names_the_score_features_and_samples(key, label):
    assert style.metric_label(key) == label


@pytest.mark.parametrize("key", ["fd_domain_n2000", "eval/fd_domain", "eval/fd_domain_nmany", "value"])
def test_metric_label_rejects_a_key_it_cannot_read(key):
    with pytest.raises(ValueError, match=rf"cannot read metric key '{key}'.*eval/fd_domain_n2000"):
        style.metric_label(key)


def test_losses_keep_their_order_and_colour_and_unknown_ones_come_last():
    frame = pd.DataFrame({"loss": ["zeta_gan", "began", "ns_gan", "alpha_gan", "began", None]})
    assert style.losses_in(frame) == ["ns_gan", "began", "alpha_gan", "zeta_gan"]
    palette = style.loss_palette(style.losses_in(frame))
    assert palette["began"] == style.LOSS_COLOURS["began"]
    assert len({palette[loss] for loss in (*style.LOSS_ORDER, "alpha_gan", "zeta_gan")}) == len(style.LOSS_ORDER) + 2


def test_fid_distributions_show_every_completed_search_trial_per_loss(trials, stored):
    figure = figures.fid_distributions(trials)
    check_labels(figure)
    by_title = panels(figure)
    assert list(by_title) == ["Fashion-MNIST"]  # the polygon studies are judged by F1, not FD
    # WGAN-GP: trial 3 diverged after its first evaluation (a point at that score), trial 7 before any (no point).
    expected_ticks = {"Fashion-MNIST": ["NS GAN", "WGAN GP\n2 diverged, 1 unscored", "BEGAN\n1 failed"]}
    for dataset, title in (("fashion_mnist", "Fashion-MNIST"),):
        ax = by_title[title]
        assert tick_labels(ax) == expected_ticks[title]
        assert one_line(ax.get_ylabel()) == FD_LABEL
        assert points_per_loss(ax) == states(stored, dataset, reruns=False, state=TrialState.COMPLETE)
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["wide space", "narrow space"]


def test_fid_distributions_give_each_objective_its_own_panel(trials):
    inception = "eval/fid_inception_n10000"
    study = trials["study"] == "ns_gan-fashion_mnist-narrow"
    mixed = trials.assign(objective=trials["objective"].where(~study, inception))
    figure = figures.fid_distributions(mixed)
    labels = sorted(one_line(ax.get_ylabel()) for ax in figure.axes)
    assert labels == sorted([FD_LABEL, style.metric_label(inception)])
    inception_ax = next(ax for ax in figure.axes if one_line(ax.get_ylabel()) == style.metric_label(inception))
    assert points_per_loss(inception_ax) == Counter({"ns_gan": int(study.sum())})


def test_budget_frame_starts_at_the_mean_and_counts_the_completed_trials(trials, stored):
    budget = figures.budget_frame(trials, draws=4000, seed=1)
    expected_columns = ["study", "loss", "dataset", "space", "objective", "k", "mean", "lower", "upper", "exact"]
    assert budget.columns.tolist() == [*expected_columns, "unscored", "trials", "unscored_trials"]
    searches = [  # the polygon and mixture studies are judged by F1 and modes: no budget curve of FD
        study for study in stored if study.user_attrs.get("rerun_of") is None and study.user_attrs["objective"] == "fd"
    ]
    assert sorted(budget["study"].unique()) == sorted(study.study_name for study in searches)
    for study in searches:
        values = [trial.value for trial in study.trials if trial.state == TrialState.COMPLETE]
        scored = [value for value in values if math.isfinite(value)]
        curve = budget[budget["study"] == study.study_name]
        first = curve[curve["k"] == 1].iloc[0]
        assert first["exact"] == pytest.approx(sum(scored) / len(scored), rel=1e-12)
        assert first["mean"] == pytest.approx(sum(scored) / len(scored), rel=0.03)
        assert first["unscored"] == pytest.approx(1 - len(scored) / len(values), abs=1e-15)
        assert (curve["trials"] == len(values)).all() and curve["k"].max() == len(values)
        assert curve["mean"].is_monotonic_decreasing


def test_a_budget_curve_counts_diverged_trials_as_tried_exactly(trials, stored):
    """The WGAN-GP search holds a trial that diverged after one evaluation and one that diverged before any."""
    (study,) = [s for s in stored if s.study_name == "wgan_gp-fashion_mnist-wide"]
    values = [trial.value for trial in study.trials if trial.state == TrialState.COMPLETE]
    assert math.inf in values and len(values) == 10  # all ten tried, the unscored one among them
    curve = figures.budget_frame(trials, draws=200).query("study == 'wgan_gp-fashion_mnist-wide'").set_index("k")
    for k in (1, 2, 3):
        minima = [min(draw) for draw in itertools.product(values, repeat=k)]  # every k-tuple of trials, by brute force
        scored = [value for value in minima if math.isfinite(value)]
        assert curve.loc[k, "exact"] == pytest.approx(sum(scored) / len(scored), rel=1e-12)
        assert curve.loc[k, "unscored"] == pytest.approx(1 - len(scored) / len(minima), rel=1e-12)
    assert curve.loc[1, "unscored"] == pytest.approx(0.1) and curve.loc[3, "unscored"] == pytest.approx(0.001)


def test_budget_curves_draw_a_line_per_loss_in_its_colour(trials):
    figure = figures.budget_curves(trials, draws=200)
    check_labels(figure)
    by_title = panels(figure)
    assert list(by_title) == ["Fashion-MNIST, wide space", "Fashion-MNIST, narrow space"]
    for ax in figure.axes:
        assert ax.get_xlabel() == "number of trials (budget)"
        assert one_line(ax.get_ylabel()) == f"expected minimum {FD_LABEL}"
        for line in ax.get_lines():
            assert to_hex(line.get_color()) == style.LOSS_COLOURS[LABEL_TO_LOSS[line.get_label()]]
    wide = [line.get_label() for line in by_title["Fashion-MNIST, wide space"].get_lines()]
    assert wide == ["NS GAN", "WGAN GP", "BEGAN"]
    legend = figure.legends[0]
    for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
        assert to_hex(handle.get_color()) == style.LOSS_COLOURS[LABEL_TO_LOSS[text.get_text()]]


def test_rerun_distributions_show_every_seed(trials, stored):
    figure = figures.rerun_distributions(trials)
    check_labels(figure)
    assert f"{RERUN_SEEDS} seeds" in figure.get_suptitle()
    (ax,) = figure.axes
    assert ax.get_title() == "Fashion-MNIST"
    assert tick_labels(ax) == ["NS GAN", "WGAN GP"]
    assert one_line(ax.get_ylabel()) == FD_LABEL
    assert points_per_loss(ax) == states(stored, "fashion_mnist", reruns=True, state=TrialState.COMPLETE)
    assert figures.has_reruns(trials)


def test_rerun_distributions_name_the_studies_when_there_are_no_reruns(trials):
    searches = trials[trials["rerun_of"].isna()]
    assert not figures.has_reruns(searches)
    with pytest.raises(ValueError, match="no rerun studies among: began-fashion_mnist-wide, ns_gan-fashion"):
        figures.rerun_distributions(searches)


def test_figures_of_searches_need_a_completed_search(trials):
    reruns = trials[trials["rerun_of"].notna()]
    assert not figures.has_searches(reruns) and figures.has_searches(trials)
    for draw in (figures.fid_distributions, figures.budget_curves, figures.budget_frame):
        with pytest.raises(ValueError, match="no completed search trial with an FD objective among: ns_gan-fashion"):
            draw(reruns)


def test_sensitivity_has_a_panel_per_varied_parameter_on_its_scale(trials):
    figure = figures.sensitivity(trials, "fashion_mnist")
    check_labels(figure)
    by_parameter = {ax.get_xlabel(): ax for ax in figure.axes}
    varied = ["beta1", "lr", "n_disc", "d_batch_norm", "gp_lambda", "began_lambda_k", "began_gamma"]
    assert list(by_parameter) == [style.PARAMETER_LABELS[name] for name in varied]
    scales = {name: by_parameter[style.PARAMETER_LABELS[name]].get_xscale() for name in varied}
    assert scales == {name: "log" if name in ("lr", "gp_lambda", "began_lambda_k") else "linear" for name in varied}
    assert tick_labels(by_parameter["discriminator steps per generator step"]) == ["1", "5"]
    assert tick_labels(by_parameter["batch norm in D"]) == ["no", "yes"]
    fashion = trials[(trials["dataset"] == "fashion_mnist") & trials["rerun_of"].isna()]
    scored = (fashion["state"] == "COMPLETE") & fashion["value"].map(math.isfinite)  # unscored: no FD to place
    complete = Counter(fashion.loc[scored, "loss"])
    for ax in figure.axes:
        assert one_line(ax.get_ylabel()) == FD_LABEL
    assert points_per_loss(by_parameter["learning rate"]) == complete
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["NS GAN", "WGAN GP", "BEGAN", "wide space", "narrow space"]


def test_sensitivity_rejects_a_dataset_without_trials_or_without_a_varied_parameter(trials):
    assert figures.sensitivity_datasets(trials) == ["fashion_mnist"]  # polygon studies have no FD objective
    with pytest.raises(ValueError, match="on 'cifar10'; datasets here: fashion_mnist"):
        figures.sensitivity(trials, "cifar10")
    single = trials[(trials["study"] == "ns_gan-fashion_mnist-wide") & (trials["trial"] == 0)]  # nothing can vary
    assert figures.sensitivity_datasets(single) == []
    with pytest.raises(ValueError, match="no searched parameter takes two or more values among the trials on 'fash"):
        figures.sensitivity(single, "fashion_mnist")


def test_polygon_scores_plot_precision_recall_and_f1(trials, stored):
    assert figures.has_polygon_scores(trials)
    figure = figures.polygon_scores(trials)
    check_labels(figure)
    scatter, f1 = figure.axes
    assert scatter.get_xlim() == (0, 1) and scatter.get_ylim() == (0, 1)
    assert scatter.get_xlabel().startswith("Precision (polygons, 2,000 samples)\nshare of samples")
    assert scatter.get_ylabel().startswith("Recall (polygons, 2,000 samples)\nshare of test polygons")
    assert one_line(f1.get_ylabel()) == "F1 (polygons, 2,000 samples)"
    assert tick_labels(f1) == ["NS GAN", "WGAN GP\n1 diverged"]
    complete = states(stored, "polygons", reruns=False, state=TrialState.COMPLETE)
    assert points_per_loss(scatter) == points_per_loss(f1) == complete


def test_polygon_scores_reject_a_selection_without_polygon_studies(trials):
    fashion = trials[trials["dataset"] != "polygons"].dropna(axis="columns", how="all")
    assert not figures.has_polygon_scores(fashion)
    with pytest.raises(ValueError, match="no search study has polygon precision, recall and F1 scores among: began"):
        figures.polygon_scores(fashion)


def dashed_levels(ax: Axes) -> list[float]:
    """Heights of the panel's horizontal dashed lines (the maximum a count can reach)."""
    return [line.get_ydata()[0] for line in ax.get_lines() if isinstance(line, Line2D) and line.get_linestyle() == "--"]


@pytest.mark.parametrize(
    ("dataset", "extractor", "scores", "maximum"),
    [
        ("fashion_mnist", "domain", ["precision", "recall", "support_lower", "duplicates", "classes", "class_kl"], 10),
        ("ring8", "points", ["modes", "high_quality"], 8),
    ],
)
def test_mode_collapse_shows_each_score_of_every_completed_search_trial(
    trials, stored, dataset, extractor, scores, maximum
):
    assert figures.mode_collapse_datasets(trials) == ["fashion_mnist", "ring8"]  # polygons have their own scores
    figure = figures.mode_collapse(trials, dataset)
    check_labels(figure)
    keys = [f"eval/{score}_{extractor}_n2000" for score in scores]
    assert [one_line(ax.get_ylabel()) for ax in figure.axes] == [style.metric_label(key) for key in keys]
    complete = states(stored, dataset, reruns=False, state=TrialState.COMPLETE)
    for score, ax in zip(scores, figure.axes, strict=True):
        title = ax.get_title()
        assert title.startswith(style.SCORE_LABELS[score]) and "is better)" in title, title
        assert points_per_loss(ax) == complete, score
        if score in ("precision", "recall", "high_quality"):
            assert ax.get_ylim() == (0, 1)
        assert dashed_levels(ax) == ([maximum] if score in ("classes", "modes") else [])
    if "support_lower" in scores:  # drawn for the support estimate, which can be infinite
        support = figure.axes[scores.index("support_lower")]
        assert "infinite" in support.get_title() and support.get_yscale() == "log"
    assert [text.get_text() for text in figure.legends[0].get_texts()][-1] == "maximum possible"


def test_mode_collapse_names_the_datasets_that_have_scores(trials):
    with pytest.raises(ValueError, match="no completed search trial on 'polygons' has mode-collapse scores; datasets"):
        figures.mode_collapse(trials, "polygons")
    reruns = trials[trials["rerun_of"].notna()]  # reruns carry the scores, but the figure is of searches
    assert figures.mode_collapse_datasets(reruns) == []
    with pytest.raises(ValueError, match="datasets with them: none"):
        figures.mode_collapse(reruns, "fashion_mnist")


def test_save_figure_writes_png_and_svg(trials, tmp_path):
    figure = figures.rerun_distributions(trials)
    paths = figures.save_figure(figure, tmp_path / "reports" / "figures", "reruns")
    assert [path.name for path in paths] == ["reruns.png", "reruns.svg"]
    assert all(path.stat().st_size > 1_000 for path in paths)
    assert paths[0].read_bytes().startswith(b"\x89PNG") and b"<svg" in paths[1].read_bytes()
    assert plt.fignum_exists(figure.number)  # left open for the notebook to display

"""Figures checked through what they plot: each figure's frame of points against Optuna's view of the storage, and
the figure itself through what a reader sees (titles, axis labels and scales, tick labels, legends, the saved image).

Expected points and counts come from Optuna's own view of the storage, not from the analysis frame, so a figure that
drops or duplicates a trial fails here even if the frame code has the same mistake.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests draw without a display

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
import pytest
from analysis_fixture import FD_KEY, FID_KEY, RERUN_SEEDS, as_inception, build_studies, paper_rerun
from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from optuna.trial import FrozenTrial, TrialState

from lightning_gans.analysis import figures, style
from lightning_gans.analysis.frames import load_frame, per_trial
from lightning_gans.analysis.tables import PAPER_COLUMNS
from lightning_gans.search.studies import open_storage

LABEL_TO_LOSS = {style.loss_label(loss): loss for loss in style.LOSS_ORDER}
FD_LABEL = style.metric_label(FD_KEY)
MODE_COLLAPSE_CASES = [
    (
        "fashion_mnist",
        "domain",
        ["precision", "recall", "density", "coverage", "support_lower", "duplicates", "classes", "class_kl"],
        10,
    ),
    ("ring8", "points", ["modes", "high_quality"], 8),
]
"""(dataset, the features its scores are measured in, its mode-collapse scores in panel order, the most classes or
modes a generator can cover)."""
VARIED = ["beta1", "lr", "n_disc", "d_batch_norm", "gp_lambda", "began_lambda_k", "began_gamma"]
"""The parameters the Fashion-MNIST searches vary, in the order of the paper's table: a sensitivity panel each."""
PAPER_SOURCE = "paper (Lucic et al. 2018, Table 2)"
"""How the figures' legends credit the paper's rerun numbers."""
POINT = ["study", "trial", "loss", "space"]
"""What identifies a plotted point: the trial it stands for, and the loss and space that colour and place it."""


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


def studies(stored: list[optuna.Study], dataset: str, reruns: bool) -> list[optuna.Study]:
    """The rerun studies, or the searches, on `dataset`, as Optuna reads them."""
    return [
        study
        for study in stored
        if study.user_attrs["dataset"] == dataset and (study.user_attrs.get("rerun_of") is not None) == reruns
    ]


def scored(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials with a value to place: one that diverged before any evaluation has +-inf, a failed one none."""
    return [trial for trial in study.trials if trial.state == TrialState.COMPLETE and math.isfinite(trial.value)]


def best_evaluation(trial: FrozenTrial) -> dict:
    """The scores of the first evaluation that gave the trial its value."""
    objective = trial.user_attrs["objective"]
    return next(scores for scores in trial.user_attrs["evaluations"] if scores[objective] == trial.value)


def ran_with(trial: FrozenTrial) -> dict:
    """The GAN arguments a trial ran with, as the storage keeps them: Optuna's params are only the drawn ones; what
    a narrow space fixes (beta1, n_disc, ...) is in the user attribute `arguments`."""
    return {**trial.user_attrs.get("arguments", {}), **trial.params}


def point(study: optuna.Study, trial: FrozenTrial, *values) -> tuple:
    attrs = study.user_attrs
    return (study.study_name, trial.number, attrs["loss"], attrs["space"], *values)


def expected_points(stored: list[optuna.Study], dataset: str, reruns: bool = False, key: str | None = None) -> list:
    """(study, trial, loss, space, value) of every scored trial; the value is `key` at its best evaluation if given."""
    return sorted(
        point(study, trial, trial.value if key is None else best_evaluation(trial)[key])
        for study in studies(stored, dataset, reruns)
        for trial in scored(study)
    )


def rows(frame: pd.DataFrame, columns: list[str]) -> list:
    """The frame's rows as sorted tuples: duplicates stay, so a trial plotted twice fails a comparison."""
    return sorted(frame[columns].itertuples(index=False, name=None))


def per_loss(points: list) -> Counter:
    return Counter(loss for _, _, loss, *_ in points)


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


def paper_lines(ax: Axes) -> list[Line2D]:
    return [line for line in ax.get_lines() if line.get_gid() == figures.PAPER_GID]


def paper_artists(figure: Figure) -> list:
    return [artist for ax in figure.axes for artist in ax.get_children() if artist.get_gid() == figures.PAPER_GID]


def legend_texts(figure: Figure) -> list[str]:
    return [text.get_text() for text in figure.legends[0].get_texts()]


def loss_colours_shown(figure: Figure, tmp_path) -> set[str]:
    """The losses whose exact colour fills a visible area of the saved PNG (markers, medians, box edges): a couple
    of hundred pixels, which tells them from stray anti-aliased pixels of grey text."""
    png, _ = figures.save_figure(figure, tmp_path, "shown")
    pixels = (matplotlib.image.imread(png)[..., :3] * 255).round().astype(int).reshape(-1, 3)
    rgb = {loss: (np.array(to_rgb(colour)) * 255).round().astype(int) for loss, colour in style.LOSS_COLOURS.items()}
    return {loss for loss, colour in rgb.items() if (pixels == colour).all(axis=1).sum() >= 200}


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


def test_distribution_rows_are_the_completed_search_trials_with_an_fd(trials, stored):
    points = figures.distribution_rows(trials)
    assert points.columns.tolist() == ["dataset", "objective", *POINT, "value"]
    # The polygon and mixture studies are judged by F1 and modes, not FD: no rows of theirs.
    assert set(points["dataset"]) == {"fashion_mnist"} and set(points["objective"]) == {FD_KEY}
    expected = expected_points(stored, "fashion_mnist")
    assert rows(points, [*POINT, "value"]) == expected
    assert per_loss(expected) == Counter({"ns_gan": 16, "wgan_gp": 15, "began": 6})  # the fixture's outcomes
    wgan_gp = set(points.loc[points["study"] == "wgan_gp-fashion_mnist-wide", "trial"])
    assert 3 in wgan_gp and 7 not in wgan_gp  # diverged after its first evaluation: a point; before any: none
    began = set(points.loc[points["study"] == "began-fashion_mnist-wide", "trial"])
    assert began.isdisjoint({5, 7})  # failed, and still running


def test_fid_distributions_name_each_loss_with_its_outcomes(trials, tmp_path):
    figure = figures.fid_distributions(trials)
    check_labels(figure)
    by_title = panels(figure)
    assert list(by_title) == ["Fashion-MNIST"]  # the polygon studies are judged by F1, not FD
    ax = by_title["Fashion-MNIST"]
    # WGAN-GP: trial 3 diverged after its first evaluation (a point at that score), trial 7 before any (no point).
    assert tick_labels(ax) == ["NS GAN", "WGAN GP\n2 diverged, 1 unscored", "BEGAN\n1 failed"]
    assert ax.get_xlabel() == "loss" and one_line(ax.get_ylabel()) == FD_LABEL
    assert legend_texts(figure) == ["wide space", "narrow space"]
    assert loss_colours_shown(figure, tmp_path) == {"ns_gan", "wgan_gp", "began"}


def test_fid_distributions_give_each_objective_its_own_panel(trials, stored):
    inception = "eval/fid_inception_n10000"
    study = trials["study"] == "ns_gan-fashion_mnist-narrow"
    mixed = trials.assign(objective=trials["objective"].where(~study, inception))
    points = figures.distribution_rows(mixed)
    (narrow,) = [s for s in stored if s.study_name == "ns_gan-fashion_mnist-narrow"]
    assert rows(points[points["objective"] == inception], [*POINT, "value"]) == sorted(
        point(narrow, trial, trial.value) for trial in scored(narrow)
    )
    assert narrow.study_name not in set(points.loc[points["objective"] == FD_KEY, "study"])
    figure = figures.fid_distributions(mixed)
    labels = sorted(one_line(ax.get_ylabel()) for ax in figure.axes)
    assert labels == sorted([FD_LABEL, style.metric_label(inception)])


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
        scored_values = [value for value in values if math.isfinite(value)]
        curve = budget[budget["study"] == study.study_name]
        first = curve[curve["k"] == 1].iloc[0]
        assert first["exact"] == pytest.approx(sum(scored_values) / len(scored_values), rel=1e-12)
        assert first["mean"] == pytest.approx(sum(scored_values) / len(scored_values), rel=0.03)
        assert first["unscored"] == pytest.approx(1 - len(scored_values) / len(values), abs=1e-15)
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
        finite = [value for value in minima if math.isfinite(value)]
        assert curve.loc[k, "exact"] == pytest.approx(sum(finite) / len(finite), rel=1e-12)
        assert curve.loc[k, "unscored"] == pytest.approx(1 - len(finite) / len(minima), rel=1e-12)
    assert curve.loc[1, "unscored"] == pytest.approx(0.1) and curve.loc[3, "unscored"] == pytest.approx(0.001)


def test_budget_curves_draw_a_line_per_loss_in_its_colour(trials, stored):
    figure = figures.budget_curves(trials, draws=200)
    check_labels(figure)
    by_title = panels(figure)
    assert list(by_title) == ["Fashion-MNIST, wide space", "Fashion-MNIST, narrow space"]
    for space, losses in (("wide", ["NS GAN", "WGAN GP", "BEGAN"]), ("narrow", ["NS GAN", "WGAN GP"])):
        ax = by_title[f"Fashion-MNIST, {space} space"]
        assert ax.get_xlabel() == "number of trials (budget)"
        assert one_line(ax.get_ylabel()) == f"expected minimum {FD_LABEL}"
        lines, labels = ax.get_legend_handles_labels()
        assert labels == losses  # a curve per search of the panel's space, in the losses' usual order
        assert [to_hex(line.get_color()) for line in lines] == [style.LOSS_COLOURS[LABEL_TO_LOSS[x]] for x in labels]
    # The wide panel says how many trials of each search diverged before any evaluation, as Optuna counts them.
    unscored = {
        study.user_attrs["loss"]: sum(t.state == TrialState.COMPLETE and math.isinf(t.value) for t in study.trials)
        for study in studies(stored, "fashion_mnist", reruns=False)
        if study.user_attrs["space"] == "wide"
    }
    counts = [f"{style.loss_label(loss)}: {unscored[loss]}" for loss in style.in_order(unscored, style.LOSS_ORDER)]
    assert counts == ["NS GAN: 0", "WGAN GP: 1", "BEGAN: 0"]
    note = [text.get_text() for text in by_title["Fashion-MNIST, wide space"].texts]
    assert note == ["diverged before any evaluation:\n" + "\n".join(counts)]
    assert not by_title["Fashion-MNIST, narrow space"].texts  # nothing to say where every trial scored
    legend = figure.legends[0]
    assert legend_texts(figure) == ["NS GAN", "WGAN GP", "BEGAN"]
    for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
        assert to_hex(handle.get_color()) == style.LOSS_COLOURS[LABEL_TO_LOSS[text.get_text()]]


def test_rerun_distributions_show_every_seed(trials, stored, tmp_path):
    points = figures.distribution_rows(trials, reruns=True)
    expected = expected_points(stored, "fashion_mnist", reruns=True)
    assert rows(points, [*POINT, "value"]) == expected
    assert per_loss(expected) == Counter({"ns_gan": RERUN_SEEDS, "wgan_gp": RERUN_SEEDS})
    figure = figures.rerun_distributions(trials)
    check_labels(figure)
    assert f"{RERUN_SEEDS} seeds" in figure.get_suptitle()
    (ax,) = figure.axes
    assert ax.get_title() == "Fashion-MNIST"
    assert tick_labels(ax) == ["NS GAN", "WGAN GP"]
    assert one_line(ax.get_ylabel()) == FD_LABEL
    assert loss_colours_shown(figure, tmp_path) == {"ns_gan", "wgan_gp"}
    assert figures.has_reruns(trials)


def test_rerun_distributions_name_the_studies_when_there_are_no_reruns(trials):
    searches = trials[trials["rerun_of"].isna()]
    assert not figures.has_reruns(searches)
    for draw in (figures.rerun_distributions, lambda frame: figures.distribution_rows(frame, reruns=True)):
        with pytest.raises(ValueError, match="no rerun studies among: began-fashion_mnist-wide, ns_gan-fashion"):
            draw(searches)


def test_figures_of_searches_need_a_completed_search(trials):
    reruns = trials[trials["rerun_of"].notna()]
    assert not figures.has_searches(reruns) and figures.has_searches(trials)
    for draw in (figures.fid_distributions, figures.distribution_rows, figures.budget_curves, figures.budget_frame):
        with pytest.raises(ValueError, match="no completed search trial with an FD objective among: ns_gan-fashion"):
            draw(reruns)


def test_sensitivity_rows_place_every_scored_trial_at_its_setting(trials, stored):
    points = figures.sensitivity_rows(trials, "fashion_mnist")
    assert points.columns.tolist() == ["objective", "parameter", *POINT, "setting", "value"]
    assert set(points["objective"]) == {FD_KEY}
    expected = []
    for study in studies(stored, "fashion_mnist", reruns=False):
        for trial in scored(study):
            settings = [(name, setting) for name, setting in ran_with(trial).items() if name in VARIED]
            expected.extend((name, *point(study, trial, setting, trial.value)) for name, setting in settings)
    assert rows(points, ["parameter", *POINT, "setting", "value"]) == sorted(expected)
    learning_rates = points[points["parameter"] == "lr"]
    assert per_loss(rows(learning_rates, POINT)) == per_loss(expected_points(stored, "fashion_mnist"))
    assert set(points.loc[points["parameter"] == "d_batch_norm", "setting"]) == {True, False}  # a choice, not 1.0


def test_sensitivity_has_a_panel_per_varied_parameter_on_its_scale(trials):
    figure = figures.sensitivity(trials, "fashion_mnist")
    check_labels(figure)
    by_parameter = {ax.get_xlabel(): ax for ax in figure.axes}
    assert list(by_parameter) == [style.PARAMETER_LABELS[name] for name in VARIED]
    assert list(figures.sensitivity_rows(trials, "fashion_mnist")["parameter"].unique()) == VARIED
    scales = {name: by_parameter[style.PARAMETER_LABELS[name]].get_xscale() for name in VARIED}
    assert scales == {name: "log" if name in ("lr", "gp_lambda", "began_lambda_k") else "linear" for name in VARIED}
    assert tick_labels(by_parameter["discriminator steps per generator step"]) == ["1", "5"]
    assert tick_labels(by_parameter["batch norm in D"]) == ["no", "yes"]
    for ax in figure.axes:
        assert one_line(ax.get_ylabel()) == FD_LABEL
    assert legend_texts(figure) == ["NS GAN", "WGAN GP", "BEGAN", "wide space", "narrow space"]
    for handle, text in zip(figure.legends[0].legend_handles[:3], legend_texts(figure)[:3], strict=True):
        assert to_hex(handle.get_color()) == style.LOSS_COLOURS[LABEL_TO_LOSS[text]]


def test_sensitivity_rejects_a_dataset_without_trials_or_without_a_varied_parameter(trials):
    assert figures.sensitivity_datasets(trials) == ["fashion_mnist"]  # polygon studies have no FD objective
    for draw in (figures.sensitivity, figures.sensitivity_rows):
        with pytest.raises(ValueError, match="on 'cifar10'; datasets here: fashion_mnist"):
            draw(trials, "cifar10")
    single = trials[(trials["study"] == "ns_gan-fashion_mnist-wide") & (trials["trial"] == 0)]  # nothing can vary
    assert figures.sensitivity_datasets(single) == []
    with pytest.raises(ValueError, match="no searched parameter takes two or more values among the trials on 'fash"):
        figures.sensitivity(single, "fashion_mnist")


def test_polygon_rows_hold_each_completed_trials_three_scores(trials, stored):
    assert figures.has_polygon_scores(trials)
    points = figures.polygon_rows(trials)
    assert points.columns.tolist() == ["dataset", "samples", *POINT, "precision", "recall", "f1"]
    keys = [f"eval/{score}_polygons_n2000" for score in ("precision", "recall", "f1")]
    expected = sorted(
        point(study, trial, *(best_evaluation(trial)[key] for key in keys))
        for study in studies(stored, "polygons", reruns=False)
        for trial in scored(study)
    )
    assert rows(points, [*POINT, "precision", "recall", "f1"]) == expected
    assert per_loss(expected) == Counter({"ns_gan": 5, "wgan_gp": 5})  # wgan_gp's diverged trial 3 among them
    assert set(zip(points["dataset"], points["samples"], strict=True)) == {("polygons", 2000)}


def test_polygon_scores_plot_precision_recall_and_f1(trials, tmp_path):
    figure = figures.polygon_scores(trials)
    check_labels(figure)
    scatter, f1 = figure.axes
    assert scatter.get_title() == "Convex polygons: precision and recall"
    assert scatter.get_xlim() == (0, 1) and scatter.get_ylim() == (0, 1)
    assert scatter.get_xlabel().startswith("Precision (polygons, 2,000 samples)\nshare of samples")
    assert scatter.get_ylabel().startswith("Recall (polygons, 2,000 samples)\nshare of test polygons")
    assert f1.get_title() == "Convex polygons: F1 (higher is better)"
    assert one_line(f1.get_ylabel()) == "F1 (polygons, 2,000 samples)"
    assert tick_labels(f1) == ["NS GAN", "WGAN GP\n1 diverged"]
    assert legend_texts(figure) == ["NS GAN", "WGAN GP", "wide space"]
    assert loss_colours_shown(figure, tmp_path) == {"ns_gan", "wgan_gp"}


def test_polygon_scores_reject_a_selection_without_polygon_studies(trials):
    fashion = trials[trials["dataset"] != "polygons"].dropna(axis="columns", how="all")
    assert not figures.has_polygon_scores(fashion)
    for draw in (figures.polygon_scores, figures.polygon_rows):
        with pytest.raises(ValueError, match="no search study has polygon precision, recall and F1 scores among: be"):
            draw(fashion)


@pytest.mark.parametrize(("dataset", "extractor", "scores"), [case[:3] for case in MODE_COLLAPSE_CASES])
def test_mode_collapse_rows_hold_each_score_of_every_completed_search_trial(trials, stored, dataset, extractor, scores):
    assert figures.mode_collapse_datasets(trials) == ["fashion_mnist", "ring8"]  # polygons have their own scores
    points = figures.mode_collapse_rows(trials, dataset)
    assert points.columns.tolist() == ["score", "key", *POINT, "value"]
    keys = [f"eval/{score}_{extractor}_n2000" for score in scores]
    assert list(points["key"].unique()) == keys and list(points["score"].unique()) == scores
    for key in keys:  # each trial's scores at the evaluation that gave its objective value
        assert rows(points[points["key"] == key], [*POINT, "value"]) == expected_points(stored, dataset, key=key), key


@pytest.mark.parametrize(("dataset", "extractor", "scores", "maximum"), MODE_COLLAPSE_CASES)
def test_mode_collapse_draws_a_panel_per_score_with_its_bounds(trials, dataset, extractor, scores, maximum):
    figure = figures.mode_collapse(trials, dataset)
    check_labels(figure)
    keys = [f"eval/{score}_{extractor}_n2000" for score in scores]
    assert [one_line(ax.get_ylabel()) for ax in figure.axes] == [style.metric_label(key) for key in keys]
    for score, ax in zip(scores, figure.axes, strict=True):
        title = ax.get_title()
        assert title.startswith(style.SCORE_LABELS[score]) and "is better)" in title, title
        if score in ("precision", "recall", "coverage", "high_quality"):
            assert ax.get_ylim() == (0, 1)
        # A count that can reach a known maximum (every class, every mode) is drawn with a reference line there.
        lines, labels = ax.get_legend_handles_labels()
        references = [
            line.get_ydata()[0] for line, label in zip(lines, labels, strict=True) if label == "maximum possible"
        ]
        assert references == ([maximum] if score in ("classes", "modes") else []), score
        if references:
            assert ax.get_ylim() == pytest.approx((0, maximum * 1.08))  # room above the line
    if "support_lower" in scores:  # drawn for the support estimate, which can be infinite
        support = figure.axes[scores.index("support_lower")]
        assert "infinite" in support.get_title() and support.get_yscale() == "log"
    assert legend_texts(figure)[-1] == "maximum possible"


def test_mode_collapse_names_the_datasets_that_have_scores(trials):
    for draw in (figures.mode_collapse, figures.mode_collapse_rows):
        with pytest.raises(ValueError, match="no completed search trial on 'polygons' has mode-collapse scores; data"):
            draw(trials, "polygons")
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


def test_jittered_figures_are_reproducible_and_leave_numpys_random_stream_alone(trials, tmp_path):
    """Seaborn jitters with NumPy's global generator: a figure must neither depend on nor move the caller's stream."""
    np.random.seed(7)
    stream = np.random.random(4)
    np.random.seed(7)
    first = figures.save_figure(figures.fid_distributions(trials), tmp_path / "first", "fd")[0].read_bytes()
    assert np.random.random(2) == pytest.approx(stream[:2])  # drawing left the stream where it was
    second = figures.save_figure(figures.fid_distributions(trials), tmp_path / "second", "fd")[0].read_bytes()
    assert np.random.random(2) == pytest.approx(stream[2:])
    assert first == second  # drawn from another state of the stream, the same results give the same picture


# The paper's numbers: beside Inception FID of the paper's sample count only; domain FD says it is not FID


@pytest.mark.parametrize(
    ("keys", "name"),
    [
        ([FID_KEY], "FID"),
        ([FD_KEY, "eval/fd_domain_n10000"], "domain FD"),
        ([FD_KEY, FID_KEY], "FD"),  # mixed: each panel's axis names its own
    ],
)
def test_distance_title_names_the_distance_and_says_when_it_is_not_fid(keys, name):
    title = style.distance_title("{fd} of every trial", keys)
    assert title.splitlines()[0] == name[0].upper() + name[1:] + " of every trial"
    assert title.endswith(f"\n({style.NOT_FID})") == (FD_KEY in keys)


@pytest.mark.parametrize(("reruns", "losses"), [(False, ["ns_gan", "wgan_gp", "began"]), (True, ["ns_gan", "wgan_gp"])])
def test_paper_rows_are_the_data_files_numbers_for_the_losses_scored_in_the_papers_metric(trials, reruns, losses):
    rows = figures.paper_rows(as_inception(trials), reruns=reruns)
    assert rows.columns.tolist() == list(PAPER_COLUMNS)
    expected = [("fashion_mnist", FID_KEY, loss, *paper_rerun(loss, "fashion_mnist"), 50) for loss in losses]
    assert list(rows[["dataset", "objective", "loss", "mean", "std", "seeds"]].itertuples(index=False)) == expected
    assert [f"paper ({source})" for source in set(rows["source"])] == [PAPER_SOURCE]
    # Domain FD, and FID from fewer samples than the paper's, measured other numbers: nothing to set beside them.
    assert figures.paper_rows(trials, reruns=reruns).empty
    assert figures.paper_rows(as_inception(trials, FID_KEY.replace("n10000", "n2000")), reruns=reruns).empty


@pytest.mark.parametrize("reruns", [False, True])
def test_distribution_figures_draw_the_papers_number_across_each_losss_slot(trials, reruns):
    inception = as_inception(trials)
    figure = figures.rerun_distributions(inception) if reruns else figures.fid_distributions(inception)
    (ax,) = figure.axes
    drawn = {}
    for line in paper_lines(ax):
        slot = round(float(np.mean(line.get_xdata())))
        (mean,) = set(line.get_ydata())
        drawn[LABEL_TO_LOSS[tick_labels(ax)[slot].split("\n")[0]]] = mean
    losses = ["ns_gan", "wgan_gp"] if reruns else ["ns_gan", "wgan_gp", "began"]
    assert drawn == {loss: paper_rerun(loss, "fashion_mnist")[0] for loss in losses}
    assert one_line(ax.get_ylabel()) == style.metric_label(FID_KEY)
    assert legend_texts(figure)[-1] == f"{PAPER_SOURCE}: mean ± std of 50 seeds, dashed line and band"
    title = figure.get_suptitle()
    assert title.startswith("Best FID of" if reruns else "FID of every") and style.NOT_FID not in title


def test_budget_curves_draw_the_papers_number_in_each_losss_colour(trials):
    figure = figures.budget_curves(as_inception(trials), draws=100)
    for ax, losses in zip(figure.axes, (["ns_gan", "wgan_gp", "began"], ["ns_gan", "wgan_gp"]), strict=True):
        drawn = sorted((to_hex(line.get_color()), *set(line.get_ydata())) for line in paper_lines(ax))
        expected = sorted((style.LOSS_COLOURS[loss], paper_rerun(loss, "fashion_mnist")[0]) for loss in losses)
        assert drawn == expected, ax.get_title()
    assert legend_texts(figure)[-1] == f"{PAPER_SOURCE}: mean of 50 seeds, dotted, in the loss's colour"
    assert figure.get_suptitle().startswith("Expected best FID of a random search")


def test_domain_fd_figures_say_they_are_not_fid_and_show_no_paper_numbers(trials):
    drawn = [
        figures.fid_distributions(trials),
        figures.rerun_distributions(trials),
        figures.budget_curves(trials, draws=100),
        figures.sensitivity(trials, "fashion_mnist"),
    ]
    for figure in drawn:
        title = figure.get_suptitle()
        assert "domain fd" in title.splitlines()[0].lower() and title.endswith(f"({style.NOT_FID})"), title
        assert not paper_artists(figure) and not any("paper (" in text for text in legend_texts(figure))
        for ax in figure.axes:
            assert "domain features" in one_line(ax.get_ylabel())

"""Search spaces against the paper's table, sampling statistics, and the authors' trial 0."""

from __future__ import annotations

import math
import statistics
import warnings

import optuna
import pytest

from lightning_gans.registry import UnknownNameError
from lightning_gans.search.spaces import (
    SPACES,
    Parameter,
    authors_setting,
    authors_trial_params,
    paper_trials,
    search_space,
    suggest,
    trial_arguments,
)
from lightning_gans.training.losses import LOSSES

PAPER_LOSSES = ("mm_gan", "ns_gan", "lsgan", "wgan", "wgan_gp", "dragan", "began", "vae")

# docs/protocol.md, "Search spaces", written out independently of lightning_gans/configs/spaces.yaml.
COMMON = {
    "wide": [
        Parameter("beta1", "uniform", (0.0, 1.0)),
        Parameter("lr", "log_uniform", (1e-5, 1e-2)),
        Parameter("n_disc", "choice", (1, 5)),
        Parameter("d_batch_norm", "choice", (True, False)),
    ],
    "narrow": [
        Parameter("beta1", "fixed", (0.5,)),
        Parameter("lr", "log_uniform", (1e-4, 1e-3)),
        Parameter("n_disc", "fixed", (1,)),
        Parameter("d_batch_norm", "choice", (True, False)),
    ],
}
LOSS_SPECIFIC = {
    ("wgan", "wide"): [Parameter("clip", "log_uniform", (1e-3, 1.0))],
    ("wgan", "narrow"): [Parameter("clip", "log_uniform", (1e-2, 1.0))],
    ("wgan_gp", "wide"): [Parameter("gp_lambda", "log_uniform", (1e-1, 1e2))],
    ("wgan_gp", "narrow"): [Parameter("gp_lambda", "log_uniform", (1e-1, 1e1))],
    ("dragan", "wide"): [Parameter("gp_lambda", "log_uniform", (1e-1, 1e2))],
    ("dragan", "narrow"): [Parameter("gp_lambda", "log_uniform", (1e-1, 1e1))],
    ("began", "wide"): [
        Parameter("began_lambda_k", "log_uniform", (1e-4, 1e-2)),
        Parameter("began_gamma", "uniform", (0.0, 1.0)),
    ],
    ("began", "narrow"): [
        Parameter("began_lambda_k", "fixed", (0.001,)),
        Parameter("began_gamma", "uniform", (0.6, 0.9)),
    ],
}

# docs/protocol.md, authors' settings, plus the loss-specific defaults of configs/losses.
AUTHORS = {
    "mm_gan": {"lr": 5e-5, "beta1": 0.0, "n_disc": 1, "d_batch_norm": True},
    "ns_gan": {"lr": 5e-5, "beta1": 0.0, "n_disc": 1, "d_batch_norm": True},
    "lsgan": {"lr": 2e-4, "beta1": 0.5, "n_disc": 1, "d_batch_norm": True},
    "wgan": {"lr": 5e-5, "beta1": 0.5, "n_disc": 5, "d_batch_norm": True, "clip": 0.01},
    "wgan_gp": {"lr": 1e-4, "beta1": 0.5, "n_disc": 5, "d_batch_norm": False, "gp_lambda": 10.0},
    "dragan": {"lr": 1e-4, "beta1": 0.5, "n_disc": 1, "d_batch_norm": True, "gp_lambda": 10.0},
    "began": {
        "lr": 1e-4,
        "beta1": 0.5,
        "n_disc": 5,
        "d_batch_norm": False,
        "began_gamma": 0.75,
        "began_lambda_k": 0.001,
        "began_clip_k": False,
    },
    # No published setting: configs/losses/vae.yaml holds the reference code's defaults.
    "vae": {"lr": 5e-5, "beta1": 0.5, "n_disc": 1, "d_batch_norm": True},
}

CASES = [(loss, space) for loss in PAPER_LOSSES for space in SPACES]


def random_study(seed: int = 0) -> optuna.Study:
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))


def sampled(loss: str, space: str, n: int = 200) -> tuple[optuna.Study, list[dict[str, object]]]:
    study = random_study()
    arguments = []
    for _ in range(n):
        trial = study.ask()
        arguments.append(trial_arguments(trial, loss, space))
        study.tell(trial, 0.0)
    return study, arguments


@pytest.fixture(autouse=True)
def quiet_optuna():
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(verbosity)


def test_registered_losses_are_the_papers_seven_and_the_vae():
    assert sorted(LOSSES.names()) == sorted(PAPER_LOSSES)
    assert SPACES == ("wide", "narrow") and (paper_trials("wide"), paper_trials("narrow")) == (100, 50)


# The reference's narrow space (params.py) fixes discriminator batch norm to False for WGAN-GP and DRAGAN.
NARROW_WITHOUT_BATCH_NORM = ("wgan_gp", "dragan")


def common(loss: str, space: str) -> list[Parameter]:
    """The table's rows shared by every loss; n_disc is a GAN parameter, so the VAE does not search it."""
    rows = [p for p in COMMON[space] if not (loss == "vae" and p.name == "n_disc")]
    if space == "narrow" and loss in NARROW_WITHOUT_BATCH_NORM:
        rows = [Parameter("d_batch_norm", "fixed", (False,)) if p.name == "d_batch_norm" else p for p in rows]
    return rows


def papers_space(loss: str, space: str) -> list[Parameter]:
    """The table's rows for one loss and space, in the order search_space gives them."""
    return common(loss, space) + LOSS_SPECIFIC.get((loss, space), [])


@pytest.mark.parametrize(("loss", "space"), CASES)
def test_search_space_matches_the_papers_table(loss, space):
    expected = papers_space(loss, space)
    actual = search_space(loss, space)
    assert [(p.name, p.kind) for p in actual] == [(p.name, p.kind) for p in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got.values == pytest.approx(want.values, rel=1e-12), got.name


@pytest.mark.parametrize(("loss", "space"), CASES)
def test_random_samples_stay_in_bounds_and_fixed_values_are_recorded(loss, space):
    study, arguments = sampled(loss, space)
    for parameter in papers_space(loss, space):
        values = [args[parameter.name] for args in arguments]
        if parameter.kind in ("uniform", "log_uniform"):
            low, high = parameter.values
            assert all(type(v) is float and low <= v <= high for v in values), parameter.name
        elif parameter.kind == "choice":
            assert set(values) == set(parameter.values), parameter.name
            assert all(type(v) is type(parameter.values[0]) for v in values), parameter.name
        else:
            (fixed,) = parameter.values
            assert values == [fixed] * len(values), parameter.name
            assert all(t.user_attrs["arguments"][parameter.name] == fixed for t in study.trials), parameter.name
            assert all(parameter.name not in t.params for t in study.trials), parameter.name
    # Arguments the space leaves alone keep the authors' value (e.g. began_clip_k).
    searched = {p.name for p in papers_space(loss, space)}
    for name, value in AUTHORS[loss].items():
        if name not in searched:
            assert all(args[name] == value for args in arguments), name


def test_log_uniform_samples_are_uniform_in_the_exponent():
    _, arguments = sampled("wgan_gp", "wide", n=400)
    exponents = [math.log10(args["lr"]) for args in arguments]
    assert statistics.median(exponents) == pytest.approx(-3.5, abs=0.2)
    # A uniform exponent puts a third of the draws in each decade; uniform values would put ~90% in the last one.
    for decade in (-5, -4, -3):
        share = sum(decade <= e < decade + 1 for e in exponents) / len(exponents)
        assert share == pytest.approx(1 / 3, abs=0.08), decade
    gp = [math.log10(args["gp_lambda"]) for args in arguments]
    assert statistics.median(gp) == pytest.approx(0.5, abs=0.2)


def test_uniform_samples_are_uniform_in_the_value():
    _, arguments = sampled("began", "narrow", n=400)
    gammas = [args["began_gamma"] for args in arguments]
    assert statistics.median(gammas) == pytest.approx(0.75, abs=0.03)
    assert min(gammas) < 0.62 and max(gammas) > 0.88


@pytest.mark.parametrize("loss", PAPER_LOSSES)
def test_authors_setting_is_the_papers(loss):
    assert authors_setting(loss) == AUTHORS[loss]


@pytest.mark.parametrize(("loss", "space"), CASES)
def test_authors_trial_reproduces_the_authors_setting(loss, space):
    study = random_study()
    parameters = papers_space(loss, space)
    fixed = {p.name for p in parameters if p.kind == "fixed"}
    enqueued = authors_trial_params(loss, space)
    assert set(enqueued) == {p.name for p in parameters} - fixed
    study.enqueue_trial(enqueued, user_attrs={"authors_setting": True})
    trial = study.ask()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arguments = trial_arguments(trial, loss, space)
    assert arguments == AUTHORS[loss]
    assert {name: type(v) for name, v in arguments.items()} == {name: type(v) for name, v in AUTHORS[loss].items()}
    assert trial.params == enqueued
    recorded = trial.user_attrs["arguments"]
    assert {name: recorded[name] for name in fixed} == {name: AUTHORS[loss][name] for name in fixed}
    # optuna warns exactly for the authors' values outside the space, and only for them.
    outside = {
        p.name
        for p in parameters
        if p.kind in ("uniform", "log_uniform") and not p.values[0] <= AUTHORS[loss][p.name] <= p.values[1]
    }
    assert {name for name in enqueued if any(f"parameter {name} " in str(w.message) for w in caught)} == outside
    study.tell(trial, 0.0)
    # The next trial is an ordinary random one: fixed parameters take the space's value again.
    following = study.ask()
    arguments = trial_arguments(following, loss, space)
    assert {name: arguments[name] for name in fixed} == {p.name: p.values[0] for p in parameters if p.kind == "fixed"}


def test_out_of_range_enqueued_value_is_returned_as_enqueued():
    # wgan's authors' lr 5e-5 lies below the narrow range [1e-4, 1e-3]; optuna 5 keeps it and only warns.
    study = random_study()
    study.enqueue_trial({"lr": 5e-5})
    trial = study.ask()
    with pytest.warns(UserWarning, match="out of range"):
        values = suggest(trial, [Parameter("lr", "log_uniform", (1e-4, 1e-3))])
    assert values == {"lr": 5e-5}
    assert trial.params == {"lr": 5e-5}


def test_wgan_narrow_authors_trial_keeps_n_disc_5_and_lr_5e_5():
    study = random_study()
    study.enqueue_trial(authors_trial_params("wgan", "narrow"), user_attrs={"authors_setting": True})
    with pytest.warns(UserWarning, match="out of range"):
        arguments = trial_arguments(study.ask(), "wgan", "narrow")
    assert arguments["n_disc"] == 5 and arguments["lr"] == 5e-5 and arguments["beta1"] == 0.5


@pytest.mark.parametrize("loss", NARROW_WITHOUT_BATCH_NORM)
def test_narrow_gradient_penalty_trials_never_use_discriminator_batch_norm(loss):
    study = random_study()
    drawn = {trial_arguments(study.ask(), loss, "narrow")["d_batch_norm"] for _ in range(20)}
    assert drawn == {False}
    assert {trial_arguments(study.ask(), loss, "wide")["d_batch_norm"] for _ in range(40)} == {True, False}


def test_a_misspelt_loss_under_by_loss_is_refused(monkeypatch):
    table = {"parameters": {"d_batch_norm": {"wide": {"choice": [True, False]}, "by_loss": {"wgan-gp": {}}}}}
    monkeypatch.setattr("lightning_gans.search.spaces._read_yaml", lambda path: table)
    with pytest.raises(UnknownNameError, match="'wgan-gp'"):
        search_space("wgan_gp", "wide")


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match="mm_gan, ns_gan, lsgan, wgan, wgan_gp, dragan, began"):
        search_space("wgan-gp", "wide")
    with pytest.raises(UnknownNameError, match="wide, narrow"):
        search_space("wgan", "medium")
    with pytest.raises(UnknownNameError, match="ns_gan"):
        authors_setting("nsgan")
    with pytest.raises(UnknownNameError, match="wide, narrow"):
        authors_trial_params("wgan", "Wide")
    with pytest.raises(UnknownNameError, match="wide, narrow"):
        trial_arguments(random_study().ask(), "wgan", "")


@pytest.mark.parametrize(
    ("kind", "values"),
    [("gaussian", (0.0, 1.0)), ("uniform", (1.0, 0.0)), ("log_uniform", (0.0, 1.0)), ("fixed", (1, 2))],
)
def test_malformed_parameters_are_refused(kind, values):
    with pytest.raises(ValueError, match="'x'"):
        Parameter("x", kind, values)

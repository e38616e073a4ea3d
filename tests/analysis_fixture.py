"""A realistic set of finished sweeps, written through the same code paths a sweep uses, without training GANs.

Studies are created by `open_study`/`open_reruns` (study attributes, the authors' trial enqueued, the seeded random
sampler), parameters are drawn by `trial_arguments` from the real search spaces, and each trial records what
`run_trial` records: intermediate FD values, an `evaluations` list, the last scores, best step, and, for a diverged
trial, FAIL with its reason. The scores are synthetic but follow the parameters (a bad learning rate is worse), so
sensitivity plots have something to show. `expected` summaries are computed here from the values written, so tests
can compare what analysis reports with what the storage holds.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from lightning_gans.search import trial_arguments
from lightning_gans.studies import EVALUATIONS_ATTR, open_storage
from lightning_gans.sweep import SweepSettings, open_reruns, open_study

SAMPLES = 2000
STEPS = 9000
EVAL_STEPS = (3000, 6000, 9000)
FD_KEY = f"eval/fd_domain_n{SAMPLES}"
# (loss, dataset, space, trials); wgan_gp wide has two diverged trials, began wide one trial still running.
SWEEPS = (
    ("ns_gan", "fashion_mnist", "wide", 10),
    ("ns_gan", "fashion_mnist", "narrow", 6),
    ("wgan_gp", "fashion_mnist", "wide", 10),
    ("wgan_gp", "fashion_mnist", "narrow", 6),
    ("began", "fashion_mnist", "wide", 8),
    ("ns_gan", "polygons", "wide", 5),
    ("wgan_gp", "polygons", "wide", 5),
)
POLYGON_SCORES = ("precision", "recall", "f1")
DIVERGED = {("wgan_gp", "wide"): (3, 7)}  # trial 3 diverges after one evaluation, trial 7 before any
RUNNING = {("began", "wide"): (7,)}
RERUN_SEEDS = 5
LOSS_QUALITY = {"ns_gan": 60.0, "wgan_gp": 70.0, "began": 90.0}


def synthetic_scores(loss: str, dataset: str, arguments: dict, rng: np.random.Generator) -> list[dict[str, float]]:
    """FD falls over training and rises as lr leaves 2e-4; IS, KID and the polygon scores follow FD loosely."""
    base = LOSS_QUALITY[loss] * (1 + abs(math.log10(float(arguments["lr"]) / 2e-4))) + rng.uniform(0, 20)
    evaluations = []
    for index, step in enumerate(EVAL_STEPS):
        fd = base * (1.6 - 0.25 * index) + rng.normal(0, 3)
        evaluations.append(
            {
                "step": step,
                FD_KEY: fd,
                f"eval/is_domain_n{SAMPLES}": 9.0 - fd / 40,
                f"eval/is_std_domain_n{SAMPLES}": 0.0,
                f"eval/kid_domain_n{SAMPLES}": fd / 3 + rng.normal(0, 1),
                f"eval/kid_std_domain_n{SAMPLES}": 2.0,
                f"eval/seconds_domain_n{SAMPLES}": 4.0 + rng.uniform(0, 1),
            }
        )
        if dataset == "polygons":
            precision, recall = float(np.clip(1.2 - fd / 150, 0, 1)), float(np.clip(1.0 - fd / 200, 0, 1))
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            scores = dict(zip(POLYGON_SCORES, (precision, recall, f1), strict=True))
            evaluations[-1].update({f"eval/{name}_polygons_n{SAMPLES}": value for name, value in scores.items()})
    return evaluations


def record(study: optuna.Study, trial: optuna.Trial, evaluations: list[dict[str, float]], diverge: bool) -> None:
    """What run_trial/ReportEvaluations/tell leave in the storage for one trial."""
    kept = evaluations[:1] if diverge else evaluations
    for count in range(1, len(kept) + 1):
        trial.set_user_attr(EVALUATIONS_ATTR, kept[:count])
        trial.report(kept[count - 1][FD_KEY], kept[count - 1]["step"])
    if diverge:
        step = kept[-1]["step"] + 17 if kept else 17
        trial.set_user_attr("fail_reason", f"diverged at step {step}: a non-finite discriminator loss")
        study.tell(trial, state=TrialState.FAIL)
        return
    best = min(kept, key=lambda scores: scores[FD_KEY])
    trial.set_user_attr("best_step", best["step"])
    trial.set_user_attr("run_dir", f"runs/sweeps/{study.study_name}/trial-{trial.number:04d}/version_0")
    for key, value in kept[-1].items():
        if key != "step":
            trial.set_user_attr(key, value)
    study.tell(trial, best[FD_KEY])


def settings(loss: str, dataset: str, space: str, storage: str, **extra) -> SweepSettings:
    return SweepSettings(
        loss=loss,
        dataset=dataset,
        space=space,
        storage=storage,
        steps=STEPS,
        eval_samples=SAMPLES,
        extractor="domain",
        **extra,
    )


def run_sweep(storage_url: str, loss: str, dataset: str, space: str, trials: int, rng: np.random.Generator) -> None:
    storage = open_storage(storage_url)
    study = open_study(settings(loss, dataset, space, storage_url), storage)
    diverged = DIVERGED.get((loss, space), ())
    for number in range(trials):
        trial = study.ask()
        arguments = trial_arguments(trial, loss, space)
        if number in RUNNING.get((loss, space), ()):
            trial.report(999.0, EVAL_STEPS[0])  # a trial in progress: one evaluation reported, not told yet
            continue
        evaluations = synthetic_scores(loss, dataset, arguments, rng)
        record(study, trial, [] if number == 7 and number in diverged else evaluations, number in diverged)


def run_reruns(storage_url: str, loss: str, rng: np.random.Generator) -> None:
    storage = open_storage(storage_url)
    source = f"{loss}-fashion_mnist-wide"
    rerun_settings = settings(loss, "fashion_mnist", "wide", storage_url, study=f"{source}-reruns", reruns=True)
    study = open_reruns(rerun_settings, storage, source, RERUN_SEEDS)
    for _ in range(RERUN_SEEDS):
        trial = study.ask()
        arguments = trial_arguments(trial, loss, "wide")
        record(study, trial, synthetic_scores(loss, "fashion_mnist", arguments, rng), diverge=False)


def build_studies(path: Path) -> str:
    """Writes every fixture study into a journal file at `path` and returns its storage URL."""
    url = str(path)
    rng = np.random.default_rng(2018)
    for loss, dataset, space, trials in SWEEPS:
        run_sweep(url, loss, dataset, space, trials, rng)
    for loss in ("ns_gan", "wgan_gp"):
        run_reruns(url, loss, rng)
    return url

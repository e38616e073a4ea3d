"""A realistic set of finished sweeps, written through the same code paths a sweep uses, without training GANs.

Studies are created by `open_study`/`open_reruns` (study attributes, the authors' trial enqueued, the seeded random
sampler), parameters are drawn by `trial_arguments` from the real search spaces, and each trial records what
`run_trial` records: intermediate objective values, an `evaluations` list, the last scores, best step, and, for a
diverged trial, COMPLETE with its best score before divergence (the worst possible value if it had none) and the step
and reason of divergence; a trial that failed for another reason is FAIL with its reason. Each study is judged by the
key its own objective resolves to (FD, polygon F1, mixture modes), as run_trial would judge it. The scores are
synthetic but follow the parameters (a bad learning rate is worse), so sensitivity plots have something to show.
`expected` summaries are computed here from the values written, so tests can compare what analysis reports with what
the storage holds.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
import yaml
from optuna.trial import TrialState

from lightning_gans.data.mixtures import MIXTURES
from lightning_gans.evaluation.features import score_key
from lightning_gans.evaluation.previews import PREVIEW_SIZE, SAMPLE_POINTS_ATTR, encode_points
from lightning_gans.evaluation.synthetic import MIXTURE_MEASURE, POLYGON_MEASURE
from lightning_gans.resources import PAPER_SCORES_FILE
from lightning_gans.search.spaces import trial_arguments
from lightning_gans.search.studies import EVALUATIONS_ATTR, open_storage
from lightning_gans.search.sweep import SweepSettings, open_reruns, open_study, trial_protocol, unscored_value

SAMPLES = 2000
STEPS = 9000
EVAL_STEPS = (3000, 6000, 9000)
FD_KEY = f"eval/fd_domain_n{SAMPLES}"
FID_KEY = score_key("fd", "inception", 10_000)
"""The paper's metric: FID in Inception features of 10,000 samples."""
F1_KEY = f"eval/f1_polygons_n{SAMPLES}"  # the polygons' objective (maximised)
MODES_KEY = f"eval/modes_points_n{SAMPLES}"  # the mixtures' objective (maximised)
MEASURES = {"polygons": POLYGON_MEASURE, **dict.fromkeys(MIXTURES, MIXTURE_MEASURE)}
"""Where a dataset's objective is measured, when not in the domain features."""
# (loss, dataset, space, trials); wgan_gp wide has two diverged trials, began wide one failed and one running.
SWEEPS = (
    ("ns_gan", "fashion_mnist", "wide", 10),
    ("ns_gan", "fashion_mnist", "narrow", 6),
    ("wgan_gp", "fashion_mnist", "wide", 10),
    ("wgan_gp", "fashion_mnist", "narrow", 6),
    ("began", "fashion_mnist", "wide", 8),
    ("ns_gan", "polygons", "wide", 5),
    ("wgan_gp", "polygons", "wide", 5),
    ("ns_gan", "ring8", "wide", 6),
)
POLYGON_SCORES = ("precision", "recall", "f1")
DIVERGED = {("wgan_gp", "wide"): (3, 7)}  # trial 3 diverges after one evaluation, trial 7 before any
RUNNING = {("began", "wide"): (7,)}
FAILED = {("began", "wide"): (5,)}
RERUN_SEEDS = 5
LOSS_QUALITY = {"ns_gan": 60.0, "wgan_gp": 70.0, "began": 90.0}
DUPLICATE_FREE_FD = 77.0
"""At or below this FD no near-duplicate pair turns up among the samples, so the support estimate is infinite."""


def synthetic_scores(loss: str, dataset: str, arguments: dict, rng: np.random.Generator) -> list[dict[str, float]]:
    """FD falls over training and rises as lr leaves 2e-4; the other scores follow FD loosely.

    Mixtures are scored on the points alone (no features, so no FD): their modes follow the FD the trial would have.
    """
    base = LOSS_QUALITY[loss] * (1 + abs(math.log10(float(arguments["lr"]) / 2e-4))) + rng.uniform(0, 20)
    evaluations = []
    for index, step in enumerate(EVAL_STEPS):
        fd = base * (1.6 - 0.25 * index) + rng.normal(0, 3)
        if dataset in MIXTURES:
            evaluations.append({"step": step, **mixture_scores(dataset, fd, rng)})
            continue
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
        if dataset == "fashion_mnist":
            evaluations[-1].update(collapse_scores(fd))
        if dataset == "polygons":
            precision, recall = float(np.clip(1.2 - fd / 150, 0, 1)), float(np.clip(1.0 - fd / 200, 0, 1))
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            scores = dict(zip(POLYGON_SCORES, (precision, recall, f1), strict=True))
            evaluations[-1].update({f"eval/{name}_polygons_n{SAMPLES}": value for name, value in scores.items()})
    return evaluations


def collapse_scores(fd: float) -> dict[str, float]:
    """The mode-collapse measures in domain features: a worse FD covers less of the data and repeats itself more.

    Support is the birthday-paradox estimate (pairs of samples per near-duplicate pair), infinite when no pair turns
    up; its 95% lower bound takes a Poisson upper bound on the pair count, so it stays finite.
    """
    duplicates = math.ceil(max(fd - DUPLICATE_FREE_FD, 0) / 4)
    pairs = SAMPLES * (SAMPLES - 1) / 2
    scores = {
        "precision": float(np.clip(1.0 - fd / 500, 0, 1)),
        "recall": float(np.clip(0.9 - fd / 350, 0, 1)),
        "density": float(np.clip(1.1 - fd / 300, 0, None)),
        "coverage": float(np.clip(0.95 - fd / 300, 0, 1)),
        "support": pairs / duplicates if duplicates else math.inf,
        "support_lower": pairs / (duplicates + 2 * math.sqrt(duplicates) + 3),
        "duplicates": float(duplicates),
        "classes": float(np.clip(round(12.5 - fd / 30), 2, 10)),
        "class_kl": (fd / 250) ** 2,
    }
    return {score_key(name, "domain", SAMPLES): value for name, value in scores.items()}


def mixture_scores(dataset: str, fd: float, rng: np.random.Generator) -> dict[str, float]:
    """Modes covered and the high-quality share, falling as the FD the trial would have rises."""
    modes = len(MIXTURES[dataset].centres)
    scores = {
        "modes": float(np.clip(round(modes * (1.45 - fd / 200)), 1, modes)),
        "high_quality": float(np.clip(1.05 - fd / 300, 0, 1)),
        "seconds": 0.5 + rng.uniform(0, 0.1),
    }
    return {score_key(name, MIXTURE_MEASURE, SAMPLES): value for name, value in scores.items()}


def objective_key(settings: SweepSettings) -> str:
    """The key run_trial judges the study's trials by: its objective, measured where its dataset is scored."""
    return score_key(trial_protocol(settings).objective, MEASURES.get(settings.dataset, "domain"), SAMPLES)


def record(
    study: optuna.Study, trial: optuna.Trial, evaluations: list[dict[str, float]], diverge: bool, key: str
) -> None:
    """What run_trial/ReportEvaluations/tell leave in the storage for one trial judged by `key`."""
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    kept = evaluations[:1] if diverge else evaluations
    trial.set_user_attr("objective", key)  # set when training starts, before any evaluation
    for count in range(1, len(kept) + 1):
        trial.set_user_attr(EVALUATIONS_ATTR, kept[:count])
        trial.report(kept[count - 1][key], kept[count - 1]["step"])
    if diverge:
        trial.set_user_attr("diverged_at", kept[-1]["step"] + 17 if kept else 17)
        trial.set_user_attr("divergence", "the discriminator loss is not finite")
        if not kept:
            study.tell(trial, unscored_value("maximize" if maximize else "minimize"))
            return
    best = (max if maximize else min)(kept, key=lambda scores: scores[key])
    trial.set_user_attr("best_step", best["step"])
    trial.set_user_attr("run_dir", f"runs/sweeps/{study.study_name}/trial-{trial.number:04d}/version_0")
    for score, value in kept[-1].items():
        if score != "step":
            trial.set_user_attr(score, value)
    if study.user_attrs["dataset"] in MIXTURES:
        trial.set_user_attr(SAMPLE_POINTS_ATTR, preview(study.user_attrs["dataset"], int(best[key]), trial.number))
    study.tell(trial, best[key])


def preview(dataset: str, modes: int, seed: int) -> str:
    """What a sweep keeps of a trial's best samples on a mixture: here points on its first `modes` modes."""
    mixture = MIXTURES[dataset]
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randint(modes, (PREVIEW_SIZE,), generator=generator)
    return encode_points(mixture.centres[chosen] + mixture.std * torch.randn(PREVIEW_SIZE, 2, generator=generator))


def settings(loss: str, dataset: str, space: str, storage: str, **extra) -> SweepSettings:
    trial = (f"--model.steps={STEPS}", f"--evaluation.samples={SAMPLES}", "--evaluation.extractor=domain")
    return SweepSettings(loss=loss, dataset=dataset, space=space, storage=storage, trial=trial, **extra)


def run_sweep(
    storage_url: str, loss: str, dataset: str, space: str, trials: int, rng: np.random.Generator, **extra
) -> None:
    """A finished search; `extra` are more SweepSettings (conditional=True)."""
    storage = open_storage(storage_url)
    sweep = settings(loss, dataset, space, storage_url, **extra)
    study = open_study(sweep, trial_protocol(sweep), storage)
    key = objective_key(sweep)
    diverged = DIVERGED.get((loss, space), ())
    for number in range(trials):
        trial = study.ask()
        arguments = trial_arguments(trial, loss, space)
        if number in RUNNING.get((loss, space), ()):
            trial.report(999.0, EVAL_STEPS[0])  # a trial in progress: one evaluation reported, not told yet
            continue
        evaluations = synthetic_scores(loss, dataset, arguments, rng)
        if number in FAILED.get((loss, space), ()):
            trial.set_user_attr("fail_reason", "RuntimeError: trial 5 produced no score: no evaluation ran")
            study.tell(trial, state=TrialState.FAIL)
            continue
        record(study, trial, [] if number == 7 and number in diverged else evaluations, number in diverged, key)


def run_reruns(storage_url: str, loss: str, rng: np.random.Generator, dataset: str = "fashion_mnist") -> None:
    storage = open_storage(storage_url)
    source = f"{loss}-{dataset}-wide"
    rerun_settings = settings(loss, dataset, "wide", storage_url, study=f"{source}-reruns")
    study = open_reruns(rerun_settings, trial_protocol(rerun_settings), storage, source, RERUN_SEEDS)
    key = objective_key(rerun_settings)
    for _ in range(RERUN_SEEDS):
        trial = study.ask()
        arguments = trial_arguments(trial, loss, "wide")
        evaluations = synthetic_scores(loss, dataset, arguments, rng)
        record(study, trial, evaluations, diverge=False, key=key)


def build_studies(path: Path) -> str:
    """Writes every fixture study into a journal file at `path` and returns its storage URL."""
    url = str(path)
    rng = np.random.default_rng(2018)
    for loss, dataset, space, trials in SWEEPS:
        run_sweep(url, loss, dataset, space, trials, rng)
    for loss in ("ns_gan", "wgan_gp"):
        run_reruns(url, loss, rng)
    return url


MIXTURE_SWEEPS = {"ns_gan": 7, "wgan_gp": 8}
"""Trials per ring8 study of build_mixture_studies; wgan_gp's trial 3 diverges after its first evaluation, 7 before."""


def build_mixture_studies(path: Path) -> str:
    """Searches on ring8 judged by modes covered, each trial with its sample preview, and ns_gan's reruns."""
    url = str(path)
    rng = np.random.default_rng(7)
    for loss, trials in MIXTURE_SWEEPS.items():
        run_sweep(url, loss, "ring8", "wide", trials, rng)
    run_reruns(url, "ns_gan", rng, dataset="ring8")
    return url


def as_inception(frame: pd.DataFrame, key: str = FID_KEY) -> pd.DataFrame:
    """The same studies as if their FD had been measured in Inception features under `key` (the paper's metric by
    default): the domain FD column renamed, and every trial judged by it judged by `key` instead."""
    return frame.rename(columns={FD_KEY: key}).assign(objective=frame["objective"].replace(FD_KEY, key))


def paper_rerun(loss: str, dataset: str) -> tuple[float, float]:
    """The paper's mean and std over seeds for `loss` on `dataset`, read from the data file with yaml alone."""
    (entry,) = [
        entry
        for entry in yaml.safe_load(PAPER_SCORES_FILE.read_text())["reruns"]["scores"]
        if (entry["loss"], entry["dataset"]) == (loss, dataset)
    ]
    return entry["mean"], entry["std"]

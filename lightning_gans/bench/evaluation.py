"""Evaluation speed: what one evaluation point of a run costs, on the evaluator a run itself builds.

The evaluator comes from `schedule.feature_evaluator`, so the benchmark times exactly what a run does
at each evaluation point (fixed-noise samples of the generator, their features, FD + IS + KID, and optionally
the mode-collapse diagnostics). Building it trains the domain classifier if none is cached and caches the
reference statistics: one-time costs a study pays once, so they are not timed. Each timing is taken `repeats`
times after one untimed call, whose seconds are kept apart because the diagnostics compute the real side's
nearest-neighbour radii on first use only.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from ..data import GANDataModule
from ..evaluation.features import Evaluator, evaluation_noise
from ..evaluation.schedule import EvaluationSchedule, feature_evaluator
from ..evaluation.standalone import standalone_trainer
from ..metrics.features import ExtractorUnavailableError
from ..metrics.inception import find_inception_weights
from ..training.module import GAN
from .clock import clock


@dataclass(frozen=True)
class EvaluationSettings:
    samples: int
    batch_size: int
    repeats: int
    device: torch.device
    seed: int


def untrained_generator(data: GANDataModule, settings: EvaluationSettings) -> GAN:
    """A freshly initialised model on the data's backbone: evaluation costs the same whatever it has learnt."""
    pl.seed_everything(settings.seed, verbose=False)
    return GAN(backbone=data.spec.backbone, sample_shape=data.sample_shape).to(settings.device)


def run_evaluator(
    extractor: str, diagnostics: bool, model: GAN, data: GANDataModule, settings: EvaluationSettings
) -> Evaluator:
    """The evaluator a run's schedule builds (classifier and reference statistics cached here, untimed).

    Inception is only used from weights already on this machine: the benchmark must not start a download.
    """
    weights = str(find_inception_weights()) if extractor == "inception" else None
    schedule = EvaluationSchedule(
        samples=settings.samples,
        extractor=extractor,
        inception_weights=weights,
        batch_size=settings.batch_size,
        diagnostics=diagnostics,
    )
    evaluator = feature_evaluator(schedule, standalone_trainer(settings.device), model, data)
    if evaluator is None:
        raise RuntimeError(f"no evaluator for extractor {extractor!r} on {data.spec.name}")
    return evaluator


def time_calls(call: Callable[[], object], times: int, device: torch.device) -> list[float]:
    seconds = []
    for _ in range(times):
        started = clock(device)
        call()
        seconds.append(clock(device) - started)
    return seconds


def time_extractor(extractor: str, data: GANDataModule, settings: EvaluationSettings) -> dict[str, Any]:
    """Seconds of a whole evaluation with and without the diagnostics, and images/s of its two network passes."""
    try:
        model = untrained_generator(data, settings)
        evaluators = {flag: run_evaluator(extractor, flag, model, data, settings) for flag in (False, True)}
    except ExtractorUnavailableError as error:
        return {"skipped": str(error)}
    noise = evaluation_noise(settings.samples, model.hparams.z_dim, model.gan_loss.prior)

    def generate() -> Tensor:
        return torch.cat([model.sample(batch) for batch in noise.split(settings.batch_size)])

    images = generate()

    def extract() -> None:
        for batch in images.split(settings.batch_size):
            evaluators[False].extractor(batch)

    raw = {
        "generation": time_calls(generate, settings.repeats, settings.device),
        "extraction": time_calls(extract, settings.repeats, settings.device),
    }
    for diagnostics, key in ((False, "scores"), (True, "scores_with_diagnostics")):
        score = functools.partial(evaluators[diagnostics].score, model, 0, 1, False)
        first, *rest = time_calls(score, settings.repeats + 1, settings.device)
        raw[f"first_{key}"] = first
        raw[key] = rest
    median = {key: statistics.median(values) for key, values in raw.items() if isinstance(values, list)}
    return {
        "samples": settings.samples,
        "batch_size": settings.batch_size,
        "weights_id": evaluators[False].extractor.weights_id,
        "generation_images_per_second": settings.samples / median["generation"],
        "extraction_images_per_second": settings.samples / median["extraction"],
        "scores_seconds": median["scores"],
        "scores_with_diagnostics_seconds": median["scores_with_diagnostics"],
        "diagnostics_seconds": median["scores_with_diagnostics"] - median["scores"],
        "first_scores_with_diagnostics_seconds": raw["first_scores_with_diagnostics"],
        "raw_seconds": raw,
    }

"""Sample-quality scores of the study (FD, IS, KID) as pure float64 functions plus one accumulating Metric."""

from lightning_gans.metrics.frechet import (
    InsufficientSamplesError,
    check_enough_samples,
    feature_statistics,
    frechet_distance,
    statistics_from_sums,
)
from lightning_gans.metrics.inception_score import inception_score
from lightning_gans.metrics.kid import kernel_inception_distance
from lightning_gans.metrics.scores import GenerativeScores, ReferenceStatistics

__all__ = [
    "GenerativeScores",
    "InsufficientSamplesError",
    "ReferenceStatistics",
    "check_enough_samples",
    "feature_statistics",
    "frechet_distance",
    "inception_score",
    "kernel_inception_distance",
    "statistics_from_sums",
]

"""Scoring on the synthetic sets, where what a generator misses can be measured against the known truth.

- Gaussian mixtures (ring8, grid25): modes covered and the share of high-quality samples (metrics.modes).
- Convex polygons: precision, recall and F1 against the polygon manifold, recall by inverting G
  (metrics.polygon_scores; definitions and budget in docs/metrics.md).

Both score the same fixed evaluation noise as the feature-based Evaluator. Under DDP every rank computes the same
numbers from the same noise and the same (broadcast) generator: nothing is gathered, so no rank can wait on another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..data.cache import load_or_build_npz
from ..data.locations import cache_dir
from ..data.mixtures import GaussianMixture
from ..data.polygons import sides_tag
from ..metrics.modes import mode_coverage
from ..metrics.polygon_scores import QUANTILE, InversionBudget, calibrate_threshold, polygon_precision_recall
from ..training.distributed import broadcast_buffers
from ..training.module import GAN
from .features import SCORE_NOISE_SEED, evaluation_inputs, generated_samples, score_key

MIXTURE_MEASURE = "points"
POLYGON_MEASURE = "polygons"
POLYGON_THRESHOLD_VERSION = 1  # bump when the distance or the calibration changes


def generated_batches(module: GAN, samples: int, batch_size: int, seed: int = SCORE_NOISE_SEED) -> Iterator[Tensor]:
    """The evaluation samples of `module` batch by batch, each checked for divergence, on the module's device.

    One batch at a time, so that an export of 50,000 samples never holds them all on the device.
    """
    broadcast_buffers(module.generator)
    for noise, labels in evaluation_inputs(module, samples, batch_size, seed):
        yield generated_samples(module, noise, labels)


def generate(module: GAN, samples: int, batch_size: int, seed: int = SCORE_NOISE_SEED) -> Tensor:
    """All the evaluation samples of `module` at once, on the module's device."""
    return torch.cat(list(generated_batches(module, samples, batch_size, seed)))


@dataclass
class MixtureEvaluator:
    mixture: GaussianMixture
    samples: int
    batch_size: int = 500
    noise_seed: int = SCORE_NOISE_SEED

    @property
    def objectives(self) -> dict[str, str]:
        return {name: score_key(name, MIXTURE_MEASURE, self.samples) for name in ("modes", "high_quality")}

    def score(self, module: GAN, rank: int, world_size: int, progress: bool) -> dict[str, float]:
        started = time.perf_counter()
        points = generate(module, self.samples, self.batch_size, self.noise_seed).cpu()
        coverage = mode_coverage(points, self.mixture.centres, self.mixture.std)
        keys = self.objectives
        return {
            keys["modes"]: float(coverage.modes_covered),
            keys["high_quality"]: coverage.high_quality,
            score_key("seconds", MIXTURE_MEASURE, self.samples): time.perf_counter() - started,
        }


def polygon_threshold(
    reference: Tensor, calibration: Tensor, sides: Sequence[int], quantile: float = QUANTILE
) -> float:
    """tau, cached: calibrating it costs a nearest-neighbour search of 10k polygons among 60k.

    `sides` are the vertex counts the polygons were drawn with; they name the file, so polygons with different
    counts, whose tau differs, never read each other's.
    """
    name = f"polygons-threshold-v{POLYGON_THRESHOLD_VERSION}-{sides_tag(sides)}-q{quantile}.npz"
    path = cache_dir().parent / "reference" / name

    def calibrate() -> dict[str, np.ndarray]:
        return {"threshold": np.array(calibrate_threshold(calibration, reference, quantile))}

    return float(load_or_build_npz(path, calibrate)["threshold"])


@dataclass
class PolygonEvaluator:
    """Precision on every evaluation sample, recall on a fixed subset of test polygons (inversion is costly)."""

    reference: Tensor
    targets: Tensor
    threshold: float
    samples: int
    batch_size: int = 500
    budget: InversionBudget = field(default_factory=InversionBudget)
    noise_seed: int = SCORE_NOISE_SEED

    @property
    def objectives(self) -> dict[str, str]:
        return {name: score_key(name, POLYGON_MEASURE, self.samples) for name in ("f1", "precision", "recall")}

    def score(self, module: GAN, rank: int, world_size: int, progress: bool) -> dict[str, float]:
        started = time.perf_counter()
        images = generate(module, self.samples, self.batch_size, self.noise_seed)
        with torch.enable_grad():
            scores = polygon_precision_recall(
                images,
                module.generator,
                module.hparams.z_dim,
                module.gan_loss.prior,
                self.reference.to(module.device),
                self.targets.to(module.device),
                self.threshold,
                self.budget,
            )
        keys = self.objectives
        return {
            keys["precision"]: scores.precision,
            keys["recall"]: scores.recall,
            keys["f1"]: scores.f1,
            score_key("seconds", POLYGON_MEASURE, self.samples): time.perf_counter() - started,
        }

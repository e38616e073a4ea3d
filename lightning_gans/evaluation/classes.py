"""The scores of a class-conditional run that need its labels: class consistency and the intra-class FDs.

They are measured in the domain classifier's features and logits whatever extractor scores the run's FD: the domain
classifier is what knows the classes, and its 128-d features need 129 samples per class where Inception's 2,048
would need 2,049 (metrics/class_scores.py). The samples are the run's own evaluation samples: the fixed noise, with
labels cycling through the classes (features.evaluation_labels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..metrics.class_scores import ClassConditionalScores, minimum_samples
from ..metrics.classifier import NUM_FEATURES
from ..metrics.features import FeatureExtractor
from ..training.module import GAN, DivergedError
from .features import SCORE_NOISE_SEED, score_key, scored_batches


def check_conditional_samples(samples: int, classes: int) -> None:
    """Refuses, before any training, an evaluation too small for a covariance within every class."""
    needed = minimum_samples(classes, NUM_FEATURES)
    if samples < needed:
        raise ValueError(
            f"evaluation samples {samples} is too few for a conditional run: its FD within each of the {classes} "
            f"classes, in the domain classifier's {NUM_FEATURES}-d features, needs {NUM_FEATURES + 1} samples per "
            f"class; use at least {needed} (or extractor none, which scores nothing)"
        )


@dataclass
class ClassEvaluator:
    classifier: FeatureExtractor
    metric: ClassConditionalScores
    samples: int
    batch_size: int
    noise_seed: int = SCORE_NOISE_SEED

    def key(self, score: str) -> str:
        return score_key(score, self.classifier.name, self.samples)

    @property
    def objectives(self) -> dict[str, str]:
        """A conditional study may be judged by the mean intra-class FD, or by class consistency."""
        return {"intra_fd": self.key("intra_fd_mean"), "class_consistency": self.key("class_consistency")}

    @torch.no_grad()
    def score(self, module: GAN, rank: int, world_size: int, progress: bool) -> dict[str, float]:
        if not module.conditional:
            raise ValueError("class consistency and intra-class FD score conditional GANs only")
        self.metric.to(module.device)
        self.metric.reset()
        batches = scored_batches(module, self.samples, self.batch_size, self.noise_seed, rank, world_size, progress)
        for images, labels in batches:
            features, logits = self.classifier(images)
            self.metric.update(features, logits, labels)
        computed = {self.key(name): float(value) for name, value in self.metric.compute().items()}
        self.metric.reset()
        bad = [key for key, value in computed.items() if not math.isfinite(value)]
        if bad:
            raise DivergedError(module.d_step, f"the score {bad[0]}")
        return computed

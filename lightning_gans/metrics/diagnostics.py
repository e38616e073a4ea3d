"""What FD cannot say, measured on the same features: improved precision/recall, support size, class coverage.

FD folds sample quality and diversity into one number. These separate them at every evaluation, on the features
FD already computed, so they cost distances but no extra network passes:
- improved precision and recall (Kynkaanniemi et al. 2019, k = 3): quality and coverage of the real manifold;
- a birthday-paradox support estimate (Arora, Risteski & Zhang 2018) from near-duplicate pairs within batches of
  the evaluation samples, with "near" set from real data (pairs closer than all but `duplicate_quantile` of real
  images are to their nearest real neighbour);
- class coverage through the domain classifier, whose logits are the dataset's own classes (Inception's are
  ImageNet's, so coverage is only computed with the domain extractor).
Everything that depends only on the real features is computed once per reference and kept.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lightning_gans.metrics.coverage import class_coverage
from lightning_gans.metrics.precision_recall import knn_radii, share_inside
from lightning_gans.metrics.support import birthday_support

NEIGHBOURS = 3
SUPPORT_BATCH = 1000
DUPLICATE_QUANTILE = 0.01


class FeatureDiagnostics:
    """Mode-collapse measurements of generated features against a fixed real feature bank."""

    def __init__(
        self,
        real: Tensor,
        class_logits: bool,
        k: int = NEIGHBOURS,
        support_batch: int = SUPPORT_BATCH,
        duplicate_quantile: float = DUPLICATE_QUANTILE,
    ) -> None:
        if not 0 < duplicate_quantile < 1:
            raise ValueError(f"duplicate_quantile={duplicate_quantile!r} is not allowed; it must be in (0, 1)")
        if support_batch < 2:
            raise ValueError(f"support_batch={support_batch!r} is not allowed; a batch needs >= 2 samples for a pair")
        self.real = real
        self.class_logits = class_logits
        self.k = k
        self.support_batch = support_batch
        self.duplicate_quantile = duplicate_quantile
        self._real_radii: Tensor | None = None
        self._duplicate_threshold: float | None = None

    def real_radii(self) -> Tensor:
        if self._real_radii is None:
            self._real_radii = knn_radii(self.real, self.k)
        return self._real_radii

    def duplicate_threshold(self) -> float:
        if self._duplicate_threshold is None:
            nearest = knn_radii(self.real, 1)
            self._duplicate_threshold = float(torch.quantile(nearest, self.duplicate_quantile))
        return self._duplicate_threshold

    def __call__(self, fake: Tensor, logits: Tensor) -> dict[str, float]:
        real = self.real.to(fake.device)
        scores = {
            "precision": share_inside(fake, real, self.real_radii().to(fake.device)),
            "recall": share_inside(real, fake, knn_radii(fake, self.k)),
            **self.support(fake),
        }
        if self.class_logits:
            coverage = class_coverage(logits)
            scores.update(classes=float(coverage.classes_covered), class_kl=coverage.kl_from_uniform)
        return scores

    def support(self, fake: Tensor) -> dict[str, float]:
        """Consecutive batches of the evaluation samples, which are already independent draws from fixed noise."""
        size = min(self.support_batch, fake.shape[0])
        batches = iter(fake[: fake.shape[0] // size * size].split(size))
        estimate = birthday_support(
            lambda count, generator: next(batches), size, fake.shape[0] // size, self.duplicate_threshold()
        )
        return {"support": estimate.support, "support_lower": estimate.lower_bound, "duplicates": estimate.collisions}


def finite_or_expected(name: str, value: float) -> bool:
    """Support is infinite when no duplicate was found; every other score must be finite."""
    return math.isfinite(value) or (name == "support" and value == math.inf)

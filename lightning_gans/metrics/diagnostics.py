"""What FD cannot say, measured on the same features: precision/recall, density/coverage, support, class coverage.

FD folds sample quality and diversity into one number. These separate them at every evaluation, on the features
FD already computed, so they cost distances but no extra network passes:
- improved precision and recall (Kynkaanniemi et al. 2019, k = 3): quality and coverage of the real manifold;
- density and coverage (Naeem et al. 2020, k = 5): the same two questions asked of the real k-NN balls only, so a
  real outlier's wide ball cannot make collapsed samples look precise;
- a birthday-paradox support estimate (Arora, Risteski & Zhang 2018) from near-duplicate pairs within batches of
  the evaluation samples, with "near" set from real data (pairs closer than all but `duplicate_quantile` of real
  images are to their nearest real neighbour);
- class coverage through the domain classifier, whose logits are the dataset's own classes (Inception's are
  ImageNet's, so class coverage is only computed with the domain extractor).
Everything that depends only on the real features is computed once per reference and kept.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lightning_gans.metrics.coverage import class_coverage
from lightning_gans.metrics.density_coverage import NEIGHBOURS as DENSITY_NEIGHBOURS
from lightning_gans.metrics.density_coverage import density_coverage_in_balls
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
        density_k: int = DENSITY_NEIGHBOURS,
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
        self.density_k = density_k
        self.support_batch = support_batch
        self.duplicate_quantile = duplicate_quantile
        self._real_radii: dict[int, Tensor] = {}
        self._duplicate_threshold: float | None = None

    def real_radii(self, k: int) -> Tensor:
        if k not in self._real_radii:
            self._real_radii[k] = knn_radii(self.real, k)
        return self._real_radii[k]

    def duplicate_threshold(self) -> float:
        if self._duplicate_threshold is None:
            self._duplicate_threshold = float(torch.quantile(self.real_radii(1), self.duplicate_quantile))
        return self._duplicate_threshold

    def __call__(self, fake: Tensor, logits: Tensor) -> dict[str, float]:
        real = self.real.to(fake.device)
        density, coverage = density_coverage_in_balls(
            fake, real, self.real_radii(self.density_k).to(fake.device), self.density_k
        )
        scores = {
            "precision": share_inside(fake, real, self.real_radii(self.k).to(fake.device)),
            "recall": share_inside(real, fake, knn_radii(fake, self.k)),
            "density": density,
            "coverage": coverage,
            **self.support(fake),
        }
        if self.class_logits:
            classes = class_coverage(logits)
            scores.update(classes=float(classes.classes_covered), class_kl=classes.kl_from_uniform)
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

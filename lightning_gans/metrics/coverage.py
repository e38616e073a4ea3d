"""Class coverage of generated samples, read through a classifier's predictions.

On a labelled dataset with balanced classes a generator that has learnt the distribution yields a uniform histogram
of predicted classes, so dropped classes and the histogram's KL divergence from uniform measure mode collapse in a
way Fréchet-type scores average away.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lightning_gans.metrics.frechet import InsufficientSamplesError

UNIFORM_SHARE_FRACTION = 0.2
"""By default a class is covered with at least this fraction of the uniform share 1 / classes."""


@dataclass(frozen=True, eq=False)
class ClassCoverage:
    """How many classes the predictions cover and how far their histogram is from uniform."""

    classes_covered: int
    classes: int
    kl_from_uniform: float  # KL(histogram || uniform) in nats: 0 when balanced, log(classes) when one class
    histogram: Tensor  # (classes,) float64: share of samples predicted as each class
    min_share: float  # share a class needed to count as covered


def class_coverage(logits: Tensor, min_share: float | None = None) -> ClassCoverage:
    """Histogram of argmax predictions of (n, classes) logits, covered classes and KL from uniform.

    The default `min_share` is 20% of the uniform share: a classifier's occasional mistake or a collapsed
    generator's stray sample should not count as covering a class, while a class the generator produces at a
    noticeably reduced rate still does.
    """
    if logits.ndim != 2 or logits.shape[1] == 0:
        raise ValueError(f"logits must be (n, classes) with classes >= 1, got shape {tuple(logits.shape)}")
    count, classes = logits.shape
    if count == 0:
        raise InsufficientSamplesError("class coverage needs at least one sample, got none")
    if min_share is None:
        min_share = UNIFORM_SHARE_FRACTION / classes
    elif not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share}")
    predicted = logits.argmax(dim=1).cpu()
    histogram = torch.bincount(predicted, minlength=classes).to(torch.float64) / count
    present = histogram[histogram > 0]  # 0 log 0 = 0
    return ClassCoverage(
        classes_covered=int((histogram >= min_share).sum()),
        classes=classes,
        kl_from_uniform=(present * (present * classes).log()).sum().item(),
        histogram=histogram,
        min_share=min_share,
    )

"""What a class-conditional generator is judged by beyond FD: does it draw the class it is asked for, and how well.

- Class consistency: the share of samples that the domain classifier assigns to the label they were generated for.
- Intra-class FD: the Fréchet distance between the samples of one label and the test images of that class, in the
  domain classifier's features; reported as the mean over classes and the worst class, and per class. A generator
  that draws good images of the wrong class has a low FD and a high intra-class FD.

The generated side is held as per-class float64 sums (added across batches and processes), so the scores are exact
whatever the batch size and equal under DDP to one process's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from .frechet import check_enough_samples, feature_statistics, frechet_distance, statistics_from_sums


@dataclass(frozen=True)
class ClassReference:
    """Each class's real-feature mean (C, d) and covariance (C, d, d), from `counts` (C,) test images."""

    means: Tensor
    covs: Tensor
    counts: Tensor

    @property
    def classes(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @classmethod
    def from_features(cls, features: Tensor, labels: Tensor, classes: int) -> ClassReference:
        """The statistics of each class's features; every class needs more samples than the features have dims."""
        means, covs, counts = [], [], []
        for label in range(classes):
            members = features[labels == label]
            check_enough_samples(len(members), features.shape[1], f"the test images of class {label}")
            mean, cov = feature_statistics(members)
            means.append(mean)
            covs.append(cov)
            counts.append(len(members))
        return cls(torch.stack(means), torch.stack(covs), torch.tensor(counts))


def samples_per_class(samples: int, classes: int) -> int:
    """The fewest evaluation samples any class gets when labels cycle through the classes (evaluation_labels)."""
    return samples // classes


def minimum_samples(classes: int, dim: int) -> int:
    """Evaluation samples a conditional run needs for every class to have a non-singular covariance."""
    return classes * (dim + 1)


class ClassConditionalScores(Metric):
    """Class consistency and the intra-class FDs of generated samples, given their features, logits and labels."""

    full_state_update = False
    is_differentiable = False

    class_sum: Tensor
    class_outer: Tensor
    class_count: Tensor
    consistent: Tensor

    def __init__(self, reference: ClassReference, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reference = reference
        classes, dim = reference.classes, reference.dim
        self.add_state("class_sum", torch.zeros(classes, dim, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("class_outer", torch.zeros(classes, dim, dim, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("class_count", torch.zeros(classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("consistent", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def forward(self, features: Tensor, logits: Tensor, labels: Tensor) -> None:
        """Only accumulates: one batch alone is too small for a covariance."""
        self.update(features, logits, labels)

    def update(self, features: Tensor, logits: Tensor, labels: Tensor) -> None:
        if features.shape != (len(labels), self.reference.dim) or logits.shape != (len(labels), self.reference.classes):
            raise ValueError(
                f"expected features ({len(labels)}, {self.reference.dim}) and logits ({len(labels)}, "
                f"{self.reference.classes}) for {len(labels)} labels, got {tuple(features.shape)} and "
                f"{tuple(logits.shape)}"
            )
        labels = labels.to(features.device)
        x = features.detach().to(torch.float64)
        self.class_sum.index_add_(0, labels, x)
        for label in labels.unique().tolist():
            members = x[labels == label]
            self.class_outer[label] += members.T @ members
        self.class_count += torch.bincount(labels, minlength=self.reference.classes)
        self.consistent += (logits.argmax(dim=1) == labels).sum()

    def compute(self) -> dict[str, Tensor]:
        reference = self.reference
        distances = []
        for label in range(reference.classes):
            count = int(self.class_count[label])
            check_enough_samples(count, reference.dim, f"generated samples of class {label}")
            mean, cov = statistics_from_sums(self.class_sum[label], self.class_outer[label], count)
            device = mean.device
            distances.append(
                frechet_distance(mean, cov, reference.means[label].to(device), reference.covs[label].to(device))
            )
        per_class = torch.stack(distances)
        total = self.class_count.sum()
        scores = {
            "class_consistency": self.consistent.to(torch.float64) / total,
            "intra_fd_mean": per_class.mean(),
            "intra_fd_worst": per_class.max(),
        }
        scores.update({f"intra_fd_class{label}": value for label, value in enumerate(per_class)})
        return scores

"""FD, IS and KID of generated samples as one torchmetrics Metric, so they accumulate across batches and processes.

The real data's statistics are computed once per dataset (`ReferenceStatistics`) and kept fixed, as in the paper,
where every model is scored against the same reference. The generated side is held in states that torchmetrics
knows how to merge: running float64 sums for the Fréchet distance (added across processes, and exact whatever the
batch size) and the raw features and logits for KID and IS (concatenated), which need the individual samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from lightning_gans.metrics.diagnostics import FeatureDiagnostics
from lightning_gans.metrics.frechet import (
    check_enough_samples,
    feature_statistics,
    frechet_distance,
    statistics_from_sums,
)
from lightning_gans.metrics.inception_score import inception_score
from lightning_gans.metrics.kid import check_subset_size, kernel_inception_distance


@dataclass(frozen=True)
class ReferenceStatistics:
    """Real-data Gaussian statistics for FD plus the real features themselves, which KID needs."""

    mean: Tensor
    cov: Tensor
    bank: Tensor
    count: int

    def __post_init__(self) -> None:
        dim = self.mean.shape[0] if self.mean.ndim == 1 else -1
        if dim < 0 or self.cov.shape != (dim, dim) or self.bank.ndim != 2 or self.bank.shape[1] != dim:
            raise ValueError(
                "expected mean (d,), cov (d, d) and bank (M, d) of one d, got shapes "
                f"{tuple(self.mean.shape)}, {tuple(self.cov.shape)}, {tuple(self.bank.shape)}"
            )

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    @classmethod
    def from_features(cls, features: Tensor) -> ReferenceStatistics:
        """Statistics of all given real features; they are all kept as the KID bank (float32 halves its memory)."""
        features = features.detach()
        mean, cov = feature_statistics(features)
        return cls(mean=mean, cov=cov, bank=features.to(torch.float32), count=features.shape[0])


class GenerativeScores(Metric):
    """FD, IS and KID of generated samples against fixed reference statistics.

    Under DDP the states are summed or concatenated before `compute`, which then gives what one process fed every
    sample would, except for IS with `is_splits` > 1: its splits follow the sample order, and gathered logits come
    in the gather order. KID is order independent (see `kernel_inception_distance`).
    """

    full_state_update = False
    is_differentiable = False

    feature_sum: Tensor
    outer_sum: Tensor
    count: Tensor
    features: list[Tensor] | Tensor
    logits: list[Tensor] | Tensor

    def __init__(
        self,
        reference: ReferenceStatistics,
        is_splits: int = 1,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        kid_seed: int = 0,
        diagnostics: FeatureDiagnostics | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if is_splits < 1 or kid_subsets < 1 or kid_subset_size < 2:
            raise ValueError(
                "need is_splits >= 1, kid_subsets >= 1 and kid_subset_size >= 2, got "
                f"{is_splits}, {kid_subsets}, {kid_subset_size}"
            )
        # The reference is fixed for the metric's life, so its shortfalls are reported now rather than after a
        # whole evaluation pass.
        check_enough_samples(reference.count, reference.dim, "reference statistics")
        check_subset_size(reference.bank.shape[0], kid_subset_size, "reference feature bank")
        self.reference = reference
        self.is_splits = is_splits
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.kid_seed = kid_seed
        self.diagnostics = diagnostics
        dim = reference.dim
        self.add_state("feature_sum", torch.zeros(dim, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("outer_sum", torch.zeros(dim, dim, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("features", [], dist_reduce_fx="cat")
        self.add_state("logits", [], dist_reduce_fx="cat")

    def forward(self, features: Tensor, logits: Tensor) -> None:
        """Only accumulates: the base class would also score the batch alone, which is too small for any score."""
        self.update(features, logits)

    def update(self, features: Tensor, logits: Tensor) -> None:
        dim = self.reference.dim
        if features.ndim != 2 or features.shape[1] != dim:
            raise ValueError(f"features must be (B, {dim}) like the reference, got shape {tuple(features.shape)}")
        if logits.ndim != 2 or logits.shape[0] != features.shape[0]:
            raise ValueError(
                f"logits must be (B, classes) for the same B as features, got shapes "
                f"{tuple(logits.shape)} and {tuple(features.shape)}"
            )
        x = features.detach().to(torch.float64)
        self.feature_sum += x.sum(dim=0)
        self.outer_sum += x.T @ x
        self.count += x.shape[0]
        # float32 halves the memory of the per-sample states, which grow with the evaluation set.
        self.features.append(features.detach().to(torch.float32))
        self.logits.append(logits.detach().to(torch.float32))

    def compute(self) -> dict[str, Tensor]:
        count = int(self.count)
        check_enough_samples(count, self.reference.dim, "generated samples")
        check_subset_size(count, self.kid_subset_size, "generated samples")
        device = self.feature_sum.device
        mean, cov = statistics_from_sums(self.feature_sum, self.outer_sum, count)
        fd = frechet_distance(mean, cov, self.reference.mean.to(device), self.reference.cov.to(device))
        is_mean, is_std = inception_score(dim_zero_cat(self.logits), self.is_splits)
        kid, kid_std = kernel_inception_distance(
            self.reference.bank.to(device),
            dim_zero_cat(self.features),
            subsets=self.kid_subsets,
            subset_size=self.kid_subset_size,
            generator=torch.Generator().manual_seed(self.kid_seed),
        )
        scores = {"fd": fd, "is": is_mean, "is_std": is_std, "kid": kid, "kid_std": kid_std}
        if self.diagnostics is not None:
            extra = self.diagnostics(dim_zero_cat(self.features), dim_zero_cat(self.logits))
            scores.update({name: torch.tensor(value, dtype=torch.float64) for name, value in extra.items()})
        return scores

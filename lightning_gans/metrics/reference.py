"""Reference statistics of real images, computed once and shared by every run that scores against them.

A study scores thousands of checkpoints against the same test split, so the real side (mean, covariance and the
feature bank KID needs) is cached on disk under a key that names everything it depends on: dataset, split,
extractor, the extractor's weights and the sample count. Change any of them and a new file is computed; nothing
stale is ever reused. The file is written to a temporary name and renamed, so worker processes that start
together never read half of it (two may compute it; both write the same bytes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from ..data.cache import load_or_build_npz
from ..data.containers import LabelledSamples
from ..data.locations import cache_dir
from ..defaults import EVALUATION_BATCH_SIZE
from .class_scores import ClassReference
from .features import FeatureExtractor
from .scores import ReferenceStatistics


def reference_path(dataset: str, split: str, extractor: FeatureExtractor, count: int, root: Path | None = None) -> Path:
    root = root if root is not None else cache_dir().parent / "reference"
    return root / f"{dataset}-{split}-{extractor.name}-{extractor.weights_id}-n{count}.npz"


def first_samples(images: Dataset, count: int, what: str) -> Dataset:
    available = len(images)  # type: ignore[arg-type]
    if available < count:
        raise ValueError(f"{what} has {available} samples; {count} were asked for (lower the sample count)")
    return Subset(images, range(count))


@torch.no_grad()
def embed(
    extractor: FeatureExtractor, images: Dataset, batch_size: int, device: torch.device, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and logits of a dataset in order, as float32 on the CPU."""
    loader = DataLoader(images, batch_size=batch_size, collate_fn=stack_batch)
    features, logits = [], []
    for batch in tqdm(loader, desc=f"{extractor.name} features", disable=not progress, leave=False):
        batch_features, batch_logits = extractor(batch.to(device))
        features.append(batch_features.float().cpu())
        logits.append(batch_logits.float().cpu())
    return torch.cat(features), torch.cat(logits)


def stack_batch(batch: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """In-memory datasets hand over a stacked batch already; disk-backed ones a list of samples."""
    return batch if isinstance(batch, torch.Tensor) else torch.stack(batch)


def load_or_compute_reference(
    dataset: str,
    split: str,
    images: Dataset,
    extractor: FeatureExtractor,
    count: int,
    batch_size: int = EVALUATION_BATCH_SIZE,
    device: torch.device | str = "cpu",
    root: Path | None = None,
    progress: bool = False,
) -> ReferenceStatistics:
    """The first `count` images of the split, through the extractor, summarised (cached on disk)."""
    subset = first_samples(images, count, f"the {split} split of {dataset}")
    path = reference_path(dataset, split, extractor, count, root)

    def compute() -> dict[str, np.ndarray]:
        features, _ = embed(extractor, subset, batch_size, torch.device(device), progress)
        reference = ReferenceStatistics.from_features(features)
        return {
            "mean": reference.mean.numpy(),
            "cov": reference.cov.numpy(),
            "bank": reference.bank.numpy(),
            "count": np.array(reference.count),
        }

    arrays = load_or_build_npz(path, compute)
    return ReferenceStatistics(
        mean=torch.from_numpy(arrays["mean"]),
        cov=torch.from_numpy(arrays["cov"]),
        bank=torch.from_numpy(arrays["bank"]),
        count=int(arrays["count"]),
    )


def load_or_compute_class_reference(
    dataset: str,
    images: LabelledSamples,
    extractor: FeatureExtractor,
    batch_size: int = EVALUATION_BATCH_SIZE,
    device: torch.device | str = "cpu",
    root: Path | None = None,
) -> ClassReference:
    """Each class's statistics over every test image of the class (cached on disk beside the overall ones).

    All of them, not the first `samples` the overall statistics take: a prefix of a split is not balanced over the
    classes, and each class needs more images than the features have dimensions (about 1,000 each in the test
    splits of MNIST, Fashion-MNIST and CIFAR-10, for 128 domain features).
    """
    overall = reference_path(dataset, "test", extractor, len(images), root)
    path = overall.with_name(overall.name.replace("-test-", "-test-classes-", 1))

    def compute() -> dict[str, np.ndarray]:
        features, _ = embed(extractor, images, batch_size, torch.device(device))
        reference = ClassReference.from_features(features, images.labels, extractor.num_classes)
        return {"means": reference.means.numpy(), "covs": reference.covs.numpy(), "counts": reference.counts.numpy()}

    arrays = load_or_build_npz(path, compute)
    return ClassReference(*(torch.from_numpy(arrays[key]) for key in ("means", "covs", "counts")))

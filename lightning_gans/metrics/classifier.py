"""The `domain` extractor: a small CNN classifier the project trains on the dataset itself, for offline scoring.

Without the Inception weights (no network) there is no FID, but the paper's protocol only needs a fixed
network whose features separate the data's modes: a classifier trained on the dataset's own labels gives
that, and its 128-d penultimate features and class logits feed FD, KID and IS exactly as Inception's would.
Its numbers are not comparable with published FIDs, only with each other (the file's hash is part of the
cache keys of everything computed with it).

Training is a plain PyTorch loop, bit-for-bit repeatable for a seed on the CPU (cuDNN kernels may differ in
the last bits), and the result is cached at `<cache>/classifiers/<dataset>-domain-v1.pt`. Bump the version
when the architecture changes, so an old file is never loaded into a different network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from lightning_gans.atomic import atomic_path
from lightning_gans.data import locations
from lightning_gans.data.labels import LABELLED_DATASETS, NUM_CLASSES, labelled_split
from lightning_gans.metrics.features import ExtractorUnavailableError, FeatureExtractor, weights_id_of

DOMAIN_DATASETS: tuple[str, ...] = tuple(LABELLED_DATASETS.names())
CLASSIFIER_VERSION = "v1"
NUM_FEATURES = 128

DEFAULT_EPOCHS = 3
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
_EVAL_BATCH_SIZE = 1000


class DomainClassifier(nn.Module):
    """conv32-BN-conv32-pool, conv64-BN-conv64-pool, FC 128 (the features), dropout, FC classes (the logits).

    Sized to reach 90%+ on Fashion-MNIST in a few CPU minutes; the two poolings need H and W divisible by 4.
    """

    def __init__(self, sample_shape: tuple[int, int, int], num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        channels, height, width = sample_shape
        if height % 4 or width % 4:
            raise ValueError(f"the domain classifier needs image sides divisible by 4, got {height}x{width}")
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (height // 4) * (width // 4), NUM_FEATURES),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(NUM_FEATURES, num_classes))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """[0, 1] images -> (features, logits); centring the input speeds up the first epoch."""
        features = self.body(images * 2 - 1)
        return features, self.head(features)


class DomainExtractor(FeatureExtractor):
    name = "domain"
    num_features = NUM_FEATURES

    def __init__(self, classifier: DomainClassifier, sample_shape: tuple[int, ...], num_classes: int, weights_id: str):
        super().__init__(classifier)
        self.sample_shape = tuple(sample_shape)
        self.num_classes = num_classes
        self.weights_id = weights_id

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor]:
        # A wrong shape would either crash in the FC layer with a cryptic message or, resized, mean nothing.
        if tuple(images.shape[1:]) != self.sample_shape:
            raise ValueError(
                f"the domain classifier was trained on {self.sample_shape} images, got {tuple(images.shape[1:])}"
            )
        return self.network(images)


@dataclass(frozen=True)
class ClassifierRecord:
    dataset: str
    path: Path
    test_accuracy: float
    epochs: int
    seed: int
    weights_id: str

    def describe(self) -> str:
        return (
            f"domain classifier for {self.dataset}: test accuracy {self.test_accuracy:.2%} after {self.epochs} "
            f"epochs; weights {self.weights_id} at {self.path}"
        )


def training_notice(dataset: str, cache_dir: Path | None = None) -> str:
    """Said before the first run that needs the classifier trains it: a pause of minutes otherwise looks like a hang.

    The duration is the measured one for the default settings (docs/evaluation.md: 208 s on a 2-core CPU).
    """
    return (
        f"scoring {dataset} needs its domain classifier (no Inception weights here, and FD, IS and KID need a fixed "
        f"network's features): training it once, {DEFAULT_EPOCHS} epochs over the train split, about 3-4 minutes "
        f"on a 2-core CPU and seconds on a GPU; cached at {classifier_path(dataset, cache_dir)} for every later run"
    )


def classifier_path(dataset: str, cache_dir: Path | None = None) -> Path:
    """Under `cache_dir`, by default the project's cache root: the data cache's parent, as for reference statistics.

    One rule (XDG_CACHE_HOME, via `locations.cache_dir`) decides where every cached file of the project goes.
    """
    root = Path(cache_dir) if cache_dir is not None else locations.cache_dir().parent
    return root / "classifiers" / f"{dataset}-domain-{CLASSIFIER_VERSION}.pt"


def train_domain_classifier(
    dataset: str,
    *,
    data_dir: str | None = None,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    train_limit: int | None = None,
    cache_dir: Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> ClassifierRecord:
    """Train on the train split (its first `train_limit` images, if set), test on the whole test split, cache.

    The global RNG is left as it was: training a classifier in the middle of a seeded GAN run must not
    change that run's random stream.
    """
    root = Path(data_dir) if data_dir is not None else None
    train_images, train_labels = labelled_split(dataset, root, "train", False)
    test_images, test_labels = labelled_split(dataset, root, "test", False)
    if train_limit is not None:
        train_images, train_labels = train_images[:train_limit], train_labels[:train_limit]
    sample_shape = tuple(train_images.shape[1:])
    target = torch.device(device)
    with torch.random.fork_rng(devices=[target] if target.type == "cuda" else []):
        torch.manual_seed(seed)
        classifier = DomainClassifier(sample_shape).to(target)
        _fit(classifier, train_images, train_labels, epochs, seed, target, progress)
    accuracy = _accuracy(classifier, test_images, test_labels, target)
    path = classifier_path(dataset, cache_dir)
    _save_atomically(
        path,
        {
            "state_dict": {key: value.cpu() for key, value in classifier.state_dict().items()},
            "dataset": dataset,
            "num_classes": NUM_CLASSES,
            "sample_shape": list(sample_shape),
            "test_accuracy": accuracy,
            "epochs": epochs,
            "seed": seed,
            "train_size": len(train_images),
        },
    )
    return ClassifierRecord(dataset, path, accuracy, epochs, seed, weights_id_of(path))


def _fit(
    classifier: DomainClassifier,
    images: Tensor,
    labels: Tensor,
    epochs: int,
    seed: int,
    device: torch.device,
    progress: bool,
) -> None:
    """Adam with a cosine-decayed learning rate, so the last epoch fine-tunes instead of bouncing at the peak."""
    optimizer = torch.optim.Adam(classifier.parameters(), lr=LEARNING_RATE)
    steps = epochs * math.ceil(len(images) / BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    order = torch.Generator().manual_seed(seed)
    classifier.train()
    for epoch in range(epochs):
        permutation = torch.randperm(len(images), generator=order)
        batches = tqdm(
            permutation.split(BATCH_SIZE), desc=f"classifier epoch {epoch + 1}/{epochs}", disable=not progress
        )
        for indices in batches:
            batch = images[indices].to(device).float().div_(255)
            _, logits = classifier(batch)
            loss = F.cross_entropy(logits, labels[indices].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if progress:  # .item() waits for the device, so only when someone is watching
                batches.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    classifier.eval()


@torch.no_grad()
def _accuracy(classifier: DomainClassifier, images: Tensor, labels: Tensor, device: torch.device) -> float:
    classifier.eval()
    correct = 0
    for batch, batch_labels in zip(images.split(_EVAL_BATCH_SIZE), labels.split(_EVAL_BATCH_SIZE), strict=True):
        _, logits = classifier(batch.to(device).float().div_(255))
        correct += int((logits.argmax(1).cpu() == batch_labels).sum())
    return correct / len(images)


def _save_atomically(path: Path, payload: dict) -> None:
    """Temporary file + rename: a DDP rank or a second run never loads half a file."""
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def load_domain_extractor(
    dataset: str,
    cache_dir: Path | None = None,
    device: torch.device | str = "cpu",
    *,
    data_dir: str | None = None,
) -> DomainExtractor:
    """The cached classifier for `dataset`; `data_dir` only goes into the hint for training a missing one."""
    if dataset not in DOMAIN_DATASETS:
        raise ExtractorUnavailableError(
            f"no domain classifier can be trained for {dataset!r} (it has no class labels); "
            f"labelled datasets: {', '.join(DOMAIN_DATASETS)}. Use the inception extractor for it."
        )
    path = classifier_path(dataset, cache_dir)
    command = f"lightning-gans train-classifier --data {dataset}" + (f" --data_dir {data_dir}" if data_dir else "")
    if not path.is_file():
        raise ExtractorUnavailableError(f"no domain classifier for {dataset} at {path}; train it with `{command}`")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        sample_shape = tuple(saved["sample_shape"])
        classifier = DomainClassifier(sample_shape, saved["num_classes"])
        classifier.load_state_dict(saved["state_dict"])
    # A damaged or foreign file fails in many ways (unpickling, missing keys, shape mismatches); all mean "retrain".
    except Exception as exc:
        raise ExtractorUnavailableError(
            f"{path} is not a usable domain classifier ({type(exc).__name__}: {exc}); delete it and run `{command}`"
        ) from exc
    extractor = DomainExtractor(classifier, sample_shape, saved["num_classes"], weights_id_of(path))
    return extractor.to(device)

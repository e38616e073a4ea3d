"""The dataset registry: one DatasetSpec per name the CLI accepts.

A spec answers the questions asked before any data is loaded (sample shape for building the networks,
the paper's step budget, which splits exist), so a bad configuration fails in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from lightning_gans.data.images import load_celeba, load_cifar10, load_fashion_mnist, load_mnist
from lightning_gans.data.mixtures import load_grid25, load_ring8
from lightning_gans.data.polygons import load_polygons
from lightning_gans.registry import Registry
from lightning_gans.training.nets import PAPER_BACKBONE


@dataclass(frozen=True)
class DatasetSpec:
    """What the rest of the project needs to know about a dataset, plus how to load one split.

    `paper_steps` is the paper's training budget for the dataset, in steps of one batch of 64, and `paper_eval_every`
    its evaluation (and checkpoint) interval: the reference evaluates every 5 "epochs" of 50,000 images (162,000 for
    CelebA), i.e. 5 * epoch // 64 steps. This table is the one place both live: `fit` (the GAN's `steps` and the
    schedule's `every_n_steps` default to it), sweeps and reruns read it. `label` is the name figures and tables show;
    `objective` is what a run on the dataset is judged by unless told otherwise (evaluation/objectives.py),
    `backbone` the networks it trains when none is named (the paper's InfoGAN pair for images), and `evaluators`
    what scores its runs (evaluation/schedule.py's EVALUATORS: `features` for FD/IS/KID and the feature-space
    measures, `polygons`, `mixture`).
    `load(data_dir, split, download)` returns float32 samples: images in [0, 1] of `sample_shape`,
    mixture points as raw coordinates.
    """

    name: str
    sample_shape: tuple[int, ...]
    paper_steps: int
    paper_eval_every: int
    splits: tuple[str, ...]
    load: Callable[[Path | None, str, bool], Dataset]
    label: str = ""
    objective: str = "fd"
    backbone: str = PAPER_BACKBONE
    evaluators: tuple[str, ...] = ("features",)
    test_size: int | None = 10_000
    """Images in the test split, which FD scores samples against: an evaluation cannot use more (None: unknown
    until the split is read)."""

    def check_evaluation_samples(self, samples: int) -> None:
        """Fails now, not in a run's first evaluation, when `samples` exceeds what the scores compare against."""
        if "features" in self.evaluators and self.test_size is not None and samples > self.test_size:
            raise ValueError(
                f"evaluation samples {samples} is more than the {self.test_size:,} test images of {self.name} that "
                f"the scores compare against; use at most {self.test_size}"
            )


DATASETS: Registry[DatasetSpec] = Registry("dataset")

for _spec in (
    # 20 epochs of 50,000 images, evaluated every 5; CIFAR-10 100 epochs and CelebA 40 epochs of 162,000 images.
    DatasetSpec("mnist", (1, 28, 28), 15_625, 3_906, ("train", "test"), load_mnist, "MNIST"),
    DatasetSpec("fashion_mnist", (1, 28, 28), 15_625, 3_906, ("train", "test"), load_fashion_mnist, "Fashion-MNIST"),
    DatasetSpec("cifar10", (3, 32, 32), 78_125, 3_906, ("train", "test"), load_cifar10, "CIFAR-10"),
    DatasetSpec("celeba", (3, 64, 64), 101_250, 12_656, ("train", "test"), load_celeba, "CelebA", test_size=19_962),
    # The synthetic sets have a known truth, so runs there are judged by it (polygon F1, mixture modes covered).
    DatasetSpec(
        "polygons",
        (1, 28, 28),
        15_625,
        3_906,
        ("train", "test", "holdout"),
        load_polygons,
        "Convex polygons",
        "f1",
        evaluators=("features", "polygons"),
    ),
    # Not in the reference: this project's mode-collapse sets, five evaluations per run.
    DatasetSpec(
        "ring8", (2,), 25_000, 5_000, ("train", "test"), load_ring8, "Ring of 8 Gaussians", "modes", "mlp", ("mixture",)
    ),
    DatasetSpec(
        "grid25",
        (2,),
        25_000,
        5_000,
        ("train", "test"),
        load_grid25,
        "Grid of 25 Gaussians",
        "modes",
        "mlp",
        ("mixture",),
    ),
):
    DATASETS.register(_spec.name, _spec)

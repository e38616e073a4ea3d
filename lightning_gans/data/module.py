"""The LightningDataModule the trainer sees: one registered dataset, streamed by global step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from lightning_gans.data.containers import InMemorySamples, LabelledSamples, SamplesWithLabels
from lightning_gans.data.datasets import DATASETS
from lightning_gans.data.labels import LABELLED_DATASETS, NUM_CLASSES, labelled_split
from lightning_gans.data.polygons import DEFAULT_SIDES, checked_sides, sides_tag
from lightning_gans.data.resident import RESIDENT_MAX_BYTES, ResidentBatches
from lightning_gans.data.sampling import StepBatchSampler
from lightning_gans.defaults import BATCH_SIZE
from lightning_gans.registry import UnknownNameError

POLYGONS = "polygons"


class GANDataModule(pl.LightningDataModule):
    """Serves one dataset of the registry: an endless, resumable training stream and a finite test pass.

    The training batch at step s is a pure function of (seed, s, rank, world_size) (see StepBatchSampler);
    the stream starts at the attached GAN module's `d_step`, its count of discriminator steps already
    taken, so a resumed run sees exactly the batches the uninterrupted run would have. The trainer must
    run with use_distributed_sampler=False, since ranks already take disjoint slices here.

    `num_workers` applies to disk-backed datasets (CelebA), whose JPEG decoding needs parallel workers.
    In-memory datasets are served from the main process: a batch is one indexing op, and sending it
    from a worker would cost more than making it.

    `on_device` holds an in-memory train split on the training device and gathers the same batches there
    (ResidentBatches): `True` always (an error for a split read from files), `False` never (a DataLoader),
    `auto` when the split takes at most RESIDENT_MAX_BYTES (1 GiB) as stored. The batches are identical either
    way; only where they are made differs. On an accelerator the stream saves a host-to-device copy per step; on
    the CPU it holds the split in place (no copy), and it is what lets the GAN take a block of steps per Lightning
    batch (training/stepping.py), which on the mixtures' MLP is a third of the step time.

    `conditional` serves each batch with its class labels, (samples, labels), for a class-conditional GAN (the CLI
    sets the model's `num_classes` from it). Only the labelled datasets (data/labels.py: MNIST, Fashion-MNIST,
    CIFAR-10) have labels; another is refused. Every split is then read with its labels from one located copy, and
    the test split's labels are what the per-class scores compare against.

    `polygon_sides` is the set of vertex counts a polygon draws from, uniformly (polygons only): the default (3,)
    is the paper's triangles, [3, 4, 5, 6, 7] the mix of earlier versions; each count is an integer from 3 to
    polygons.MAX_SIDES (15). Another dataset refuses a non-default value rather than ignore it.
    """

    def __init__(
        self,
        name: str = "fashion_mnist",
        data_dir: str | None = None,
        batch_size: int = BATCH_SIZE,
        seed: int = 0,
        num_workers: int = 0,
        download: bool = True,
        on_device: bool | Literal["auto"] = "auto",
        polygon_sides: Sequence[int] = DEFAULT_SIDES,
        conditional: bool = False,
    ) -> None:
        super().__init__()
        # Validate only; loading waits for setup so that a bad argument fails before any slow work.
        self.spec = DATASETS.get(name)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be at least 0, got {num_workers}")
        if on_device not in (True, False, "auto"):
            raise ValueError(f"on_device must be true, false or 'auto', got {on_device!r}")
        if conditional and name not in LABELLED_DATASETS:
            raise ValueError(
                f"dataset {name!r} has no class labels, so it cannot train a conditional GAN; the labelled datasets "
                f"are {', '.join(LABELLED_DATASETS)}"
            )
        self.conditional = conditional
        self.polygon_sides = checked_sides(polygon_sides)
        if name != POLYGONS and self.polygon_sides != DEFAULT_SIDES:
            raise ValueError(
                f"polygon_sides={list(polygon_sides)} applies to the polygons dataset only, not {name}; "
                f"leave it at its default {list(DEFAULT_SIDES)}"
            )
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            # Looking elsewhere would train on whatever copy is found instead of the one asked for.
            raise ValueError(
                f"data_dir {data_dir!r} is not a directory; point it at the folder that holds the dataset, or leave "
                "it out for the usual lookup ($LIGHTNING_GANS_DATA, the system copy, the cache)"
            )
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.download = download
        self.on_device = on_device
        self._splits: dict[str, Dataset] = {}
        self._load = self._split_loader()

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.spec.sample_shape

    @property
    def num_classes(self) -> int:
        """Classes a conditional GAN on this data is conditioned on; 0 when the batches carry no labels."""
        return NUM_CLASSES if self.conditional else 0

    @property
    def paper_steps(self) -> int:
        return self.spec.paper_steps

    @property
    def paper_eval_every(self) -> int:
        return self.spec.paper_eval_every

    @property
    def cache_name(self) -> str:
        """The name that caches derived from this data (reference statistics) are filed under.

        The dataset's name, with the vertex counts for polygons ("polygons-sides3"), so that polygons drawn
        with different counts never share a cache, nor with the 3-7-sided data once cached as plain "polygons".
        """
        if self.spec.name != POLYGONS:
            return self.spec.name
        return f"{POLYGONS}-{sides_tag(self.polygon_sides)}"

    def prepare_data(self) -> None:
        """Runs on one process per node before `setup`: any download or cache build happens once here."""
        self.split("train")

    def setup(self, stage: str | None = None) -> None:
        self.split("train")

    def split(self, name: str) -> Dataset:
        """Any split of the dataset, loaded on first use and kept."""
        if name not in self.spec.splits:
            valid = ", ".join(self.spec.splits)
            raise UnknownNameError(f"unknown split {name!r} of {self.spec.name}; valid splits: {valid}")
        if name not in self._splits:
            self._splits[name] = self._load(self.data_dir, name, self.download)
        return self._splits[name]

    def _split_loader(self) -> Callable[[Path | None, str, bool], Dataset]:
        """The spec's `load`, with the vertex counts bound for polygons.

        Bound here (functools.partial) rather than added to DatasetSpec.load: every registered loader keeps the
        one signature (data_dir, split, download), and the option stays with the only loader that takes it,
        whose own default is the paper's triangles.
        """
        if self.conditional:
            return partial(_labelled_samples, self.spec.name)
        if self.spec.name != POLYGONS:
            return self.spec.load
        return partial(self.spec.load, sides=self.polygon_sides)

    def train_dataloader(self) -> DataLoader | ResidentBatches:
        return self.stream(self.seed)

    def stream(self, seed: int) -> DataLoader | ResidentBatches:
        """The training stream a run seeded `seed` reads, from the attached module's step on."""
        dataset = self.split("train")
        start_step, rank, world_size = self._stream_position()
        sampler = StepBatchSampler(len(dataset), self.batch_size, seed, start_step, rank, world_size)
        resident = self._resident_split(dataset)
        labels = dataset.labels if isinstance(dataset, LabelledSamples) else None
        if resident is not None:
            return ResidentBatches(resident, sampler, self._training_device(), self._block_end(), labels)
        served = SamplesWithLabels(dataset) if isinstance(dataset, LabelledSamples) else dataset
        return self._loader(served, batch_sampler=sampler)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.split("test"), batch_size=self.batch_size, shuffle=False)

    def _stream_position(self) -> tuple[int, int, int]:
        """(start step, rank, world size): from the trainer when attached, else a fresh single process."""
        if self.trainer is None:
            return 0, 0, 1
        return int(self.trainer.lightning_module.d_step), self.trainer.global_rank, self.trainer.world_size

    def _block_end(self) -> Callable[[int], int] | None:
        """The attached module's cut of the stream into blocks of steps (GAN.block_end), where it has one."""
        module = self.trainer.lightning_module if self.trainer is not None else None
        return getattr(module, "block_end", None)

    def _training_device(self) -> torch.device:
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _resident_split(self, dataset: Dataset) -> torch.Tensor | None:
        """The stored train split when it is to be served from the training device (see `on_device`), else None."""
        if not isinstance(dataset, InMemorySamples):
            if self.on_device is True:
                raise ValueError(f"on_device=True needs a split held in memory; {self.spec.name} is read from files")
            return None
        held = dataset.data.nbytes <= RESIDENT_MAX_BYTES if self.on_device == "auto" else self.on_device
        return dataset.data if held else None

    def _loader(self, dataset: Dataset, **batching: object) -> DataLoader:
        if hasattr(dataset, "__getitems__"):
            return DataLoader(dataset, collate_fn=_already_batched, **batching)
        return DataLoader(dataset, collate_fn=torch.stack, num_workers=self.num_workers, **batching)


def _labelled_samples(name: str, data_dir: Path | None, split: str, download: bool) -> LabelledSamples:
    """One split of a labelled dataset with its labels, both read from the same located copy."""
    images, labels = labelled_split(name, data_dir, split, download)
    return LabelledSamples(images, labels)


def _already_batched(batch: torch.Tensor) -> torch.Tensor:
    """`__getitems__` has already stacked the batch (in one indexing op), so collation has nothing to do."""
    return batch

"""GANDataModule: validation before any loading, the spec's properties, and the batches it serves."""

import gzip
import itertools
import struct
from pathlib import Path
from types import SimpleNamespace

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from PIL import Image
from test_data_sampling import documented_batch
from torch.utils.data import DataLoader

from lightning_gans.data import DATASETS, DatasetNotFoundError, GANDataModule
from lightning_gans.data.resident import ResidentBatches
from lightning_gans.registry import UnknownNameError

SPECS = {
    "mnist": ((1, 28, 28), 15_625, ("train", "test")),
    "fashion_mnist": ((1, 28, 28), 15_625, ("train", "test")),
    "cifar10": ((3, 32, 32), 78_125, ("train", "test")),
    "celeba": ((3, 64, 64), 101_250, ("train", "test")),
    "polygons": ((1, 28, 28), 15_625, ("train", "test", "holdout")),
    "ring8": ((2,), 25_000, ("train", "test")),
    "grid25": ((2,), 25_000, ("train", "test")),
}


@pytest.fixture(autouse=True)
def isolated_locations(tmp_path, monkeypatch):
    monkeypatch.delenv("LIGHTNING_GANS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr("lightning_gans.data.locations.DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")


@pytest.fixture
def mnist_dir(tmp_path) -> Path:
    """A tiny MNIST: 200 random train images and 70 test images."""
    rng = np.random.default_rng(0)
    for stem, count in (("train-images-idx3-ubyte", 200), ("t10k-images-idx3-ubyte", 70)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        data = struct.pack(">4i", 0x803, *images.shape) + images.tobytes()
        (tmp_path / f"{stem}.gz").write_bytes(gzip.compress(data))
    return tmp_path


def test_registry_holds_the_papers_datasets():
    assert DATASETS.names() == list(SPECS)
    for name, (shape, steps, splits) in SPECS.items():
        spec = DATASETS.get(name)
        assert (spec.name, spec.sample_shape, spec.paper_steps, spec.splits) == (name, shape, steps, splits)


@pytest.mark.parametrize("name", list(SPECS))
def test_properties_come_from_the_spec_without_loading(name, tmp_path):
    module = GANDataModule(name, data_dir=str(tmp_path), download=False)  # empty: loading now would fail
    assert (module.sample_shape, module.paper_steps) == SPECS[name][:2]


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="valid dataset names: mnist, fashion_mnist, cifar10, celeba"):
        GANDataModule("imagenet")


@pytest.mark.parametrize(("argument", "value"), [("batch_size", 0), ("num_workers", -1), ("on_device", "gpu")])
def test_bad_numbers_are_refused_at_once(argument, value):
    with pytest.raises(ValueError, match=argument):
        GANDataModule("ring8", **{argument: value})


def test_polygon_sides_are_kept_sorted_and_name_the_caches():
    assert GANDataModule("polygons").polygon_sides == (3,)
    assert GANDataModule("polygons").cache_name == "polygons-sides3"
    mixed = GANDataModule("polygons", polygon_sides=[7, 3, 5, 4, 6])
    assert (mixed.polygon_sides, mixed.cache_name) == ((3, 4, 5, 6, 7), "polygons-sides3-4-5-6-7")
    assert GANDataModule("mnist").cache_name == "mnist"
    assert GANDataModule("ring8", polygon_sides=[3]).cache_name == "ring8"


@pytest.mark.parametrize(("sides", "named"), [([2], "2"), ([3, 16], "16"), ([3.5], "3.5"), ([3, 3], r"\[3, 3\]")])
def test_bad_polygon_sides_are_refused_at_once(sides, named):
    with pytest.raises(ValueError, match=rf"polygon_sides.*{named}.*integers from 3 to 15"):
        GANDataModule("polygons", polygon_sides=sides)


def test_other_datasets_refuse_polygon_sides():
    with pytest.raises(ValueError, match=r"polygon_sides=\[4\] applies to the polygons dataset only, not mnist"):
        GANDataModule("mnist", polygon_sides=[4])


def test_nothing_is_loaded_until_setup(tmp_path):
    (tmp_path / "empty").mkdir()
    module = GANDataModule("mnist", data_dir=str(tmp_path / "empty"), download=False)
    with pytest.raises(DatasetNotFoundError, match="empty"):
        module.setup("fit")


def test_unknown_split_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="valid splits: train, test, holdout"):
        GANDataModule("polygons").split("nope")


def test_train_batches_are_the_documented_stream_of_float_images(mnist_dir):
    module = GANDataModule("mnist", data_dir=str(mnist_dir), seed=4)
    module.setup("fit")
    stored = module.split("train").data
    for step, batch in enumerate(itertools.islice(module.train_dataloader(), 5)):
        assert batch.shape == (64, 1, 28, 28) and batch.dtype == torch.float32
        assert batch.min() >= 0 and batch.max() <= 1
        assert torch.equal(batch, stored[documented_batch(200, 64, 4, step)].float() / 255)


def attach(module: GANDataModule, d_step: int, rank: int, world_size: int, device: str = "cpu") -> None:
    """What the data module reads of a trainer: the GAN's d_step, the rank, the world size and the device."""
    module.trainer = SimpleNamespace(
        lightning_module=SimpleNamespace(d_step=d_step),
        global_rank=rank,
        world_size=world_size,
        strategy=SimpleNamespace(root_device=torch.device(device)),
    )


def test_attached_trainer_sets_start_step_and_rank(mnist_dir):
    module = GANDataModule("mnist", data_dir=str(mnist_dir), batch_size=16, seed=1)
    attach(module, d_step=7, rank=1, world_size=2)
    stored = module.split("train").data
    batches = list(itertools.islice(module.train_dataloader(), 3))
    for step, batch in zip(range(7, 10), batches, strict=True):
        assert torch.equal(batch, stored[documented_batch(200, 16, 1, step, rank=1, world_size=2)].float() / 255)


def test_test_loader_is_one_ordered_pass(mnist_dir):
    module = GANDataModule("mnist", data_dir=str(mnist_dir), batch_size=32)
    batches = list(module.test_dataloader())
    assert [len(batch) for batch in batches] == [32, 32, 6]
    assert torch.equal(torch.cat(batches), module.split("test").data.float() / 255)


def test_mixture_batches_are_raw_points():
    module = GANDataModule("grid25", batch_size=256)
    module.setup()
    batch = next(iter(module.train_dataloader()))
    assert batch.shape == (256, 2) and batch.dtype == torch.float32
    assert batch.abs().max() > 3, "coordinates, not [0, 1] images"


@pytest.fixture
def celeba_dir(tmp_path) -> Path:
    """A tiny CelebA in torchvision's layout: two train images and one test image."""
    folder = tmp_path / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    for index in range(3):
        image = Image.new("RGB", (178, 218), (40 * index, 100, 200))
        image.save(folder / "img_align_celeba" / f"{index}.jpg")
    (folder / "list_eval_partition.txt").write_text("0.jpg 0\n1.jpg 0\n2.jpg 2\n")
    return tmp_path


def test_disk_backed_batches_are_stacked_items(celeba_dir):
    module = GANDataModule("celeba", data_dir=str(celeba_dir), batch_size=2, num_workers=2)
    batch = next(iter(module.train_dataloader()))
    assert batch.shape == (2, 3, 64, 64) and batch.dtype == torch.float32
    assert [len(batch) for batch in module.test_dataloader()] == [1]


class RecordBatches(pl.LightningModule):
    """Stands in for the GAN module: counts D steps in `d_step` and records what it was fed."""

    def __init__(self, d_step: int) -> None:
        super().__init__()
        self.d_step = d_step
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[torch.Tensor] = []

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        self.seen.append(batch)
        self.d_step += 1
        return self.weight * batch.mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


@pytest.mark.parametrize("on_device", [True, False])
def test_a_real_trainer_resumes_the_stream_at_d_step(tmp_path, on_device):
    module = GANDataModule("ring8", batch_size=32, seed=3, on_device=on_device)
    model = RecordBatches(d_step=40)  # as if restored from a checkpoint taken after 40 D steps
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=3,
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=module)
    stored = module.split("train").data
    assert len(model.seen) == 3
    for step, batch in zip(range(40, 43), model.seen, strict=True):
        assert torch.equal(batch, stored[documented_batch(len(stored), 32, 3, step)])


@pytest.mark.parametrize(("start_step", "rank", "world_size"), [(0, 0, 1), (5, 0, 1), (4, 1, 2), (11, 0, 2)])
def test_device_resident_and_dataloader_batches_are_the_documented_stream(mnist_dir, start_step, rank, world_size):
    """Same (seed, start step, rank, world size), same batches bit for bit, across epoch boundaries (every 12 or
    6 steps here); starting at `start_step` is how a resumed run continues."""
    for on_device, kind in ((True, ResidentBatches), (False, DataLoader)):
        module = GANDataModule("mnist", data_dir=str(mnist_dir), batch_size=16, seed=2, on_device=on_device)
        attach(module, start_step, rank, world_size)
        batches = module.train_dataloader()
        assert isinstance(batches, kind)
        stored = module.split("train").data
        steps = range(start_step, start_step + 20)
        for step, batch in zip(steps, itertools.islice(batches, len(steps)), strict=True):
            expected = stored[documented_batch(200, 16, 2, step, rank, world_size)].float() / 255
            assert batch.dtype == torch.float32
            assert torch.equal(batch, expected), f"step {step} differs (on_device={on_device})"


def test_device_resident_mixture_batches_are_the_documented_points():
    module = GANDataModule("grid25", batch_size=100, seed=5, on_device=True)
    stored = module.split("train").data
    per_epoch = len(stored) // 100
    batches = list(itertools.islice(module.train_dataloader(), per_epoch + 3))
    for step, batch in enumerate(batches):
        assert torch.equal(batch, stored[documented_batch(len(stored), 100, 5, step)])


def test_auto_holds_a_small_split_in_memory_on_any_device(mnist_dir, monkeypatch):
    """On the CPU in place (nothing copied), on an accelerator once; "meta" stands in for a GPU."""
    module = GANDataModule("mnist", data_dir=str(mnist_dir), batch_size=16)
    in_place = module.train_dataloader()
    assert isinstance(in_place, ResidentBatches)
    assert in_place.data.data_ptr() == module.split("train").data.data_ptr()
    attach(module, 0, 0, 1, device="meta")
    resident = module.train_dataloader()
    assert isinstance(resident, ResidentBatches)
    batch = next(iter(resident))
    assert (batch.device.type, batch.dtype, batch.shape) == ("meta", torch.float32, (16, 1, 28, 28))
    monkeypatch.setattr("lightning_gans.data.module.RESIDENT_MAX_BYTES", 200 * 28 * 28 - 1)  # one byte too small
    assert isinstance(module.train_dataloader(), DataLoader)


def test_a_module_that_cuts_blocks_of_steps_gets_the_same_batches_stacked(mnist_dir):
    """A training module with `block_end` (the GAN's: training/stepping.py) is served blocks of consecutive steps,
    each the steps' own batches stacked, across epoch boundaries (every 12 steps here), from its resumed step on."""
    module = GANDataModule("mnist", data_dir=str(mnist_dir), batch_size=16, seed=2)
    attach(module, 5, 0, 1)
    single = torch.stack(list(itertools.islice(module.train_dataloader(), 20)))
    module.trainer.lightning_module.block_end = lambda start: start + 1 + (start // 2) % 3
    blocks = list(itertools.islice(module.train_dataloader(), 7))
    assert [len(block) for block in blocks] == [3, 2, 3, 1, 2, 3, 1]  # steps 5-7, 8-9, 10-12, 13, 14-15, 16-18, 19
    assert all(block.shape[1:] == (16, 1, 28, 28) for block in blocks)
    assert torch.equal(torch.cat(blocks), single[:15])


def test_files_on_disk_cannot_be_held_on_the_device(celeba_dir):
    assert isinstance(GANDataModule("celeba", data_dir=str(celeba_dir), batch_size=2).train_dataloader(), DataLoader)
    held = GANDataModule("celeba", data_dir=str(celeba_dir), batch_size=2, on_device=True)
    with pytest.raises(ValueError, match="on_device=True needs a split held in memory; celeba is read from files"):
        held.train_dataloader()

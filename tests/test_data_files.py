"""On-disk format readers: exact values from small files written here, and damaged files named in errors."""

import gzip
import pickle
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_gans.data import DATASETS, DatasetFileError, DatasetNotFoundError
from lightning_gans.data.files import read_idx_images

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


@pytest.fixture(autouse=True)
def isolated_locations(tmp_path, monkeypatch):
    """Only the directories a test names are searched: no user data, cache or Debian copy."""
    monkeypatch.delenv("LIGHTNING_GANS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr("lightning_gans.data.locations.DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")


def idx_bytes(images: np.ndarray, magic: int = 0x00000803) -> bytes:
    return struct.pack(">4i", magic, *images.shape) + images.astype(np.uint8).tobytes()


def write_idx(path: Path, images: np.ndarray, magic: int = 0x00000803) -> Path:
    data = idx_bytes(images, magic)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def random_images(count: int, seed: int = 0, size: int = 28) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size), dtype=np.uint8)


# IDX


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_idx_reader_returns_the_exact_pixels(tmp_path, name):
    images = random_images(3, size=5)
    np.testing.assert_array_equal(read_idx_images(write_idx(tmp_path / name, images)), images)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_samples_are_pixels_over_255(tmp_path, gz):
    suffix = ".gz" if gz else ""
    train, test = random_images(4, seed=1), random_images(2, seed=2)
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", train)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", test)
    for split, images in (("train", train), ("test", test)):
        dataset = DATASETS.get("mnist").load(tmp_path, split, False)
        assert len(dataset) == len(images)
        sample = dataset[1]
        assert sample.dtype == torch.float32 and sample.shape == (1, 28, 28)
        assert torch.equal(sample, torch.from_numpy(images[1]).float().div(255)[None])


def test_truncated_idx_file_is_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(random_images(2))[:-10])
    with pytest.raises(DatasetFileError, match="truncated") as error:
        read_idx_images(path)
    assert str(path) in str(error.value)


def test_idx_file_shorter_than_its_header_is_named(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08")
    with pytest.raises(DatasetFileError, match="header") as error:
        read_idx_images(path)
    assert str(path) in str(error.value)


def test_wrong_idx_magic_is_named(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", random_images(2), magic=0x00000801)
    with pytest.raises(DatasetFileError, match="magic") as error:
        read_idx_images(path)
    assert str(path) in str(error.value)


def test_corrupt_gzip_is_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(random_images(2)))[:-20])  # cut mid-stream
    with pytest.raises(DatasetFileError, match="gzip") as error:
        read_idx_images(path)
    assert str(path) in str(error.value)


def test_idx_images_of_the_wrong_size_are_named(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", random_images(2, size=32))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", random_images(2, size=32))
    with pytest.raises(DatasetFileError, match=r"\(32, 32\), expected \(28, 28\)"):
        DATASETS.get("mnist").load(tmp_path, "train", False)


# CIFAR-10


def write_cifar(root: Path, count: int = 2) -> dict[str, np.ndarray]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rows = {}
    for index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        rows[name] = np.random.default_rng(index).integers(0, 256, (count, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": rows[name], b"labels": [index] * count, b"batch_label": b"x"}, handle)
    return rows


def test_cifar_images_are_the_rows_in_channel_major_order(tmp_path):
    rows = write_cifar(tmp_path)
    train = DATASETS.get("cifar10").load(tmp_path, "train", False)
    test = DATASETS.get("cifar10").load(tmp_path, "test", False)
    assert (len(train), len(test)) == (10, 2)
    expected_train = np.concatenate([rows[f"data_batch_{i}"] for i in range(1, 6)])
    for dataset, expected in ((train, expected_train), (test, rows["test_batch"])):
        batch = dataset.__getitems__(list(range(len(dataset))))
        assert batch.dtype == torch.float32 and batch.shape == (len(expected), 3, 32, 32)
        assert torch.equal(batch, torch.from_numpy(expected).float().div(255).view(-1, 3, 32, 32))
    # Row layout: 1024 red values, then green, then blue, each row-major.
    first = expected_train[0]
    assert round(train[0][1, 2, 3].item() * 255) == first[1024 + 2 * 32 + 3]


def test_cifar_is_also_found_under_a_cifar10_folder(tmp_path):
    write_cifar(tmp_path / "cifar10")
    assert len(DATASETS.get("cifar10").load(tmp_path, "test", False)) == 2


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x80\x04\x95garbage", "not a readable CIFAR batch"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 0]}), "expected uint8"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "2 images but 1 labels"),
        (pickle.dumps({"data": np.zeros((2, 3072), np.uint8)}), "must be a dict with keys"),
        (pickle.dumps({b"data": OrderedDict(), b"labels": []}), "not allowed"),
    ],
)
def test_damaged_cifar_batch_is_named(tmp_path, content, problem):
    write_cifar(tmp_path)
    damaged = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    damaged.write_bytes(content)
    with pytest.raises(DatasetFileError, match=problem) as error:
        DATASETS.get("cifar10").load(tmp_path, "train", False)
    assert str(damaged) in str(error.value)


# CelebA


def celeba_face(colour_left=GREEN, colour_right=BLUE) -> Image.Image:
    """178x218 like img_align_celeba: a red frame around the central 160x160 square, split in two colours."""
    image = Image.new("RGB", (178, 218), RED)
    left, top = (178 - 160) // 2, (218 - 160) // 2
    image.paste(Image.new("RGB", (80, 160), colour_left), (left, top))
    image.paste(Image.new("RGB", (80, 160), colour_right), (left + 80, top))
    return image


def write_celeba(root: Path, partitions: dict[str, int]) -> Path:
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    for name in partitions:
        celeba_face().save(folder / "img_align_celeba" / name, quality=100, subsampling=0)
    lines = [f"{name} {partition}" for name, partition in partitions.items()]
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return folder


CELEBA_PARTITIONS = {"000001.jpg": 0, "000002.jpg": 0, "000003.jpg": 1, "000004.jpg": 2, "000005.jpg": 0}


def test_celeba_splits_follow_the_partition_file(tmp_path):
    write_celeba(tmp_path, CELEBA_PARTITIONS)
    train = DATASETS.get("celeba").load(tmp_path, "train", False)
    test = DATASETS.get("celeba").load(tmp_path, "test", False)
    assert [path.name for path in train.paths] == ["000001.jpg", "000002.jpg", "000005.jpg"]
    assert [path.name for path in test.paths] == ["000004.jpg"]


def test_celeba_images_are_the_central_crop_resized(tmp_path):
    write_celeba(tmp_path, CELEBA_PARTITIONS)
    image = DATASETS.get("celeba").load(tmp_path, "train", False)[0]
    assert image.dtype == torch.float32 and image.shape == (3, 64, 64)
    assert image.min() >= 0 and image.max() <= 1
    # The red frame lies outside the 160x160 crop: none of it may reach the image (JPEG noise aside).
    assert image[0].max() < 0.1
    # The crop's left half is green and its right half blue, split at the middle column.
    assert image[1, :, :31].min() > 0.9 and image[2, :, :31].max() < 0.1
    assert image[2, :, 33:].min() > 0.9 and image[1, :, 33:].max() < 0.1


def test_corrupt_celeba_jpeg_is_named_when_loaded(tmp_path):
    folder = write_celeba(tmp_path, CELEBA_PARTITIONS)
    corrupt = folder / "img_align_celeba" / "000002.jpg"
    corrupt.write_bytes(corrupt.read_bytes()[:300])
    train = DATASETS.get("celeba").load(tmp_path, "train", False)
    assert train[0].shape == (3, 64, 64)
    with pytest.raises(DatasetFileError) as error:
        train[1]
    assert str(corrupt) in str(error.value)


def test_celeba_without_partition_file_is_not_found(tmp_path):
    folder = write_celeba(tmp_path, CELEBA_PARTITIONS)
    (folder / "list_eval_partition.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"list_eval_partition\.txt"):
        DATASETS.get("celeba").load(tmp_path, "train", False)


def test_malformed_partition_line_is_named(tmp_path):
    folder = write_celeba(tmp_path, CELEBA_PARTITIONS)
    partition = folder / "list_eval_partition.txt"
    partition.write_text("000001.jpg 0\n000002.jpg train\n")
    with pytest.raises(DatasetFileError, match=":2: expected") as error:
        DATASETS.get("celeba").load(tmp_path, "train", False)
    assert str(partition) in str(error.value)

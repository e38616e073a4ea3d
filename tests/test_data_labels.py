"""Class labels: the IDX and CIFAR label readers on small files written here, pairing with images, real data."""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_gans.data import DatasetFileError
from lightning_gans.data.labels import labelled_split, read_cifar_labels, read_idx_labels
from lightning_gans.registry import UnknownNameError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated_locations(tmp_path, monkeypatch):
    """Only the directories a test names are searched: no user data, cache or Debian copy."""
    monkeypatch.delenv("LIGHTNING_GANS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr("lightning_gans.data.locations.DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def label_bytes(labels: np.ndarray, magic: int = 0x00000801) -> bytes:
    return struct.pack(">2i", magic, len(labels)) + labels.astype(np.uint8).tobytes()


def image_bytes(images: np.ndarray) -> bytes:
    return struct.pack(">4i", 0x00000803, *images.shape) + images.astype(np.uint8).tobytes()


def write_idx_copy(folder: Path, train_labels: list[int], test_labels: list[int], suffix: str = ".gz") -> None:
    """An MNIST-layout copy whose image i is filled with the value 10 * label + i, so pairing is checkable."""
    for split, labels in (("train", train_labels), ("t10k", test_labels)):
        values = [10 * label + index for index, label in enumerate(labels)]
        images = np.stack([np.full((28, 28), value) for value in values])
        write_bytes(folder / f"{split}-images-idx3-ubyte{suffix}", image_bytes(images))
        write_bytes(folder / f"{split}-labels-idx1-ubyte{suffix}", label_bytes(np.array(labels)))


# IDX label files


@pytest.mark.parametrize("name", ["train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz"])
def test_idx_label_reader_returns_the_exact_labels(tmp_path, name):
    labels = np.array([3, 0, 9, 9, 1], dtype=np.uint8)
    path = write_bytes(tmp_path / name, label_bytes(labels))
    read = read_idx_labels(path)
    assert read.dtype == np.uint8
    np.testing.assert_array_equal(read, labels)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (label_bytes(np.arange(10))[:-3], "truncated"),
        (label_bytes(np.arange(10)) + b"\x00", "corrupt"),
        (b"\x00\x00\x08\x01\x00", "header"),
        (label_bytes(np.arange(10), magic=0x00000803), "magic"),
    ],
)
def test_damaged_idx_label_file_is_named(tmp_path, content, problem):
    path = write_bytes(tmp_path / "train-labels-idx1-ubyte", content)
    with pytest.raises(DatasetFileError, match=problem) as error:
        read_idx_labels(path)
    assert str(path) in str(error.value)


def test_corrupt_gzip_label_file_is_named(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetFileError, match="gzip") as error:
        read_idx_labels(path)
    assert str(path) in str(error.value)


# labelled_split for the IDX datasets


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_labelled_split_pairs_each_image_with_its_label(tmp_path, suffix):
    write_idx_copy(tmp_path / "mnist", [7, 2, 5], [1, 0], suffix)
    for split, expected in (("train", [7, 2, 5]), ("test", [1, 0])):
        images, labels = labelled_split("mnist", tmp_path, split, False)
        assert images.dtype == torch.uint8 and images.shape == (len(expected), 1, 28, 28)
        assert labels.dtype == torch.long and labels.tolist() == expected
        assert images[:, 0, 0, 0].tolist() == [10 * label + index for index, label in enumerate(expected)]


def test_images_and_labels_come_from_the_same_copy(tmp_path, monkeypatch):
    """A copy without label files is skipped as a whole: its images are never paired with another copy's labels."""
    images_only = tmp_path / "explicit"
    write_idx_copy(images_only, [1, 1, 1], [1, 1])
    for path in images_only.glob("*labels*"):
        path.unlink()
    debian = tmp_path / "debian"
    write_idx_copy(debian, [4, 5, 6], [7, 8])
    monkeypatch.setattr("lightning_gans.data.locations.DEBIAN_FASHION_MNIST_DIR", debian)
    images, labels = labelled_split("fashion_mnist", images_only, "train", False)
    assert labels.tolist() == [4, 5, 6]
    assert images[:, 0, 0, 0].tolist() == [40, 51, 62]


def test_label_count_must_match_the_images(tmp_path):
    write_idx_copy(tmp_path, [1, 2, 3], [1, 2])
    short = write_bytes(tmp_path / "train-labels-idx1-ubyte.gz", label_bytes(np.array([1, 2])))
    with pytest.raises(DatasetFileError, match="2 labels for the 3 images") as error:
        labelled_split("mnist", tmp_path, "train", False)
    assert str(short) in str(error.value)


def test_labels_outside_the_ten_classes_are_named(tmp_path):
    write_idx_copy(tmp_path, [1, 2, 3], [1, 2])
    bad = write_bytes(tmp_path / "t10k-labels-idx1-ubyte.gz", label_bytes(np.array([1, 12])))
    with pytest.raises(DatasetFileError, match=r"0\.\.9") as error:
        labelled_split("mnist", tmp_path, "test", False)
    assert str(bad) in str(error.value)


def test_missing_labels_are_reported_with_the_places_looked(tmp_path):
    write_idx_copy(tmp_path, [1], [1])
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte") as error:
        labelled_split("mnist", tmp_path, "train", False)
    assert str(tmp_path) in str(error.value)


# CIFAR-10


def write_cifar(root: Path, labels: dict[str, list[int]]) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, batch_labels in labels.items():
        data = np.stack([np.full(3072, 20 * label, dtype=np.uint8) for label in batch_labels])
        with (folder / name).open("wb") as file:
            pickle.dump({b"data": data, b"labels": batch_labels}, file)


def test_cifar_labels_follow_the_batches_in_order(tmp_path):
    batches = {f"data_batch_{i}": [i, (i + 5) % 10] for i in range(1, 6)} | {"test_batch": [0, 9, 3]}
    write_cifar(tmp_path, batches)
    images, labels = labelled_split("cifar10", tmp_path, "train", False)
    expected = [label for i in range(1, 6) for label in batches[f"data_batch_{i}"]]
    assert labels.dtype == torch.long and labels.tolist() == expected
    assert images.dtype == torch.uint8 and images.shape == (10, 3, 32, 32)
    assert images[:, 2, 31, 31].tolist() == [20 * label for label in expected]
    assert labelled_split("cifar10", tmp_path, "test", False)[1].tolist() == [0, 9, 3]


def test_cifar_batch_without_labels_is_named(tmp_path):
    path = tmp_path / "data_batch_1"
    with path.open("wb") as file:
        pickle.dump({b"data": np.zeros((1, 3072), dtype=np.uint8)}, file)
    with pytest.raises(DatasetFileError, match="labels") as error:
        read_cifar_labels(path)
    assert str(path) in str(error.value)


def test_cifar_labels_out_of_range_are_named(tmp_path):
    write_cifar(tmp_path, {f"data_batch_{i}": [1] for i in range(1, 6)} | {"test_batch": [10]})
    with pytest.raises(DatasetFileError, match="test_batch"):
        labelled_split("cifar10", tmp_path, "test", False)


def test_unlabelled_dataset_lists_the_labelled_ones():
    with pytest.raises(UnknownNameError, match="mnist, fashion_mnist, cifar10"):
        labelled_split("celeba", None, "train", False)


# The real Fashion-MNIST of the Debian package


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="needs the Debian Fashion-MNIST package")
def test_real_fashion_mnist_has_balanced_labels():
    images, labels = labelled_split("fashion_mnist", DEBIAN, "train", False)
    assert images.shape == (60_000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60_000,) and labels.min() == 0 and labels.max() == 9
    assert torch.bincount(labels).tolist() == [6000] * 10
    test_images, test_labels = labelled_split("fashion_mnist", DEBIAN, "test", False)
    assert len(test_images) == 10_000 and torch.bincount(test_labels).tolist() == [1000] * 10

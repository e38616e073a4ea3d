"""The image datasets read from files (MNIST, Fashion-MNIST, CIFAR-10, CelebA): finding and loading them.

Each loader finds a directory holding every file of the dataset (so both splits come from the same copy),
reads the split with the validating readers of `files`, and returns a Dataset of float samples in [0, 1].
torchvision is used only to download into our cache, never to read: its readers check md5 sums, which
rejects the small stand-in files the tests write, and they would not report damaged files by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lightning_gans.data import locations
from lightning_gans.data.containers import ImageFiles, InMemorySamples
from lightning_gans.data.errors import DatasetFileError
from lightning_gans.data.files import (
    CELEBA_PARTITIONS,
    read_celeba_image,
    read_celeba_partition,
    read_cifar_batch,
    read_idx_images,
)

IDX_STEMS = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CELEBA_IMAGES = "img_align_celeba"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"


@dataclass(frozen=True)
class IdxSource:
    """Where one IDX dataset is looked for, shared by the image and label loaders so they cannot drift apart.

    The Debian directory is read at call time (not bound here) so tests can point it at an empty directory.
    """

    name: str
    torchvision_name: str
    debian_package: str | None = None

    @property
    def system_dirs(self) -> tuple[Path, ...]:
        return (locations.DEBIAN_FASHION_MNIST_DIR,) if self.debian_package else ()

    @property
    def install_hint(self) -> str | None:
        return f"apt-get install {self.debian_package}" if self.debian_package else None


IDX_SOURCES = {
    "mnist": IdxSource("mnist", "MNIST"),
    "fashion_mnist": IdxSource("fashion_mnist", "FashionMNIST", debian_package="dataset-fashion-mnist"),
}


def load_mnist(data_dir: Path | None, split: str, download: bool) -> InMemorySamples:
    return _load_idx(IDX_SOURCES["mnist"], data_dir, split, download)


def load_fashion_mnist(data_dir: Path | None, split: str, download: bool) -> InMemorySamples:
    return _load_idx(IDX_SOURCES["fashion_mnist"], data_dir, split, download)


def _load_idx(source: IdxSource, data_dir: Path | None, split: str, download: bool) -> InMemorySamples:
    """Both IDX datasets use the same file names, so each looks in its own subfolders too."""
    name, torchvision_name = source.name, source.torchvision_name
    files = locations.locate(
        name,
        data_dir,
        lambda directory: find_idx_files(directory, name, torchvision_name),
        expected=(
            f"{IDX_STEMS['train']}[.gz] and {IDX_STEMS['test']}[.gz] "
            f"(in the directory itself, or under {name}/ or {torchvision_name}/raw/)"
        ),
        allow_download=download,
        download=torchvision_download(torchvision_name),
        system_dirs=source.system_dirs,
        install_hint=source.install_hint,
    )
    path = files[split]
    images = read_idx_images(path)
    if images.shape[1:] != (28, 28):
        raise DatasetFileError(f"{path}: images are {images.shape[1:]}, expected (28, 28)")
    return InMemorySamples(torch.from_numpy(images).unsqueeze(1))


def find_idx_files(directory: Path, name: str, torchvision_name: str) -> dict[str, Path] | None:
    """Split -> image file, from the first folder under `directory` that holds both splits."""
    for folder in (directory, directory / name, directory / torchvision_name / "raw"):
        files = {split: _idx_file(folder, stem) for split, stem in IDX_STEMS.items()}
        if all(files.values()):
            return {split: path for split, path in files.items() if path is not None}
    return None


def _idx_file(folder: Path, stem: str) -> Path | None:
    """The uncompressed file if present (faster to read), else the gzipped one."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def load_cifar10(data_dir: Path | None, split: str, download: bool) -> InMemorySamples:
    folder = locations.locate(
        "cifar10",
        data_dir,
        find_cifar_folder,
        expected=f"{CIFAR_FOLDER}/data_batch_1..5 and test_batch (in the directory or under cifar10/)",
        allow_download=download,
        download=torchvision_download("CIFAR10"),
    )
    images = np.concatenate([read_cifar_batch(folder / batch) for batch in CIFAR_BATCHES[split]])
    return InMemorySamples(torch.from_numpy(images))


def find_cifar_folder(directory: Path) -> Path | None:
    batches = [batch for split in CIFAR_BATCHES.values() for batch in split]
    for folder in (directory / CIFAR_FOLDER, directory / "cifar10" / CIFAR_FOLDER):
        if all((folder / batch).is_file() for batch in batches):
            return folder
    return None


def load_celeba(data_dir: Path | None, split: str, download: bool) -> ImageFiles:
    """Decoding 200k JPEGs up front would take minutes and gigabytes, so the split is a list of files."""
    folder = locations.locate(
        "celeba",
        data_dir,
        _find_celeba_folder,
        expected=f"celeba/{CELEBA_IMAGES}/ and celeba/{CELEBA_PARTITION_FILE}",
        allow_download=download,
        download=torchvision_download("CelebA", split="all"),
    )
    partition_file = folder / CELEBA_PARTITION_FILE
    names = read_celeba_partition(partition_file)[CELEBA_PARTITIONS[split]]
    if not names:
        raise DatasetFileError(f"{partition_file}: the {split} partition lists no images")
    return ImageFiles([folder / CELEBA_IMAGES / name for name in names], read_celeba_image)


def _find_celeba_folder(directory: Path) -> Path | None:
    for folder in (directory / "celeba", directory):
        if (folder / CELEBA_IMAGES).is_dir() and (folder / CELEBA_PARTITION_FILE).is_file():
            return folder
    return None


def torchvision_download(class_name: str, **options: str) -> Callable[[Path], object]:
    def download(root: Path) -> object:
        import torchvision.datasets  # slow to import, and needed only on this rare path

        return getattr(torchvision.datasets, class_name)(root=str(root), download=True, **options)

    return download

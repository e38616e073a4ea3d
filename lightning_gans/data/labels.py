"""Class labels for the labelled image datasets (MNIST, Fashion-MNIST, CIFAR-10), read with their images.

Only the offline evaluation classifier needs labels; GAN training never does, which is why the loaders in
`images` ignore them. Images and labels are read from the same located directory: looking them up
separately could pair one copy's images with another copy's labels, which would train a classifier on noise
without any error. The readers' and loaders' private helpers (file layouts, the CIFAR unpickling allow-list)
are imported rather than copied, so labels are found exactly where images are and the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lightning_gans.data import locations
from lightning_gans.data.errors import DatasetFileError
from lightning_gans.data.files import NumpyOnlyUnpickler, read_bytes, read_cifar_batch, read_idx_images
from lightning_gans.data.images import (
    CIFAR_BATCHES,
    IDX_SOURCES,
    IDX_STEMS,
    IdxSource,
    find_cifar_folder,
    find_idx_files,
    torchvision_download,
)
from lightning_gans.registry import Registry

IDX_UBYTE_1D_MAGIC = 0x00000801
_IDX_LABELS_HEADER_BYTES = 8

IDX_LABEL_STEMS = {"train": "train-labels-idx1-ubyte", "test": "t10k-labels-idx1-ubyte"}

# Every labelled dataset here has ten classes; labels outside 0..9 mean a wrong or damaged file.
NUM_CLASSES = 10

LabelledSplit = tuple[torch.Tensor, torch.Tensor]


def read_idx_labels(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes with one dimension (N,), gzipped if it ends in .gz.

    Checked like `read_idx_images`: a payload shorter or longer than the header says means an interrupted
    download or a different file, and either would misalign labels with images.
    """
    raw = read_bytes(path)
    if len(raw) < _IDX_LABELS_HEADER_BYTES:
        raise DatasetFileError(f"{path}: IDX header truncated ({len(raw)} bytes, need {_IDX_LABELS_HEADER_BYTES})")
    magic, count = (int(v) for v in np.frombuffer(raw, dtype=">i4", count=2))
    if magic != IDX_UBYTE_1D_MAGIC:
        raise DatasetFileError(
            f"{path}: bad IDX magic number 0x{magic:08x}, expected 0x{IDX_UBYTE_1D_MAGIC:08x} "
            "(unsigned bytes, 1 dimension)"
        )
    payload = len(raw) - _IDX_LABELS_HEADER_BYTES
    if payload != count:
        raise DatasetFileError(
            f"{path}: IDX payload is {payload} bytes but the header promises {count} labels (truncated or corrupt file)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=_IDX_LABELS_HEADER_BYTES).copy()


def read_cifar_labels(path: Path) -> np.ndarray:
    """The b"labels" of one CIFAR-10 python batch, as int64 (N,)."""
    try:
        with path.open("rb") as file:
            batch = NumpyOnlyUnpickler(file, encoding="bytes").load()
    # Same reasoning as read_cifar_batch: every way a damaged pickle fails means the same to the caller.
    except Exception as exc:
        raise DatasetFileError(f"{path}: not a readable CIFAR batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(batch, dict) or b"labels" not in batch:
        raise DatasetFileError(f'{path}: CIFAR batch must be a dict with key b"labels"')
    try:
        return np.asarray(batch[b"labels"], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DatasetFileError(f'{path}: b"labels" is not a sequence of integers ({exc})') from exc


def labelled_split(dataset: str, data_dir: Path | None, split: str, download: bool) -> LabelledSplit:
    """uint8 images (N, C, H, W) and int64 labels (N,) of one split, from the usual lookup order.

    Unlabelled datasets fail with the list of labelled ones.
    """
    return LABELLED_DATASETS.get(dataset)(data_dir, split, download)


def _labelled_mnist(data_dir: Path | None, split: str, download: bool) -> LabelledSplit:
    return _labelled_idx(IDX_SOURCES["mnist"], data_dir, split, download)


def _labelled_fashion_mnist(data_dir: Path | None, split: str, download: bool) -> LabelledSplit:
    return _labelled_idx(IDX_SOURCES["fashion_mnist"], data_dir, split, download)


def _labelled_idx(source: IdxSource, data_dir: Path | None, split: str, download: bool) -> LabelledSplit:
    name, torchvision_name = source.name, source.torchvision_name
    files = locations.locate(
        name,
        data_dir,
        lambda directory: _find_labelled_idx_files(directory, name, torchvision_name),
        expected=(
            f"{IDX_STEMS['train']}, {IDX_STEMS['test']}, {IDX_LABEL_STEMS['train']} and "
            f"{IDX_LABEL_STEMS['test']} (each optionally .gz; in the directory itself, or under {name}/ or "
            f"{torchvision_name}/raw/)"
        ),
        allow_download=download,
        download=torchvision_download(torchvision_name),
        system_dirs=source.system_dirs,
        install_hint=source.install_hint,
    )
    image_path, label_path = files[split]
    images = read_idx_images(image_path)
    if images.shape[1:] != (28, 28):
        raise DatasetFileError(f"{image_path}: images are {images.shape[1:]}, expected (28, 28)")
    labels = read_idx_labels(label_path)
    if len(labels) != len(images):
        raise DatasetFileError(f"{label_path}: {len(labels)} labels for the {len(images)} images of {image_path}")
    _check_classes(labels, label_path)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long()


def _find_labelled_idx_files(directory: Path, name: str, torchvision_name: str) -> dict[str, tuple[Path, Path]] | None:
    """Split -> (images, labels), with the labels beside the images the image loader would pick."""
    image_files = find_idx_files(directory, name, torchvision_name)
    if image_files is None:
        return None
    files = {}
    for split, image_path in image_files.items():
        label_path = _beside(image_path, IDX_LABEL_STEMS[split])
        if label_path is None:
            return None
        files[split] = (image_path, label_path)
    return files


def _beside(image_path: Path, stem: str) -> Path | None:
    for path in (image_path.parent / stem, image_path.parent / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def _labelled_cifar10(data_dir: Path | None, split: str, download: bool) -> LabelledSplit:
    folder = locations.locate(
        "cifar10",
        data_dir,
        find_cifar_folder,
        expected="cifar-10-batches-py/data_batch_1..5 and test_batch (in the directory or under cifar10/)",
        allow_download=download,
        download=torchvision_download("CIFAR10"),
    )
    images, labels = [], []
    for batch in CIFAR_BATCHES[split]:
        path = folder / batch
        batch_images, batch_labels = read_cifar_batch(path), read_cifar_labels(path)
        _check_classes(batch_labels, path)
        images.append(batch_images)
        labels.append(batch_labels)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def _check_classes(labels: np.ndarray, path: Path) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DatasetFileError(
            f"{path}: labels range over {labels.min()}..{labels.max()}, expected 0..{NUM_CLASSES - 1}"
        )


LABELLED_DATASETS: Registry[Callable[[Path | None, str, bool], LabelledSplit]] = Registry("labelled dataset")
LABELLED_DATASETS.register("mnist", _labelled_mnist)
LABELLED_DATASETS.register("fashion_mnist", _labelled_fashion_mnist)
LABELLED_DATASETS.register("cifar10", _labelled_cifar10)

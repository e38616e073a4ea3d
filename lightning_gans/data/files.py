"""Readers for the on-disk formats the image datasets ship in (IDX, CIFAR pickles, CelebA JPEGs).

Every reader validates what it reads: a half-downloaded or corrupt file otherwise surfaces as a shape
error, or as silently wrong images, far away from the file that caused it. Failures raise
DatasetFileError with the file's path in the message.
"""

from __future__ import annotations

import gzip
import math
import pickle
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from lightning_gans.data.errors import DatasetFileError

IDX_UBYTE_3D_MAGIC = 0x00000803
_IDX_HEADER_BYTES = 16

CIFAR_IMAGE_SHAPE = (3, 32, 32)

CELEBA_PARTITIONS = {"train": 0, "valid": 1, "test": 2}
CELEBA_CROP = 160
CELEBA_SIZE = 64


def read_idx_images(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes with three dimensions (N, rows, cols), gzipped if it ends in .gz.

    The payload length must match the header exactly: a short file means an interrupted download, and
    reading what is there would quietly drop images.
    """
    raw = read_bytes(path)
    if len(raw) < _IDX_HEADER_BYTES:
        raise DatasetFileError(f"{path}: IDX header truncated ({len(raw)} bytes, need {_IDX_HEADER_BYTES})")
    magic, *dims = (int(v) for v in np.frombuffer(raw, dtype=">i4", count=4))
    if magic != IDX_UBYTE_3D_MAGIC:
        raise DatasetFileError(
            f"{path}: bad IDX magic number 0x{magic:08x}, expected 0x{IDX_UBYTE_3D_MAGIC:08x} "
            "(unsigned bytes, 3 dimensions)"
        )
    if min(dims) < 1:
        raise DatasetFileError(f"{path}: IDX dimensions {dims} must all be positive")
    payload = len(raw) - _IDX_HEADER_BYTES
    expected = math.prod(dims)
    if payload != expected:
        raise DatasetFileError(
            f"{path}: IDX payload is {payload} bytes but dimensions {dims} need {expected} (truncated or corrupt file)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=_IDX_HEADER_BYTES).reshape(dims).copy()


def read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetFileError(f"{path}: cannot read ({exc})") from exc
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetFileError(f"{path}: not a valid gzip file ({exc})") from exc


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except the few a pickled numpy array needs.

    A CIFAR batch is a pickle, and unpickling an arbitrary file can run arbitrary code; the data directory
    is user-supplied, so only array reconstruction is allowed.
    """

    _ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> np.ndarray:
    """Read one CIFAR-10 python batch as uint8 images (N, 3, 32, 32).

    The format is a pickled dict whose b"data" is (N, 3072) uint8 in channel-major row-major order and
    whose b"labels" has one entry per row; both are checked so a wrong or damaged file is named here.
    """
    try:
        with path.open("rb") as file:
            batch = NumpyOnlyUnpickler(file, encoding="bytes").load()
    # A damaged pickle can fail in many ways (UnpicklingError, EOFError, ValueError, KeyError, ...); all
    # of them mean the same thing to the caller.
    except Exception as exc:
        raise DatasetFileError(f"{path}: not a readable CIFAR batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetFileError(f'{path}: CIFAR batch must be a dict with keys b"data" and b"labels"')
    data, labels = batch[b"data"], batch[b"labels"]
    image_bytes = math.prod(CIFAR_IMAGE_SHAPE)
    is_images = isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
    if not is_images or data.shape[1] != image_bytes:
        described = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetFileError(f'{path}: b"data" is {described}, expected uint8 (N, {image_bytes})')
    if len(labels) != len(data):
        raise DatasetFileError(f"{path}: {len(data)} images but {len(labels)} labels")
    return np.ascontiguousarray(data).reshape(-1, *CIFAR_IMAGE_SHAPE)


def read_celeba_partition(path: Path) -> dict[int, list[str]]:
    """Map each partition number (0 train, 1 valid, 2 test) to its image file names, in file order."""
    partitions: dict[int, list[str]] = {number: [] for number in CELEBA_PARTITIONS.values()}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetFileError(f"{path}: cannot read ({exc})") from exc
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[1] not in {"0", "1", "2"}:
            raise DatasetFileError(f"{path}:{line_number}: expected '<image>.jpg <0|1|2>', got {line!r}")
        partitions[int(fields[1])].append(fields[0])
    return partitions


def read_celeba_image(path: Path, crop: int = CELEBA_CROP, size: int = CELEBA_SIZE) -> torch.Tensor:
    """Decode one aligned CelebA image into float (3, size, size) in [0, 1].

    The central crop x crop square keeps the face and drops most background; the resize is bilinear and
    antialiased (PIL widens the filter when shrinking), so the 64x64 images are not aliased.
    """
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetFileError(f"{path}: cannot decode image ({exc})") from exc
    width, height = rgb.size
    if width < crop or height < crop:
        raise DatasetFileError(f"{path}: image is {width}x{height}, smaller than the {crop}x{crop} crop")
    left, top = (width - crop) // 2, (height - crop) // 2
    face = rgb.crop((left, top, left + crop, top + crop)).resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.array(face)).permute(2, 0, 1).float().div_(255)

"""Build-once, read-many storage for generated datasets.

The file is written to a temporary name and renamed into place, so a DataLoader worker or a second DDP
rank that finds the file never reads half of it; ranks racing to build it just rename twice.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lightning_gans.atomic import atomic_path
from lightning_gans.data.errors import DatasetFileError


def load_or_build_npz(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Read the arrays cached at `path`, or build them and try to cache them there.

    A cache that cannot be written (read-only data directory) costs a rebuild next time, not a failure.
    """
    if path.is_file():
        return read_npz(path)
    arrays = build()
    try:
        write_npz_atomically(path, arrays)
    except OSError as exc:
        warnings.warn(f"could not cache {path} ({exc}); it will be rebuilt next time", stacklevel=2)
    return arrays


def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetFileError(f"{path}: unreadable cache ({exc}); delete it to rebuild") from exc


def write_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path, suffix=".npz") as temporary:
        np.savez_compressed(temporary, **arrays)

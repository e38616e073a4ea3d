"""Files written so that a reader sees the old file or the whole new one, never half of one.

Caches, classifier weights, checkpoints, exported frames, exported samples and benchmark records are read by other
processes (DDP ranks, other sweep workers, a second run, torch-fidelity) and survive interrupted runs; each is
written to a temporary file (or directory) beside its destination and renamed over it, which POSIX makes atomic
within one file system.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` to write; it replaces `path` if the block succeeds and is removed if not.

    `suffix` is the temporary file's ending, for writers that choose a format by it (pandas, numpy add `.npz`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(descriptor)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """A temporary directory beside `path` to fill; it becomes `path` if the block succeeds and is removed if not.

    An existing `path` is replaced: whether it may be is the caller's decision. Renaming a directory is atomic and
    removing the old one is not, so a reader may briefly find no `path`, but never a part-filled one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield temporary
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)

"""Where datasets are looked for, in order, and what to tell the user when none of the places has them.

Order: an explicit data_dir, then $LIGHTNING_GANS_DATA, then system copies (the Debian package for
Fashion-MNIST), then our cache, then (if allowed) a download into the cache. The first directory that
holds the files wins, so a local copy always beats the network, and the error on failure lists every
place tried: the usual cause is a path one level off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from lightning_gans.data.errors import DatasetNotFoundError

T = TypeVar("T")

DATA_ENV_VAR = "LIGHTNING_GANS_DATA"
# Read at call time (not bound as a default) so tests can point it at an empty directory.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def cache_dir() -> Path:
    """Our directory under the XDG cache: downloads and generated datasets go here."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lightning_gans" / "datasets"


def env_data_dir() -> Path | None:
    value = os.environ.get(DATA_ENV_VAR)
    return Path(value) if value else None


def writable_data_dir(data_dir: Path | None) -> Path:
    """Where a generated dataset is cached: the first of data_dir, $LIGHTNING_GANS_DATA, our cache."""
    return data_dir or env_data_dir() or cache_dir()


def search_dirs(data_dir: Path | None, system_dirs: Sequence[Path] = ()) -> list[Path]:
    candidates = [data_dir, env_data_dir(), *system_dirs, cache_dir()]
    return list(dict.fromkeys(path for path in candidates if path is not None))


def locate(
    name: str,
    data_dir: Path | None,
    find: Callable[[Path], T | None],
    *,
    expected: str,
    allow_download: bool,
    download: Callable[[Path], object] | None = None,
    system_dirs: Sequence[Path] = (),
    install_hint: str | None = None,
) -> T:
    """Return `find(directory)` for the first candidate directory where it is not None.

    `download(root)` fetches the dataset into our cache; it runs only when no candidate has the files,
    `allow_download` is set and the dataset can be downloaded at all.
    """
    looked = search_dirs(data_dir, system_dirs)
    for directory in looked:
        found = find(directory)
        if found is not None:
            return found
    failure = ""
    if allow_download and download is not None:
        root = cache_dir()
        try:
            download(root)
        # Downloads fail in too many ways (URLError, HTTPError, checksum RuntimeError, OSError, quota
        # errors from Google Drive) to list; each becomes part of the not-found message below.
        except Exception as exc:
            failure = f" Downloading into {root} failed: {type(exc).__name__}: {exc}."
        else:
            found = find(root)
            if found is not None:
                return found
            failure = f" Downloading into {root} finished but the files are still not there."
    hints = [install_hint] if install_hint else []
    hints += ["pass --data.data_dir DIR pointing at a copy", f"set {DATA_ENV_VAR}=DIR"]
    if download is not None and not allow_download:
        hints.append("allow the download (--data.download true)")
    raise DatasetNotFoundError(
        f"{name} not found. Looked in {', '.join(str(path) for path in looked)} for {expected}.{failure} "
        f"To get it: {'; or '.join(hints)}."
    )

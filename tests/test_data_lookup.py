"""Where MNIST and Fashion-MNIST are looked for, in which order, and what users are told when they are not."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_gans.data import DATASETS, DatasetNotFoundError, locations
from lightning_gans.data import images as image_loaders

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def dirs(tmp_path, monkeypatch) -> dict[str, Path]:
    """Three candidate directories and an isolated cache; each copy holds images of one constant value."""
    monkeypatch.delenv("LIGHTNING_GANS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    paths = {name: tmp_path / name for name in ("explicit", "env", "debian", "empty")}
    for path in paths.values():
        path.mkdir()
    monkeypatch.setattr(locations, "DEBIAN_FASHION_MNIST_DIR", paths["debian"])
    return paths


def write_copy(folder: Path, value: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, count in (("train-images-idx3-ubyte", 3), ("t10k-images-idx3-ubyte", 2)):
        images = np.full((count, 28, 28), value, dtype=np.uint8)
        data = struct.pack(">4i", 0x803, *images.shape) + images.tobytes()
        (folder / f"{stem}.gz").write_bytes(gzip.compress(data))


def loaded_value(name: str, data_dir: Path | None, download: bool = False) -> int:
    sample = DATASETS.get(name).load(data_dir, "train", download)[0]
    return round(sample[0, 0, 0].item() * 255)


def test_explicit_dir_beats_env_beats_debian(dirs, monkeypatch):
    write_copy(dirs["explicit"] / "FashionMNIST" / "raw", 10)  # torchvision's layout
    write_copy(dirs["env"] / "fashion_mnist", 20)  # <name>/ layout
    write_copy(dirs["debian"], 30)  # the Debian package's flat layout
    monkeypatch.setenv("LIGHTNING_GANS_DATA", str(dirs["env"]))
    assert loaded_value("fashion_mnist", dirs["explicit"]) == 10
    assert loaded_value("fashion_mnist", None) == 20
    assert loaded_value("fashion_mnist", dirs["empty"]) == 20  # a directory without the files is skipped
    monkeypatch.delenv("LIGHTNING_GANS_DATA")
    assert loaded_value("fashion_mnist", None) == 30


def test_a_copy_needs_both_splits(dirs):
    write_copy(dirs["explicit"], 10)
    (dirs["explicit"] / "t10k-images-idx3-ubyte.gz").unlink()
    write_copy(dirs["debian"], 30)
    assert loaded_value("fashion_mnist", dirs["explicit"]) == 30


def test_mnist_never_reads_fashion_mnist(dirs):
    write_copy(dirs["debian"], 30)
    write_copy(dirs["explicit"] / "FashionMNIST" / "raw", 10)
    with pytest.raises(DatasetNotFoundError):
        loaded_value("mnist", dirs["explicit"])
    write_copy(dirs["explicit"] / "MNIST" / "raw", 40)
    assert loaded_value("mnist", dirs["explicit"]) == 40


def test_not_found_says_where_it_looked_and_how_to_get_it(dirs):
    with pytest.raises(DatasetNotFoundError) as error:
        loaded_value("fashion_mnist", dirs["explicit"])
    message = str(error.value)
    for looked in (dirs["explicit"], dirs["debian"], locations.cache_dir()):
        assert str(looked) in message
    hints = ("apt-get install dataset-fashion-mnist", "LIGHTNING_GANS_DATA", "--data.data_dir", "download")
    for hint in hints:
        assert hint in message


def test_mnist_not_found_does_not_suggest_the_debian_package(dirs):
    with pytest.raises(DatasetNotFoundError) as error:
        loaded_value("mnist", None)
    assert "apt-get" not in str(error.value) and "LIGHTNING_GANS_DATA" in str(error.value)


def fake_download(torchvision_name: str, value: int | None):
    """Stands in for torchvision: writes a copy into the cache (or fails, like an offline machine)."""

    def make(class_name: str, **options: str):
        def download(root: Path) -> None:
            assert class_name == torchvision_name
            if value is None:
                raise OSError("network is unreachable")
            write_copy(root / torchvision_name / "raw", value)

        return download

    return make


def test_download_goes_to_the_cache_and_is_found_there(dirs, monkeypatch):
    monkeypatch.setattr(image_loaders, "torchvision_download", fake_download("FashionMNIST", 50))
    assert loaded_value("fashion_mnist", dirs["explicit"], download=True) == 50
    assert (locations.cache_dir() / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()
    monkeypatch.setattr(image_loaders, "torchvision_download", fake_download("FashionMNIST", None))
    assert loaded_value("fashion_mnist", dirs["explicit"], download=True) == 50  # cached: no new download


def test_failed_download_is_reported_with_the_places_looked(dirs, monkeypatch):
    monkeypatch.setattr(image_loaders, "torchvision_download", fake_download("MNIST", None))
    with pytest.raises(DatasetNotFoundError, match="network is unreachable") as error:
        loaded_value("mnist", dirs["explicit"], download=True)
    assert str(dirs["explicit"]) in str(error.value)


@pytest.mark.skipif(not DEBIAN.is_dir(), reason=f"{DEBIAN} absent: apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist_from_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.delenv("LIGHTNING_GANS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = DATASETS.get("fashion_mnist")
    for split, count in (("train", 60_000), ("test", 10_000)):
        dataset = spec.load(None, split, False)
        assert len(dataset) == count
        batch = dataset.__getitems__(range(0, count, 97))
        assert batch.dtype == torch.float32 and batch.shape[1:] == (1, 28, 28) == spec.sample_shape
        assert batch.min() == 0 and batch.max() == 1
        assert 0.2 < batch.mean() < 0.4  # mostly dark background, as Fashion-MNIST is

"""The domain classifier: trained on a slice of the real Fashion-MNIST, cached, and loaded as an extractor."""

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from lightning_gans.data.labels import labelled_split
from lightning_gans.metrics.classifier import (
    DOMAIN_DATASETS,
    ClassifierRecord,
    DomainClassifier,
    classifier_path,
    load_domain_extractor,
    train_domain_classifier,
)
from lightning_gans.metrics.extractors import build_extractor
from lightning_gans.metrics.features import ExtractorUnavailableError, FeatureExtractor
from lightning_gans.registry import UnknownNameError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(not DEBIAN.is_dir(), reason="needs the Debian Fashion-MNIST package")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """The default cache is a fresh directory: no classifier a user trained is ever found or overwritten."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> ClassifierRecord:
    if not DEBIAN.is_dir():
        pytest.skip("needs the Debian Fashion-MNIST package")
    cache = tmp_path_factory.mktemp("cache")
    return train_domain_classifier(
        "fashion_mnist", data_dir=str(DEBIAN), epochs=1, train_limit=3000, cache_dir=cache, progress=False
    )


def train_small(cache: Path, seed: int) -> dict[str, torch.Tensor]:
    record = train_domain_classifier(
        "fashion_mnist", data_dir=str(DEBIAN), epochs=1, seed=seed, train_limit=512, cache_dir=cache, progress=False
    )
    return torch.load(record.path, weights_only=True)["state_dict"]


@needs_fashion_mnist
def test_training_saves_the_classifier_and_its_accuracy(trained):
    assert trained.path == classifier_path("fashion_mnist", trained.path.parent.parent)
    assert trained.path.name == "fashion_mnist-domain-v1.pt"
    saved = torch.load(trained.path, weights_only=True)
    assert saved["test_accuracy"] == trained.test_accuracy > 0.6
    assert (saved["epochs"], saved["seed"], saved["num_classes"]) == (trained.epochs, trained.seed, 10) == (1, 0, 10)
    assert tuple(saved["sample_shape"]) == (1, 28, 28)
    assert trained.weights_id == hashlib.sha256(trained.path.read_bytes()).hexdigest()[:16]
    assert [path.name for path in trained.path.parent.iterdir()] == [trained.path.name]  # no temporary left over


@needs_fashion_mnist
def test_the_loaded_extractor_reproduces_the_recorded_accuracy(trained):
    extractor = load_domain_extractor("fashion_mnist", trained.path.parent.parent)
    assert isinstance(extractor, FeatureExtractor)
    assert (extractor.name, extractor.num_features, extractor.num_classes) == ("domain", 128, 10)
    assert extractor.weights_id == trained.weights_id
    images, labels = labelled_split("fashion_mnist", DEBIAN, "test", False)
    features, logits = extractor(images[:5].float() / 255)
    assert features.shape == (5, 128) and logits.shape == (5, 10)
    assert features.dtype == logits.dtype == torch.float32 and (features >= 0).all()  # after the ReLU
    predictions = torch.cat([extractor(batch.float() / 255)[1].argmax(1) for batch in images.split(2000)])
    assert (predictions == labels).sum().item() / len(labels) == trained.test_accuracy


@needs_fashion_mnist
def test_the_extractor_never_trains(trained):
    extractor = load_domain_extractor("fashion_mnist", trained.path.parent.parent).train()
    assert not extractor.training and not any(module.training for module in extractor.modules())
    assert not any(parameter.requires_grad for parameter in extractor.parameters())
    # Whatever train() asked, the numbers are the saved network's in torch's eval mode (no dropout, batch norm's saved
    # statistics rather than the batch's), and extracting leaves those statistics as saved.
    saved = torch.load(trained.path, weights_only=True)["state_dict"]
    network = DomainClassifier((1, 28, 28))
    network.load_state_dict(saved)
    batch = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = network.eval()(batch)
    for mine, theirs in zip(extractor(batch), expected, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    assert all(torch.equal(extractor.network.state_dict()[name], value) for name, value in saved.items())


@needs_fashion_mnist
def test_build_extractor_finds_the_classifier_in_the_default_cache(trained):
    default = classifier_path("fashion_mnist")
    default.parent.mkdir(parents=True)
    shutil.copy(trained.path, default)
    extractor = build_extractor("domain", "fashion_mnist")
    assert extractor.name == "domain" and extractor.weights_id == trained.weights_id


@needs_fashion_mnist
def test_the_same_seed_gives_the_same_weights(tmp_path):
    rng_before = torch.get_rng_state()
    first, again, other = (train_small(tmp_path / name, seed) for name, seed in (("a", 3), ("b", 3), ("c", 4)))
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's random stream is left alone
    assert first.keys() == again.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not all(torch.equal(first[key], other[key]) for key in first)


@needs_fashion_mnist
def test_images_of_another_shape_are_rejected(trained):
    extractor = load_domain_extractor("fashion_mnist", trained.path.parent.parent)
    with pytest.raises(ValueError, match=r"\(1, 28, 28\)"):
        extractor(torch.rand(2, 3, 32, 32))


@pytest.mark.parametrize("sample_shape", [(1, 28, 28), (3, 32, 32)])
def test_the_network_fits_both_image_sizes(sample_shape):
    features, logits = DomainClassifier(sample_shape)(torch.rand(3, *sample_shape))
    assert features.shape == (3, 128) and logits.shape == (3, 10)


def test_a_missing_classifier_names_the_command_that_trains_it(tmp_path):
    with pytest.raises(ExtractorUnavailableError, match="lightning-gans train-classifier --data mnist") as error:
        load_domain_extractor("mnist", tmp_path)
    assert str(classifier_path("mnist", tmp_path)) in str(error.value)
    with pytest.raises(ExtractorUnavailableError, match="train-classifier --data cifar10 --data_dir /data"):
        build_extractor("domain", "cifar10", data_dir="/data")


def test_a_damaged_classifier_file_is_named(tmp_path):
    path = classifier_path("fashion_mnist", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a file")
    with pytest.raises(ExtractorUnavailableError, match="not a usable domain classifier") as error:
        load_domain_extractor("fashion_mnist", tmp_path)
    assert str(path) in str(error.value) and "train-classifier --data fashion_mnist" in str(error.value)


def test_unlabelled_datasets_are_refused_with_the_supported_list(tmp_path):
    assert DOMAIN_DATASETS == ("mnist", "fashion_mnist", "cifar10")
    with pytest.raises(UnknownNameError, match="mnist, fashion_mnist, cifar10"):
        train_domain_classifier("celeba", cache_dir=tmp_path, progress=False)
    with pytest.raises(ExtractorUnavailableError, match="mnist, fashion_mnist, cifar10"):
        build_extractor("domain", "polygons")


@pytest.mark.slow
@needs_fashion_mnist
def test_default_settings_reach_90_percent_on_fashion_mnist(tmp_path):
    record = train_domain_classifier("fashion_mnist", data_dir=str(DEBIAN), cache_dir=tmp_path, progress=False)
    assert record.test_accuracy >= 0.90

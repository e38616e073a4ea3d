"""The extractor interface and the Inception extractor, on a random-weights file with the real layout.

The real weights need the network; a file with the same keys and random values exercises everything but the
numbers: where the weights are found, what the network is fed, and the shapes and names that come out.
"""

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torchmetrics.image.fid import NoTrainInceptionV3

from lightning_gans.metrics.extractors import EXTRACTORS, build_extractor, default_extractor_name
from lightning_gans.metrics.features import ExtractorUnavailableError, FeatureExtractor, check_images
from lightning_gans.metrics.inception import (
    ANTIALIAS_SUFFIX,
    HUB_WEIGHT_FILES,
    INCEPTION_WEIGHTS_ENV_VAR,
    find_inception_weights,
    load_inception_extractor,
    to_inception_input,
)
from lightning_gans.registry import UnknownNameError


class _RandomInception(NoTrainInceptionV3):
    """Keeps its random initialisation instead of loading the (absent) real weights."""

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return None


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inception")
    empty = folder / "empty.pth"
    torch.save({}, empty)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        network = _RandomInception("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    path = folder / "random-inception.pth"
    torch.save(network.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def inception(weights_file) -> FeatureExtractor:
    return load_inception_extractor(weights_file)


@pytest.fixture(scope="module")
def fidelity_network(weights_file) -> FeatureExtractorInceptionV3:
    """torch-fidelity's own InceptionV3 port with the same weights, in eval mode: what the extractor must give."""
    network = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(weights_file)
    )
    return network.eval()


def fidelity_scores(network: FeatureExtractorInceptionV3, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Features and logits of [0, 1] images rounded to 0..255 and, if gray, tiled to RGB, by numpy."""
    pixels = np.rint(batch.numpy() * np.float32(255)).astype(np.uint8)
    with torch.no_grad():
        return network(torch.from_numpy(np.repeat(pixels, 3 // pixels.shape[1], axis=1)))


@pytest.fixture(autouse=True)
def no_weights_anywhere(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache and no weights variable; returns the hub's checkpoint folder."""
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home" / "hub" / "checkpoints"


def sha256_prefix(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def images(channels: int, size: int, count: int = 2) -> torch.Tensor:
    return torch.rand(count, channels, size, size, generator=torch.Generator().manual_seed(channels * size))


# Where the weights are found


@pytest.mark.parametrize("source", ["explicit", "env", "hub"])
def test_weights_load_from_every_place(weights_file, no_weights_anywhere, monkeypatch, source):
    explicit = None
    if source == "explicit":
        explicit = str(weights_file)
    elif source == "env":
        monkeypatch.setenv(INCEPTION_WEIGHTS_ENV_VAR, str(weights_file))
    else:
        no_weights_anywhere.mkdir(parents=True)
        (no_weights_anywhere / HUB_WEIGHT_FILES[0]).symlink_to(weights_file)
    extractor = build_extractor("inception", "fashion_mnist", inception_weights=explicit)
    assert extractor.name == "inception"
    assert extractor.weights_id == sha256_prefix(weights_file)
    assert not extractor.training and not extractor.network.use_antialias


def test_explicit_path_beats_env_beats_hub(tmp_path, no_weights_anywhere, monkeypatch):
    no_weights_anywhere.mkdir(parents=True)
    for name in ("explicit.pth", "env.pth"):
        (tmp_path / name).write_bytes(b"x")
    for file in HUB_WEIGHT_FILES:
        (no_weights_anywhere / file).write_bytes(b"x")
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV_VAR, str(tmp_path / "env.pth"))
    assert find_inception_weights(tmp_path / "explicit.pth") == tmp_path / "explicit.pth"
    assert find_inception_weights() == tmp_path / "env.pth"
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV_VAR)
    assert find_inception_weights() == no_weights_anywhere / HUB_WEIGHT_FILES[0]
    (no_weights_anywhere / HUB_WEIGHT_FILES[0]).unlink()
    assert find_inception_weights() == no_weights_anywhere / HUB_WEIGHT_FILES[1]  # pytorch-fid's name


def test_nothing_available_says_how_to_get_weights(no_weights_anywhere):
    with pytest.raises(ExtractorUnavailableError) as error:
        build_extractor("inception", "fashion_mnist")
    message = str(error.value)
    for needed in (
        INCEPTION_WEIGHTS_ENV_VAR,
        "--evaluation.inception_weights",
        str(no_weights_anywhere / HUB_WEIGHT_FILES[0]),
        "--evaluation.extractor domain",
        "lightning-gans train-classifier --data",
    ):
        assert needed in message
    assert "\n" not in message


@pytest.mark.parametrize("source", ["explicit", "env"])
def test_a_named_path_that_does_not_exist_is_an_error_naming_it(tmp_path, no_weights_anywhere, monkeypatch, source):
    missing = tmp_path / "nowhere" / "inception.pth"
    no_weights_anywhere.mkdir(parents=True)
    (no_weights_anywhere / HUB_WEIGHT_FILES[0]).write_bytes(b"x")  # never silently used instead
    if source == "env":
        monkeypatch.setenv(INCEPTION_WEIGHTS_ENV_VAR, str(missing))
    with pytest.raises(ExtractorUnavailableError, match="is not a file") as error:
        find_inception_weights(missing if source == "explicit" else None)
    assert str(missing) in str(error.value)


def test_a_file_that_is_not_inception_weights_is_named(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save({"something": torch.zeros(2)}, path)
    with pytest.raises(ExtractorUnavailableError, match="not a usable Inception weights file") as error:
        load_inception_extractor(path)
    assert str(path) in str(error.value)


def test_download_only_when_asked(weights_file, no_weights_anywhere, monkeypatch):
    calls = []

    def fake_download(url, progress, check_hash):
        calls.append(url)
        no_weights_anywhere.mkdir(parents=True, exist_ok=True)
        (no_weights_anywhere / HUB_WEIGHT_FILES[0]).write_bytes(weights_file.read_bytes())

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    with pytest.raises(ExtractorUnavailableError):
        load_inception_extractor(download=False)
    assert calls == []
    extractor = load_inception_extractor(download=True)
    assert len(calls) == 1 and calls[0].endswith(HUB_WEIGHT_FILES[0])
    assert extractor.weights_id == sha256_prefix(weights_file)


def test_failed_download_is_reported_with_the_alternatives(monkeypatch):
    def offline(url, progress, check_hash):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ExtractorUnavailableError, match="network unreachable") as error:
        load_inception_extractor(download=True)
    assert "--evaluation.extractor domain" in str(error.value)


def test_default_extractor_is_inception_only_with_weights_on_disk(weights_file, no_weights_anywhere, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("choosing the default must not download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.warns(UserWarning) as caught:
        assert default_extractor_name() == "domain"
    assert len(caught) == 1
    assert INCEPTION_WEIGHTS_ENV_VAR in str(caught[0].message) and "\n" not in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert default_extractor_name(str(weights_file)) == "inception"
        no_weights_anywhere.mkdir(parents=True)
        (no_weights_anywhere / HUB_WEIGHT_FILES[0]).symlink_to(weights_file)
        assert default_extractor_name() == "inception"


# What the network is fed and what comes out


def test_pixels_are_rounded_not_truncated():
    levels = torch.tensor([0.0, 0.4, 0.6, 1.0, 1.6, 127.49, 127.51, 254.6, 255.0]) / 255
    fed = to_inception_input(levels.view(1, 1, 3, 3))
    assert fed.dtype == torch.uint8 and fed.shape == (1, 3, 3, 3)
    assert fed[0, 0].flatten().tolist() == [0, 0, 1, 1, 2, 127, 128, 255, 255]
    truncated = (levels * 255).to(torch.uint8)  # what torchmetrics' normalize=True does
    assert truncated.tolist() != fed[0, 0].flatten().tolist()


def test_grayscale_is_tiled_to_three_channels():
    gray = images(1, 4)
    fed = to_inception_input(gray)
    assert fed.shape == (2, 3, 4, 4)
    level = np.rint(gray.numpy() * np.float32(255)).astype(np.uint8)
    np.testing.assert_array_equal(fed.numpy(), np.repeat(level, 3, axis=1))


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_features_and_logits_shapes(inception, channels, size):
    features, logits = inception(images(channels, size))
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert features.dtype == logits.dtype == torch.float32
    assert torch.isfinite(features).all() and torch.isfinite(logits).all()
    assert not features.requires_grad
    assert inception.num_features == 2048 and inception.num_classes == 1008


def test_a_grayscale_batch_scores_like_its_rgb_copy(inception, fidelity_network):
    gray = images(1, 28)
    expected = fidelity_scores(fidelity_network, gray)
    for batch in (gray, gray.expand(-1, 3, -1, -1).clone()):
        for mine, theirs in zip(inception(batch), expected, strict=True):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=0)


def test_the_extractor_stays_in_eval_mode(inception):
    inception.train()
    assert not inception.training and not inception.network.training


def test_antialias_is_opt_in_and_changes_the_weights_id(weights_file):
    extractor = build_extractor("inception", "cifar10", inception_weights=str(weights_file), inception_antialias=True)
    assert extractor.network.use_antialias
    assert extractor.weights_id == sha256_prefix(weights_file) + ANTIALIAS_SUFFIX


# The interface


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (torch.rand(2, 1, 28, 28) * 2 - 1, r"\[0, 1\]"),
        (torch.rand(2, 1, 28, 28) * 255, r"\[0, 1\]"),
        (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "float"),
        (torch.rand(1, 28, 28), "float images"),
    ],
)
def test_images_outside_the_contract_are_rejected(bad, problem):
    with pytest.raises(ValueError, match=problem):
        check_images(bad)


def test_inception_rejects_two_channel_images(inception):
    with pytest.raises(ValueError, match="1- or 3-channel"):
        inception(torch.rand(1, 2, 28, 28))


def test_registry_names_and_unknown_names():
    assert EXTRACTORS.names() == ["inception", "domain"]
    with pytest.raises(UnknownNameError, match="inception, domain"):
        build_extractor("vgg", "fashion_mnist")


def test_on_a_cpu_the_extractor_runs_channels_last_and_scores_as_before(weights_file, inception, fidelity_network):
    """build_extractor puts the convolution weights in channels-last layout on a CPU (oneDNN's fast path); the
    features are torch-fidelity's contiguous network's up to float rounding, so cached reference statistics stay
    valid."""
    built = build_extractor("inception", "cifar10", inception_weights=str(weights_file), device="cpu")
    convolutions = [module.weight for module in built.modules() if isinstance(module, torch.nn.Conv2d)]
    assert convolutions and all(w.is_contiguous(memory_format=torch.channels_last) for w in convolutions)
    assert not any(
        module.weight.is_contiguous(memory_format=torch.channels_last)
        for module in inception.modules()
        if isinstance(module, torch.nn.Conv2d) and module.weight.shape[-1] > 1
    )
    batch = images(3, 32)
    for fast, reference in zip(built(batch), fidelity_scores(fidelity_network, batch), strict=True):
        torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())

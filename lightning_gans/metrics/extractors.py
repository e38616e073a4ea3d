"""The networks that map images to the features and class logits every sample-quality metric is computed on.

FID, KID and IS are only comparable between runs that used the same network with the same weights, so an
extractor carries a `weights_id` (a hash of its weights file) that goes into cache keys and result records.

Two extractors exist. `inception` is the pretrained InceptionV3 of published FIDs; its weights come from the
network, so on an offline machine without a copy it is unavailable. `domain` is a small classifier the
project trains on the dataset itself: numbers from it are not comparable with the literature, but they rank
models and can be had anywhere. `default_extractor_name` picks the first that works without a download.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from lightning_gans.registry import Registry

WEIGHTS_ID_CHARS = 16
# Generated images may overshoot [0, 1] by rounding error; anything beyond this is a wrong value range.
_RANGE_TOLERANCE = 1e-4


EVALUATION_BATCH_SIZE = 128
"""Images per generator and extractor pass when scoring. On a CPU, glibc serves allocations over 32 MiB with fresh
mmaps, page-faulted on every pass: at 500 images the domain classifier's first activation is 50 MiB and an
evaluation of 10,000 samples took 6.4 s instead of 4.6 s (`make bench`); at 128 it is 13 MiB. On a GPU, 128
Inception-sized images are already a full batch."""


class ExtractorUnavailableError(RuntimeError):
    """The extractor's weights cannot be had; the message says how to provide them and what to use instead."""


class FeatureExtractor(nn.Module):
    """A frozen network: forward(images) -> (features (N, num_features), logits (N, num_classes)), both float32.

    Images are floats in [0, 1] shaped like the dataset's samples (N, C, H, W); subclasses wrap one `network`
    and do their own resizing and normalisation, so every caller feeds the same thing. The module never leaves
    eval mode: a metric computed with batch-norm statistics updated by the images being scored would depend
    on batching.
    """

    name: str
    num_features: int
    num_classes: int
    weights_id: str

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeatureExtractor:
        return super().train(False)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        check_images(images)
        with torch.no_grad():
            features, logits = self.extract(images)
        return features.float(), logits.float()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


def check_images(images: Tensor) -> None:
    """Reject the two input mistakes that would otherwise give plausible-looking but wrong scores.

    Images in [-1, 1] (a tanh generator's raw output) or in 0..255 still run through any network.
    """
    if images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"expected float images (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if images.numel():
        low, high = torch.stack(torch.aminmax(images.detach())).tolist()  # one device sync, not two
        if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
            raise ValueError(f"expected images in [0, 1], got values in [{low:.4g}, {high:.4g}]")


def weights_id_of(path: Path) -> str:
    """First hex digits of the file's sha256: names the weights, whatever the file is called or where it lives."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:WEIGHTS_ID_CHARS]


@dataclass(frozen=True)
class ExtractorOptions:
    """The evaluation settings an extractor may need; each builder reads only its own."""

    inception_weights: str | None = None
    inception_antialias: bool = False
    inception_download: bool = False
    data_dir: str | None = None


ExtractorBuilder = Callable[[str, ExtractorOptions], FeatureExtractor]

# The builders import on use: the extractor modules import this one.


def _build_inception(dataset: str, options: ExtractorOptions) -> FeatureExtractor:
    from lightning_gans.metrics.inception import load_inception_extractor

    return load_inception_extractor(
        options.inception_weights, antialias=options.inception_antialias, download=options.inception_download
    )


def _build_domain(dataset: str, options: ExtractorOptions) -> FeatureExtractor:
    from lightning_gans.metrics.classifier import load_domain_extractor

    return load_domain_extractor(dataset, data_dir=options.data_dir)


EXTRACTORS: Registry[ExtractorBuilder] = Registry("feature extractor")
EXTRACTORS.register("inception", _build_inception)
EXTRACTORS.register("domain", _build_domain)


def build_extractor(
    name: str,
    dataset: str,
    *,
    inception_weights: str | None = None,
    inception_antialias: bool = False,
    inception_download: bool = False,
    data_dir: str | None = None,
    device: torch.device | str = "cpu",
) -> FeatureExtractor:
    """The named extractor for `dataset`, on `device`.

    Options that do not apply to the named extractor are ignored, so callers can pass the whole evaluation
    configuration; `data_dir` only goes into the domain extractor's hint for training a missing classifier.
    """
    options = ExtractorOptions(inception_weights, inception_antialias, inception_download, data_dir)
    extractor = EXTRACTORS.get(name)(dataset, options).to(device)
    if torch.device(device).type == "cpu":
        # oneDNN's convolutions are fastest on channels-last weights: 1.4x the domain classifier's images/s at
        # batch 128 (`make bench BENCH_PARTS=evaluation`); features change by float rounding only. GPUs keep the
        # layout they were measured in until a GPU benchmark says otherwise.
        extractor.network.to(memory_format=torch.channels_last)
    return extractor


def default_extractor_name(inception_weights: str | None = None) -> str:
    """Inception when its weights are on this machine, else "domain" with one warning saying how to get them.

    Never downloads: choosing a default must not block on (or fail for lack of) the network.
    """
    from lightning_gans.metrics.inception import find_inception_weights

    try:
        find_inception_weights(inception_weights)
    except ExtractorUnavailableError as exc:
        warnings.warn(f"falling back to the 'domain' feature extractor: {exc}", stacklevel=2)
        return "domain"
    return "inception"

"""The networks that map images to the features and class logits every sample-quality metric is computed on.

FID, KID and IS are only comparable between runs that used the same network with the same weights, so an
extractor carries a `weights_id` (a hash of its weights file) that goes into cache keys and result records.

Two extractors exist. `inception` is the pretrained InceptionV3 of published FIDs; its weights come from the
network, so on an offline machine without a copy it is unavailable. `domain` is a small classifier the
project trains on the dataset itself: numbers from it are not comparable with the literature, but they rank
models and can be had anywhere. `default_extractor_name` picks the first that works without a download.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lightning_gans.metrics.classifier import load_domain_extractor
from lightning_gans.metrics.features import ExtractorUnavailableError, FeatureExtractor
from lightning_gans.metrics.inception import find_inception_weights, load_inception_extractor
from lightning_gans.registry import Registry


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

    return load_inception_extractor(
        options.inception_weights, antialias=options.inception_antialias, download=options.inception_download
    )


def _build_domain(dataset: str, options: ExtractorOptions) -> FeatureExtractor:

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

    try:
        find_inception_weights(inception_weights)
    except ExtractorUnavailableError as exc:
        warnings.warn(f"falling back to the 'domain' feature extractor: {exc}", stacklevel=2)
        return "domain"
    return "inception"

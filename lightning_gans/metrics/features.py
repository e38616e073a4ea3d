"""What a feature extractor is: the network interface every sample-quality metric reads, and its weights' identity.

FID, KID and IS are only comparable between runs that used the same network with the same weights, so an
extractor carries a `weights_id` (a hash of its weights file) that goes into cache keys and result records. The
extractors themselves (metrics/inception.py, metrics/classifier.py) build on this module, and the registry that
chooses between them (metrics/extractors.py) builds on those: imports only go one way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import Tensor, nn

WEIGHTS_ID_CHARS = 16
# Generated images may overshoot [0, 1] by rounding error; anything beyond this is a wrong value range.
_RANGE_TOLERANCE = 1e-4


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


def to_pixels(images: Tensor) -> Tensor:
    """[0, 1] floats -> uint8 0..255, rounded: truncating (`(x * 255).byte()`) would darken every generated pixel by
    half a level on average, which real images, stored as uint8, never are."""
    return (images * 255).round().clamp(0, 255).to(torch.uint8)


def weights_id_of(path: Path) -> str:
    """First hex digits of the file's sha256: names the weights, whatever the file is called or where it lives."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:WEIGHTS_ID_CHARS]

"""Generator and discriminator backbones shared by every loss.

A fair comparison of objectives needs every loss to train the same networks, so the backbone is chosen by name and
built here; the loss only decides whether the discriminator is a classifier (logits), for BEGAN an autoencoder
(reconstructions), or for the VAE baseline an encoder (posterior parameters). Layer sizes follow docs/protocol.md (the
paper's InfoGAN-style network) and Radford et al. (DCGAN).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from ..registry import Registry

# TF's batch norm decay 0.999 is PyTorch momentum 0.001; the reference also uses eps 1e-3.
BN_MOMENTUM = 0.001
BN_EPS = 1e-3
LRELU_SLOPE = 0.2


@dataclass(frozen=True)
class NetworkPair:
    generator: nn.Module
    discriminator: nn.Module


def batch_norm(features: int, dims: int) -> nn.Module:
    layer = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return layer(features, eps=BN_EPS, momentum=BN_MOMENTUM)


def optional_batch_norm(enabled: bool, features: int, dims: int) -> nn.Module:
    return batch_norm(features, dims) if enabled else nn.Identity()


def lrelu() -> nn.Module:
    return nn.LeakyReLU(LRELU_SLOPE)


INIT_STD = 0.02
INIT_TRUNCATION = 2 * INIT_STD
"""TF's truncated_normal_initializer re-draws values beyond 2 std; trunc_normal_ takes the cut as absolute bounds."""


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Skips weight gradients of a network that is only differentiated through (D during the G step)."""
    with frozen_parameters(list(module.parameters())):
        yield


@contextlib.contextmanager
def frozen_parameters(parameters: Sequence[nn.Parameter]) -> Iterator[None]:
    """`frozen` for parameters already listed (the GAN's step freezes its D optimizer's), then as they were."""
    flags = [parameter.requires_grad for parameter in parameters]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(parameters, flags, strict=True):
            parameter.requires_grad_(flag)


def init_weights(module: nn.Module) -> None:
    """Zero biases and std-0.02 weights, drawn the way the reference draws each layer's.

    The reference's conv2d takes a truncated normal (values beyond 2 std re-drawn, so the std is about 0.88 of
    0.02), its dense layers and transposed convolutions a plain normal N(0, 0.02).
    A conditional network's class embeddings are drawn where they are made (conditioning.py), for their own reasons.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.trunc_normal_(layer.weight, 0.0, INIT_STD, -INIT_TRUNCATION, INIT_TRUNCATION)
        elif isinstance(layer, nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(layer.weight, 0.0, INIT_STD)
        else:
            continue
        if getattr(layer, "bias", None) is not None:
            nn.init.zeros_(layer.bias)


class Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return ", ".join(map(str, self.shape))


class Logits(nn.Module):
    """Flattens a (B, 1, ...) critic output to (B,) so every loss sees one logit per example."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).reshape(x.shape[0])


def _image_size(sample_shape: tuple[int, ...], backbone: str) -> tuple[int, int, int]:
    if len(sample_shape) != 3 or sample_shape[0] not in (1, 3):
        raise ValueError(
            f"backbone {backbone!r} needs images shaped (channels, height, width) with 1 or 3 channels; "
            f"got sample shape {sample_shape}"
        )
    channels, height, width = sample_shape
    return channels, height, width


def infogan_generator(
    z_dim: int, channels: int, height: int, width: int, activation: Callable[[], nn.Module]
) -> nn.Module:
    """The paper's generator; `activation` follows the hidden layers, because the reference's GAN generator uses
    leaky ReLU and its VAE decoder, otherwise the same layout, ReLU."""
    h4, w4 = height // 4, width // 4
    return nn.Sequential(
        nn.Linear(z_dim, 1024),
        batch_norm(1024, 1),
        activation(),
        nn.Linear(1024, 128 * h4 * w4),
        batch_norm(128 * h4 * w4, 1),
        activation(),
        Reshape(128, h4, w4),
        nn.ConvTranspose2d(128, 64, 4, 2, 1),
        batch_norm(64, 2),
        activation(),
        nn.ConvTranspose2d(64, channels, 4, 2, 1),
        nn.Sigmoid(),
    )


def critic_or_encoder(layers: Callable[[int], list[nn.Module]], z_dim: int, encoder: bool) -> nn.Module:
    """A backbone's D trunk with its final layer sized for the job.

    `layers(outputs)` builds the trunk ending in a layer of `outputs` units. A GAN critic gives one logit per
    example; the VAE's encoder is the same trunk ending in FC(2 z_dim), the posterior's mean and raw sigma, so
    that the baseline is judged on the networks the GANs use.
    """
    if encoder:
        return nn.Sequential(*layers(2 * z_dim), nn.Flatten())
    return Logits(nn.Sequential(*layers(1)))


def infogan_discriminator_layers(
    channels: int, height: int, width: int, d_batch_norm: bool, outputs: int
) -> list[nn.Module]:
    return [
        nn.Conv2d(channels, 64, 4, 2, 1),
        lrelu(),
        nn.Conv2d(64, 128, 4, 2, 1),
        optional_batch_norm(d_batch_norm, 128, 2),
        lrelu(),
        nn.Flatten(),
        nn.Linear(128 * (height // 4) * (width // 4), 1024),
        optional_batch_norm(d_batch_norm, 1024, 1),
        lrelu(),
        nn.Linear(1024, outputs),
    ]


def began_autoencoder(channels: int, height: int, width: int, d_batch_norm: bool) -> nn.Module:
    """The reference's BEGAN critic: the paper's D trunk, a 64-d code, and a mirrored decoder.

    As in the reference there is no activation between the second convolution and the code layer.
    """
    h4, w4 = height // 4, width // 4
    return nn.Sequential(
        nn.Conv2d(channels, 64, 4, 2, 1),
        lrelu(),
        nn.Conv2d(64, 128, 4, 2, 1),
        nn.Flatten(),
        nn.Linear(128 * h4 * w4, 64),
        optional_batch_norm(d_batch_norm, 64, 1),
        lrelu(),
        nn.Linear(64, 128 * h4 * w4),
        optional_batch_norm(d_batch_norm, 128 * h4 * w4, 1),
        lrelu(),
        Reshape(128, h4, w4),
        nn.ConvTranspose2d(128, 64, 4, 2, 1),
        optional_batch_norm(d_batch_norm, 64, 2),
        lrelu(),
        nn.ConvTranspose2d(64, channels, 4, 2, 1),
        nn.Sigmoid(),
    )


def build_infogan(
    sample_shape: tuple[int, ...], z_dim: int, d_batch_norm: bool, autoencoder: bool, encoder: bool
) -> NetworkPair:
    channels, height, width = _image_size(sample_shape, "infogan")
    if height % 4 or width % 4:
        raise ValueError(f"backbone 'infogan' needs height and width divisible by 4; got {height}x{width}")
    discriminator = (
        began_autoencoder(channels, height, width, d_batch_norm)
        if autoencoder
        else critic_or_encoder(
            lambda outputs: infogan_discriminator_layers(channels, height, width, d_batch_norm, outputs),
            z_dim,
            encoder,
        )
    )
    activation = nn.ReLU if encoder else lrelu  # `encoder` marks the VAE, whose decoder uses ReLU
    return NetworkPair(infogan_generator(z_dim, channels, height, width, activation), discriminator)


DCGAN_SIZES = (32, 64)
DCGAN_WIDTH = 64


def dcgan_generator(z_dim: int, channels: int, size: int) -> nn.Module:
    """Radford et al.: project z to 4x4, double the resolution and halve the width until the image size."""
    doublings = int(math.log2(size // 4))
    width = DCGAN_WIDTH * 2 ** (doublings - 1)
    layers: list[nn.Module] = [
        Reshape(z_dim, 1, 1),
        nn.ConvTranspose2d(z_dim, width, 4, 1, 0),
        batch_norm(width, 2),
        nn.ReLU(),
    ]
    for _ in range(doublings - 1):
        layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1), batch_norm(width // 2, 2), nn.ReLU()]
        width //= 2
    layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Sigmoid()]
    return nn.Sequential(*layers)


def dcgan_discriminator_layers(channels: int, size: int, d_batch_norm: bool, outputs: int) -> list[nn.Module]:
    """Radford et al.: strided convolutions down to 4x4 (no batch norm on the first), then a 4x4 valid conv."""
    doublings = int(math.log2(size // 4))
    width = DCGAN_WIDTH
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), lrelu()]
    for _ in range(doublings - 1):
        layers += [
            nn.Conv2d(width, width * 2, 4, 2, 1),
            optional_batch_norm(d_batch_norm, width * 2, 2),
            lrelu(),
        ]
        width *= 2
    layers.append(nn.Conv2d(width, outputs, 4, 1, 0))
    return layers


def build_dcgan(
    sample_shape: tuple[int, ...], z_dim: int, d_batch_norm: bool, autoencoder: bool, encoder: bool
) -> NetworkPair:
    channels, height, width = _image_size(sample_shape, "dcgan")
    if height != width or height not in DCGAN_SIZES:
        raise ValueError(
            f"backbone 'dcgan' supports square images of size {', '.join(map(str, DCGAN_SIZES))}; "
            f"got {height}x{width} (use backbone 'infogan' for 28x28)"
        )
    discriminator = (
        began_autoencoder(channels, height, width, d_batch_norm)
        if autoencoder
        else critic_or_encoder(
            lambda outputs: dcgan_discriminator_layers(channels, height, d_batch_norm, outputs), z_dim, encoder
        )
    )
    return NetworkPair(dcgan_generator(z_dim, channels, height), discriminator)


MLP_WIDTH = 128


def mlp(sizes: list[int], activation: Callable[[], nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (inputs, outputs) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(inputs, outputs))
        if index < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def build_mlp(
    sample_shape: tuple[int, ...], z_dim: int, d_batch_norm: bool, autoencoder: bool, encoder: bool
) -> NetworkPair:
    """Small fully connected pair for the 2-D Gaussian mixtures, where convolutions make no sense.

    It has no batch norm, so `d_batch_norm` does not apply; the toy pair stays as in the unrolled-GAN papers,
    for the VAE too (the reference has no such backbone), whose generator is therefore the GANs' ReLU one.
    """
    if len(sample_shape) != 1:
        raise ValueError(f"backbone 'mlp' needs flat samples shaped (dim,); got sample shape {sample_shape}")
    dim = sample_shape[0]
    generator = mlp([z_dim, MLP_WIDTH, MLP_WIDTH, dim], nn.ReLU)
    if autoencoder:
        discriminator: nn.Module = mlp([dim, MLP_WIDTH, MLP_WIDTH, dim], lrelu)
    else:
        discriminator = critic_or_encoder(
            lambda outputs: list(mlp([dim, MLP_WIDTH, MLP_WIDTH, outputs], lrelu)), z_dim, encoder
        )
    return NetworkPair(generator, discriminator)


Builder = Callable[[tuple[int, ...], int, bool, bool, bool], NetworkPair]
BACKBONES: Registry[Builder] = Registry("backbone")
PAPER_BACKBONE = "infogan"
"""The paper's network pair, every image dataset's default (DatasetSpec.backbone)."""
BACKBONES.register("infogan", build_infogan)
BACKBONES.register("dcgan", build_dcgan)
BACKBONES.register("mlp", build_mlp)
WITHOUT_BATCH_NORM = ("mlp",)
"""Backbones whose networks have no batch norm, so that `d_batch_norm`, drawn by every search, changes nothing."""


def uses_d_batch_norm(backbone: str) -> bool:
    """Whether `d_batch_norm` changes the backbone's discriminator: packs and figures ignore it where it does not."""
    return backbone not in WITHOUT_BATCH_NORM


def check_discriminator_kind(autoencoder: bool, encoder: bool) -> None:
    if autoencoder and encoder:
        raise ValueError("the discriminator can be BEGAN's autoencoder or the VAE's encoder, not both")


def build_networks(
    backbone: str,
    sample_shape: tuple[int, ...],
    z_dim: int,
    d_batch_norm: bool,
    autoencoder: bool,
    encoder: bool = False,
) -> NetworkPair:
    """Builds and initialises a generator/discriminator pair.

    `autoencoder` asks for BEGAN's critic and `encoder` for the VAE's encoder (the D trunk ending in FC(2 z_dim))
    in the discriminator's place; the two exclude each other.
    """
    check_discriminator_kind(autoencoder, encoder)
    pair = BACKBONES.get(backbone)(tuple(sample_shape), z_dim, d_batch_norm, autoencoder, encoder)
    init_weights(pair.generator)
    init_weights(pair.discriminator)
    return pair

"""Class-conditional networks: any backbone's pair, given the class label y beside z and beside the sample.

Conditioning lives in the networks, so that every loss's math stays what it is: the training step binds a batch's
labels to both networks (`bind_labels`) and hands the losses networks of one argument, as in the unconditional step.
How each network takes y, and why:

- The generator concatenates a learned class embedding to z (Mirza and Osindero 2014), in front of the backbone's
  own generator built for the wider input. Conditional batch norm (modulating every batch norm by y) was the other
  choice; it needs batch norm in the generator, which the MLP pair of the mixtures lacks, and it changes the
  backbone's layers where concatenation changes only its input width.
- A GAN critic conditions by projection (Miyato and Koyama 2018): D(x, y) = psi(phi(x)) + <V_y, phi(x)>, where phi is
  the critic's trunk (every layer but the last), psi its last layer and V a learned class embedding of phi's size.
  For the DCGAN critic, whose last layer is a 4x4 valid convolution over a 4x4 map, phi(x) is that map flattened,
  which psi reads as one dense layer would.
- BEGAN's critic is an autoencoder: its output is a reconstruction, not a logit, so there is nothing to project onto.
  It conditions by concatenation at its input: the label's embedding joins the sample as extra channels (constant
  over the image; extra features for flat samples), the first layer widened to take them, and the reconstruction
  remains the sample's alone, so the energy is the reconstruction error of x under label y.
- The VAE's encoder (the critic's trunk ending in the posterior's parameters) takes y the same way, and its decoder
  is the conditional generator.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .nets import BACKBONES, INIT_STD, Logits, NetworkPair, build_networks, check_discriminator_kind, init_weights

LABEL_EMBEDDING = 16
"""Width of the class embedding the generator and the concatenating critics take: as wide as a one-hot code of the
ten classes would be, with room to spare, and small beside z (64 in the paper's search)."""


class ProjectionCritic(nn.Module):
    """D(x, y) = head(trunk(x)) + <V_y, trunk(x) flattened>: one logit per example, as `Logits` gives."""

    def __init__(self, trunk: nn.Module, head: nn.Module, features: int, classes: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.embedding = nn.Embedding(classes, features)
        nn.init.normal_(self.embedding.weight, 0.0, INIT_STD)  # as the head it adds to (nets.init_weights)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        hidden = self.trunk(x)
        logit = self.head(hidden).reshape(x.shape[0])
        return logit + (self.embedding(labels).to(hidden.dtype) * hidden.flatten(1)).sum(dim=1)


class LabelConcatenated(nn.Module):
    """body([x, E_y]): the label's embedding concatenated to the input, as features of a vector (z, a 2-D point) or
    as channels of an image, constant over it."""

    def __init__(self, body: nn.Module, classes: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(classes, LABEL_EMBEDDING)
        # N(0, 1): the label joins the input on the scale of what it joins (z ~ U[-1, 1] or N(0, 1), pixels in
        # [0, 1]). At the other layers' N(0, 0.02) the first layer would see the label 50 times weaker than z, and
        # the generator would long ignore it while the projection critic uses the label from its first steps.
        nn.init.normal_(self.embedding.weight, 0.0, 1.0)
        self.body = body

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        embedded = self.embedding(labels).to(x.dtype)
        planes = embedded.reshape(*embedded.shape, *(1,) * (x.dim() - 2)).expand(-1, -1, *x.shape[2:])
        return self.body(torch.cat([x, planes], dim=1))


def widened_first_layer(network: nn.Module, extra: int, backbone: str) -> nn.Module:
    """`network` with its first dense or convolutional layer taking `extra` more input features or channels."""
    for name, layer in network.named_modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            parent_name, _, attribute = name.rpartition(".")
            parent = network.get_submodule(parent_name) if parent_name else network
            setattr(parent, attribute, _wider(layer, extra))
            return network
    raise ValueError(
        f"backbone {backbone!r}: its discriminator has no dense or convolutional layer to give the label channels"
    )


def _wider(layer: nn.Linear | nn.Conv2d, extra: int) -> nn.Module:
    bias = layer.bias is not None
    if isinstance(layer, nn.Linear):
        return nn.Linear(layer.in_features + extra, layer.out_features, bias=bias)
    return nn.Conv2d(
        layer.in_channels + extra,
        layer.out_channels,
        layer.kernel_size,
        layer.stride,
        layer.padding,
        layer.dilation,
        layer.groups,
        bias,
    )


def projection_critic(critic: nn.Module, sample_shape: tuple[int, ...], classes: int, backbone: str) -> nn.Module:
    """The backbone's critic split into trunk and last layer, with a class embedding the size of the trunk's output."""
    body = critic.body if isinstance(critic, Logits) else None
    if not isinstance(body, nn.Sequential) or not isinstance(body[-1], nn.Linear | nn.Conv2d):
        raise ValueError(
            f"backbone {backbone!r}: conditioning by projection needs a critic built as Logits(Sequential(...)) "
            "ending in a dense or convolutional layer (nets.critic_or_encoder builds one)"
        )
    trunk, head = body[:-1], body[-1]
    return ProjectionCritic(trunk, head, trunk_width(trunk, sample_shape), classes)


@torch.no_grad()
def trunk_width(trunk: nn.Module, sample_shape: tuple[int, ...]) -> int:
    """How many features the trunk gives one sample, from a forward pass in inference mode (batch norm untouched)."""
    was_training = trunk.training
    trunk.eval()
    try:
        return trunk(torch.zeros(1, *sample_shape)).numel()
    finally:
        trunk.train(was_training)


def build_pair(
    backbone: str,
    sample_shape: tuple[int, ...],
    z_dim: int,
    d_batch_norm: bool,
    autoencoder: bool,
    encoder: bool,
    classes: int,
) -> NetworkPair:
    """The backbone's pair, initialised: `build_networks`'s for an unconditional model (`classes` 0), else
    conditioned on `classes` labels as the module docstring says.

    A conditional pair is built from the registered builder itself, so a plugin backbone conditions too, where its
    critic has the registered backbones' layout.
    """
    if classes == 0:
        return build_networks(backbone, sample_shape, z_dim, d_batch_norm, autoencoder, encoder)
    check_discriminator_kind(autoencoder, encoder)
    if classes < 2:
        raise ValueError(f"a conditional network needs at least 2 classes, got {classes}")
    build = BACKBONES.get(backbone)
    shape = tuple(sample_shape)
    # `encoder` marks the VAE, whose decoder's activations differ from the GAN generator's (nets.build_infogan).
    widened_z = build(shape, z_dim + LABEL_EMBEDDING, d_batch_norm, False, encoder).generator
    generator = LabelConcatenated(widened_z, classes)
    own = build(shape, z_dim, d_batch_norm, autoencoder, encoder).discriminator
    if autoencoder or encoder:
        discriminator: nn.Module = LabelConcatenated(widened_first_layer(own, LABEL_EMBEDDING, backbone), classes)
    else:
        discriminator = projection_critic(own, shape, classes, backbone)
    init_weights(generator)
    init_weights(discriminator)
    return NetworkPair(generator, discriminator)


def bind_labels(network: nn.Module, labels: Tensor | None) -> Callable[[Tensor], Tensor]:
    """The network as a function of its input alone: the labels bound for a conditional one, itself otherwise."""
    return network if labels is None else functools.partial(network, labels=labels)

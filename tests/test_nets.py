"""Backbone shapes for every backbone x image size, the paper's layer facts, and registry errors."""

import math

import pytest
import torch
from torch import nn

from lightning_gans.registry import UnknownNameError
from lightning_gans.training.nets import BACKBONES, build_networks

CASES = [
    ("infogan", (1, 28, 28)),
    ("infogan", (3, 28, 28)),
    ("infogan", (1, 32, 32)),
    ("infogan", (3, 32, 32)),
    ("infogan", (3, 64, 64)),
    ("dcgan", (1, 32, 32)),
    ("dcgan", (3, 32, 32)),
    ("dcgan", (3, 64, 64)),
    ("mlp", (2,)),
]


@pytest.mark.parametrize("autoencoder", [False, True], ids=["critic", "autoencoder"])
@pytest.mark.parametrize(("backbone", "shape"), CASES, ids=[f"{b}-{'x'.join(map(str, s))}" for b, s in CASES])
def test_shapes(backbone, shape, autoencoder):
    pair = build_networks(backbone, shape, 64, True, autoencoder)
    z = torch.rand(5, 64) * 2 - 1
    samples = pair.generator(z)
    assert samples.shape == (5, *shape)
    output = pair.discriminator(samples)
    assert output.shape == ((5, *shape) if autoencoder else (5,))
    if len(shape) == 3:  # images end in a sigmoid: [0, 1] like the data
        assert samples.min() >= 0 and samples.max() <= 1
        if autoencoder:
            assert output.min() >= 0 and output.max() <= 1


def test_infogan_layers_follow_the_paper():
    pair = build_networks("infogan", (1, 28, 28), 64, True, False)
    linears = [m for m in pair.generator.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 1024), (1024, 128 * 7 * 7)]
    deconvs = [m for m in pair.generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in deconvs] == [
        (64, (4, 4), (2, 2)),
        (1, (4, 4), (2, 2)),
    ]
    d_linears = [m for m in pair.discriminator.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in d_linears] == [(128 * 7 * 7, 1024), (1024, 1)]
    norms = [m for m in pair.generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    # docs/protocol.md: the reference's TensorFlow batch norm decay 0.999 (PyTorch momentum 0.001), epsilon 1e-3.
    assert norms and all(m.momentum == 0.001 and m.eps == 1e-3 for m in norms)


@pytest.mark.parametrize("backbone", ["infogan", "dcgan"])
def test_discriminator_batch_norm_is_switchable(backbone):
    def norms(module):
        return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())

    with_bn = build_networks(backbone, (3, 32, 32), 64, True, False).discriminator
    without_bn = build_networks(backbone, (3, 32, 32), 64, False, False).discriminator
    assert norms(with_bn) > 0
    assert norms(without_bn) == 0


def test_dense_init_is_normal_002_with_zero_bias():
    torch.manual_seed(0)
    pair = build_networks("infogan", (1, 28, 28), 64, True, False)
    weight = pair.discriminator.body[6].weight  # the 6272 x 1024 dense layer: plenty of draws
    assert abs(weight.mean().item()) < 1e-3
    assert weight.std().item() == pytest.approx(0.02, rel=0.01)
    assert weight.abs().max() > 0.04  # a plain normal: about 4.6% of its draws lie beyond 2 std
    layers = [*pair.generator.modules(), *pair.discriminator.modules()]
    biases = [m.bias for m in layers if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d)]
    assert all(torch.count_nonzero(b) == 0 for b in biases)


TRUNCATED_STD = 0.02 * 0.8796  # N(0, 0.02) cut at 2 std: sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)) of the parent's


@pytest.mark.parametrize("kind", ["critic", "autoencoder", "encoder"])
@pytest.mark.parametrize(("backbone", "shape"), [("infogan", (1, 28, 28)), ("dcgan", (3, 32, 32))])
def test_conv_init_is_truncated_normal_and_deconv_init_is_not(backbone, shape, kind):
    torch.manual_seed(0)
    pair = build_networks(backbone, shape, 64, True, kind == "autoencoder", encoder=kind == "encoder")
    layers = [*pair.generator.modules(), *pair.discriminator.modules()]
    convs = [m.weight for m in layers if isinstance(m, nn.Conv2d)]
    assert convs
    for weight in convs:
        assert weight.abs().max() <= 0.04
        # The sample std's standard error is about std / sqrt(2 n) (less for the truncated normal's light
        # tails); 5 of them keep a correct init from failing, while 0.02 itself is 14% away.
        tolerance = 5 * TRUNCATED_STD / math.sqrt(2 * weight.numel())
        assert weight.std().item() == pytest.approx(TRUNCATED_STD, abs=tolerance)
    deconvs = [m.weight for m in pair.generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert any(weight.abs().max() > 0.04 for weight in deconvs)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_the_vaes_infogan_generator_uses_relu_and_the_gans_leaky_relu(shape):
    def activations(encoder: bool) -> list[nn.Module]:
        generator = build_networks("infogan", shape, 64, True, False, encoder=encoder).generator
        return [m for m in generator.modules() if isinstance(m, nn.ReLU | nn.LeakyReLU)]

    assert [type(m) for m in activations(encoder=True)] == [nn.ReLU] * 3
    gan = activations(encoder=False)
    assert [type(m) for m in gan] == [nn.LeakyReLU] * 3
    assert all(m.negative_slope == 0.2 for m in gan)


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(UnknownNameError, match=r"unknown backbone 'resnet'.*infogan, dcgan, mlp"):
        build_networks("resnet", (1, 28, 28), 64, True, False)
    assert BACKBONES.names() == ["infogan", "dcgan", "mlp"]


@pytest.mark.parametrize(
    ("backbone", "shape", "message"),
    [
        ("dcgan", (1, 28, 28), "dcgan' supports square images of size 32, 64; got 28x28"),
        ("infogan", (1, 30, 30), "divisible by 4; got 30x30"),
        ("infogan", (2,), r"\(channels, height, width\)"),
        ("mlp", (1, 28, 28), r"flat samples shaped \(dim,\)"),
    ],
)
def test_unsupported_shapes_are_clear_errors(backbone, shape, message):
    with pytest.raises(ValueError, match=message):
        build_networks(backbone, shape, 64, True, False)

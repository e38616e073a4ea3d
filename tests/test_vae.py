"""The VAE baseline: its ELBO terms against hand arithmetic, its encoder, and its joint training step."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from test_module import make_trainer
from torch import Tensor, nn
from torch.distributions import Normal, kl_divergence
from torch.testing import assert_close
from torch.utils.data import DataLoader, IterableDataset

from lightning_gans.evaluation.features import evaluation_noise
from lightning_gans.registry import UnknownNameError
from lightning_gans.training.losses import (
    KL_VARIANCE_EPSILON,
    LossHyperparameters,
    bernoulli_reconstruction,
    encoder_posterior,
    gaussian_kl,
    get_loss,
    vae_loss,
)
from lightning_gans.training.module import GAN, PRIORS, prior_noise
from lightning_gans.training.nets import build_networks


def double(values: list) -> Tensor:
    return torch.tensor(values, dtype=torch.float64)


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# --- the ELBO's terms ---------------------------------------------------------------------------------------


def test_bernoulli_reconstruction_of_one_channel_sums_pixels_and_averages_examples() -> None:
    probabilities = double([[[[0.2, 0.9]]], [[[0.5, 0.7]]]])  # (batch 2, 1 channel, 1 x 2 pixels)
    images = double([[[[0.0, 1.0]]], [[[0.25, 1.0]]]])
    first = -(math.log(1 - 0.2) + math.log(0.9))
    second = -(0.25 * math.log(0.5) + 0.75 * math.log(1 - 0.5)) - math.log(0.7)
    expected = (first + second) / 2
    assert math.isclose(bernoulli_reconstruction(probabilities, images).item(), expected, rel_tol=1e-12)


# (batch 2, 3 channels, 2 x 2 pixels): hard and soft targets, probabilities away from the clamp.
RGB_PROBABILITIES = [
    [[[0.1, 0.2], [0.3, 0.4]], [[0.5, 0.6], [0.7, 0.8]], [[0.9, 0.25], [0.75, 0.05]]],
    [[[0.6, 0.4], [0.2, 0.95]], [[0.35, 0.65], [0.15, 0.85]], [[0.45, 0.55], [0.02, 0.98]]],
]
RGB_IMAGES = [
    [[[0.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]], [[0.5, 1.0], [0.0, 0.2]]],
    [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.5], [1.0, 1.0]], [[0.0, 0.0], [1.0, 0.3]]],
]


def test_bernoulli_reconstruction_of_rgb_sums_height_and_width_and_averages_channels_and_examples() -> None:
    def bce(p: float, x: float) -> float:
        return -(x * math.log(p) + (1 - x) * math.log(1 - p))

    # The reference's rule by hand: for each (example, channel) the BCE summed over its 2 x 2 pixels, then the
    # mean of those 2 x 3 sums. That is a third of the old per-image sum over all 12 values of an example.
    sums = [
        sum(bce(p, x) for p_row, x_row in zip(ps, xs, strict=True) for p, x in zip(p_row, x_row, strict=True))
        for p_example, x_example in zip(RGB_PROBABILITIES, RGB_IMAGES, strict=True)
        for ps, xs in zip(p_example, x_example, strict=True)
    ]
    expected = sum(sums) / (2 * 3)
    probabilities, images = double(RGB_PROBABILITIES), double(RGB_IMAGES)
    loss = bernoulli_reconstruction(probabilities, images).item()
    assert math.isclose(loss, expected, rel_tol=1e-12)
    flat = bernoulli_reconstruction(probabilities.reshape(2, -1), images.reshape(2, -1)).item()
    assert math.isclose(flat, sum(sums) / 2, rel_tol=1e-12)  # flat rows keep the sum over all their values
    for c in range(3):  # one channel alone: its pixel sums, averaged over the 2 examples
        one_channel = bernoulli_reconstruction(probabilities[:, c : c + 1], images[:, c : c + 1]).item()
        assert math.isclose(one_channel, (sums[c] + sums[3 + c]) / 2, rel_tol=1e-12)


def test_bernoulli_reconstruction_stays_finite_for_saturated_probabilities() -> None:
    # A sigmoid in float32 returns exactly 0 and 1; the clamp turns each wrong pixel into -log(eps), not inf.
    probabilities = torch.tensor([[0.0, 1.0]])
    images = torch.tensor([[1.0, 0.0]])
    loss = bernoulli_reconstruction(probabilities, images)
    assert torch.isfinite(loss)
    # docs/protocol.md: means clamped to [1e-6, 1 - 1e-6], so each wrong pixel costs -log(1e-6).
    assert loss.item() == pytest.approx(-2 * math.log(1e-6), rel=1e-2)


def test_bernoulli_reconstruction_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"input's shape \(2, 3\)"):
        bernoulli_reconstruction(torch.full((2, 4), 0.5), torch.zeros(2, 3))


MEAN = [[0.5, -1.0], [0.0, 2.0]]
SIGMA = [[1.0, 0.5], [2.0, 0.1]]


def reference_kl(m: float, s: float) -> float:
    """One latent dimension's KL as the reference writes it, with 1e-8 inside the log."""
    return 0.5 * (m * m + s * s - math.log(1e-8 + s * s) - 1)


def test_gaussian_kl_matches_the_references_closed_form_by_hand() -> None:
    assert KL_VARIANCE_EPSILON == 1e-8
    per_example = [
        sum(reference_kl(m, s) for m, s in zip(ms, ss, strict=True)) for ms, ss in zip(MEAN, SIGMA, strict=True)
    ]
    expected = sum(per_example) / 2
    assert math.isclose(gaussian_kl(double(MEAN), double(SIGMA)).item(), expected, rel_tol=1e-12)


def test_gaussian_kl_saturates_for_a_tiny_sigma_where_the_exact_kl_does_not() -> None:
    sigma = 1e-6  # the smallest sigma the encoder can return: 1e-6 + softplus(raw)
    kl = gaussian_kl(double([[0.3]]), double([[sigma]])).item()
    assert math.isclose(kl, reference_kl(0.3, sigma), rel_tol=1e-12)
    # Exact: 0.5 (0.09 + 1e-12 - 1) - log(1e-6) = -0.455 + 13.8155 = 13.36; the 1e-8 caps -log(sigma^2) near
    # -log(1e-8) = 18.42, giving 0.5 (0.09 - 1 + 18.42) = 8.755.
    exact = 0.5 * (0.09 + sigma * sigma - 1) - math.log(sigma)
    assert kl == pytest.approx(8.755, abs=1e-3) and exact == pytest.approx(13.36, abs=1e-2)


def test_gaussian_kl_is_torch_distributions_kl_less_the_epsilons_share() -> None:
    mean, sigma = double(MEAN), double(SIGMA)
    exact = kl_divergence(Normal(mean, sigma), Normal(torch.zeros_like(mean), torch.ones_like(sigma)))
    # log(1e-8 + s^2) = log(s^2) + log1p(1e-8 / s^2), so the reference's term is the exact one less half of that.
    shortfall = 0.5 * torch.log1p(1e-8 / sigma.pow(2))
    assert_close(gaussian_kl(mean, sigma), (exact - shortfall).sum(dim=1).mean())
    # The prior costs nothing up to that share, -0.5 log1p(1e-8) per dimension.
    assert gaussian_kl(torch.zeros(3, 4), torch.ones(3, 4)).item() == pytest.approx(0.0, abs=1e-7)


def test_encoder_posterior_splits_mean_and_softplus_sigma() -> None:
    output = double([[0.3, -0.7, 0.0, 2.0], [1.5, 0.1, -3.0, -1000.0]])  # z_dim 2: [mean | raw sigma]
    mean, sigma = encoder_posterior(output)
    assert_close(mean, double([[0.3, -0.7], [1.5, 0.1]]))
    expected = [[1e-6 + softplus(v) for v in row] for row in ([0.0, 2.0], [-3.0, -1000.0])]
    assert_close(sigma, double(expected), rtol=1e-12, atol=0)
    assert sigma[1, 1].item() == 1e-6  # the floor (the reference's) keeps log sigma finite


def tiny_vae(z_dim: int = 3, pixels: int = 4) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    encoder = nn.Linear(pixels, 2 * z_dim).double()
    decoder = nn.Sequential(nn.Linear(z_dim, pixels), nn.Sigmoid()).double()
    return encoder, decoder


IMAGES = double([[0.0, 0.3, 1.0, 0.8], [0.5, 0.5, 0.1, 0.0]])


def elbo_terms_by_hand(encoder: nn.Module, decoder: nn.Module, images: Tensor, noise: torch.Generator) -> Tensor:
    """(reconstruction, KL) of one-channel or flat images, written out: the encoder's output split into mean and
    1e-6 + softplus(raw), z = mean + sigma * eps with eps ~ N(0, I) drawn from `noise`, each example's Bernoulli
    terms summed over its values, the reference's KL with log(1e-8 + sigma^2), both averaged over the batch."""
    output = encoder(images)
    z_dim = output.shape[1] // 2
    mean, sigma = output[:, :z_dim], 1e-6 + torch.log1p(torch.exp(output[:, z_dim:]))
    eps = torch.randn(mean.shape, generator=noise, dtype=mean.dtype)
    p, x = decoder(mean + sigma * eps).reshape(len(images), -1), images.reshape(len(images), -1)
    reconstruction = -(x * torch.log(p) + (1 - x) * torch.log1p(-p)).sum(dim=1).mean()
    kl = 0.5 * (mean.pow(2) + sigma.pow(2) - torch.log(1e-8 + sigma.pow(2)) - 1).sum(dim=1).mean()
    return torch.stack((reconstruction, kl))


def test_vae_loss_is_reconstruction_of_a_reparameterised_sample_plus_kl() -> None:
    encoder, decoder = tiny_vae()
    out = vae_loss(encoder, decoder, IMAGES, torch.Generator().manual_seed(4))
    assert set(out.parts) == {"recon", "kl"}
    assert all(not part.requires_grad for part in out.parts.values())
    recon, kl = elbo_terms_by_hand(encoder, decoder, IMAGES, torch.Generator().manual_seed(4)).tolist()
    assert math.isclose(out.parts["recon"].item(), recon, rel_tol=1e-12)
    assert math.isclose(out.parts["kl"].item(), kl, rel_tol=1e-12)
    assert math.isclose(out.total.item(), recon + kl, rel_tol=1e-12)


def test_vae_loss_trains_both_networks_and_draws_only_from_the_given_generator() -> None:
    encoder, decoder = tiny_vae()
    vae_loss(encoder, decoder, IMAGES, torch.Generator().manual_seed(0)).total.backward()
    for parameter in [*encoder.parameters(), *decoder.parameters()]:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0

    def by_hand(seed: int) -> float:
        return elbo_terms_by_hand(encoder, decoder, IMAGES, torch.Generator().manual_seed(seed)).sum().item()

    for seed in (0, 1):
        for global_seed in (1, 2):
            torch.manual_seed(global_seed)
            total = vae_loss(encoder, decoder, IMAGES, torch.Generator().manual_seed(seed)).total.item()
            assert math.isclose(total, by_hand(seed), rel_tol=1e-12), (seed, global_seed)
    assert not math.isclose(by_hand(0), by_hand(1), rel_tol=1e-6)


def test_the_vae_has_no_gan_losses_to_call() -> None:
    vae = get_loss("vae")
    with pytest.raises(TypeError, match="joint_loss"):
        vae.discriminator_loss(nn.Identity(), IMAGES, IMAGES, LossHyperparameters(), torch.zeros(()), None)
    with pytest.raises(TypeError, match="joint_loss"):
        vae.generator_loss(nn.Identity(), IMAGES, LossHyperparameters())


# --- the encoder --------------------------------------------------------------------------------------------

ENCODER_CASES = [("infogan", (1, 28, 28)), ("dcgan", (3, 32, 32)), ("dcgan", (3, 64, 64)), ("mlp", (2,))]


@pytest.mark.parametrize(("backbone", "shape"), ENCODER_CASES)
def test_encoder_is_the_discriminator_trunk_with_2_z_dim_outputs(backbone: str, shape: tuple[int, ...]) -> None:
    z_dim = 8
    encoder = build_networks(backbone, shape, z_dim, True, False, encoder=True).discriminator
    critic = build_networks(backbone, shape, z_dim, True, False).discriminator
    assert encoder(torch.rand(5, *shape)).shape == (5, 2 * z_dim)
    encoder_shapes = [tuple(p.shape) for p in encoder.parameters()]
    critic_shapes = [tuple(p.shape) for p in critic.parameters()]
    # Same trunk; only the last layer (weight, bias) grows from 1 output to 2 z_dim.
    assert encoder_shapes[:-2] == critic_shapes[:-2]
    assert encoder_shapes[-1] == (2 * z_dim,) and critic_shapes[-1] == (1,)


@pytest.mark.parametrize("backbone", ["infogan", "dcgan"])
def test_encoder_batch_norm_follows_d_batch_norm(backbone: str) -> None:
    def norms(d_batch_norm: bool) -> int:
        encoder = build_networks(backbone, (3, 32, 32), 8, d_batch_norm, False, encoder=True).discriminator
        return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in encoder.modules())

    assert norms(True) > 0
    assert norms(False) == 0


def test_discriminator_cannot_be_autoencoder_and_encoder() -> None:
    with pytest.raises(ValueError, match="not both"):
        build_networks("infogan", (1, 28, 28), 8, True, True, encoder=True)


# --- priors -------------------------------------------------------------------------------------------------


def test_priors_are_the_gans_uniform_and_the_vaes_normal() -> None:
    assert PRIORS.names() == ["uniform", "normal"]
    uniform = prior_noise("uniform", 20_000, 4, torch.Generator().manual_seed(0), torch.device("cpu"))
    normal = prior_noise("normal", 20_000, 4, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert uniform.abs().max() <= 1 and uniform.std().item() == pytest.approx(1 / math.sqrt(3), rel=0.02)
    assert normal.abs().max() > 3 and normal.std().item() == pytest.approx(1.0, rel=0.02)
    assert abs(normal.mean().item()) < 0.02
    with pytest.raises(UnknownNameError, match="valid prior names: uniform, normal"):
        prior_noise("laplace", 1, 4, None, torch.device("cpu"))


def test_evaluation_noise_follows_the_prior() -> None:
    """docs/evaluation.md: seed 2019 for every run; the GANs' U[-1, 1] by default, the VAE's N(0, I) when asked."""
    uniform = torch.rand(500, 8, generator=torch.Generator().manual_seed(2019)) * 2 - 1
    for default_or_named in (evaluation_noise(500, 8), evaluation_noise(500, 8, "uniform")):
        assert_close(default_or_named, uniform, rtol=0, atol=0)
    normal = evaluation_noise(500, 8, "normal")
    assert_close(normal, torch.randn(500, 8, generator=torch.Generator().manual_seed(2019)), rtol=0, atol=0)
    assert normal.abs().max() > 1


def test_fixed_noise_and_samples_come_from_the_models_prior() -> None:
    vae, gan = GAN(loss="vae", backbone="mlp", sample_shape=(2,)), GAN(loss="ns_gan", backbone="mlp", sample_shape=(2,))
    # The sample grid's seed, 2018 (the GAN's grid draws U[-1, 1] from it: tests/test_module.py).
    assert_close(vae.fixed_noise, torch.randn(64, 64, generator=torch.Generator().manual_seed(2018)))
    assert vae.fixed_noise.abs().max() > 1
    assert gan.fixed_noise.abs().max() <= 1
    draws = vae.latent_noise(10_000, torch.Generator().manual_seed(1), torch.device("cpu"))
    assert draws.shape == (10_000, 64) and draws.std().item() == pytest.approx(1.0, rel=0.02)


# --- the training step --------------------------------------------------------------------------------------


class RepeatedBatch(IterableDataset):
    """The same [0, 1] image batch again and again, so a step can be replayed by hand."""

    def __init__(self, batch: Tensor) -> None:
        self.batch = batch

    def __iter__(self):
        while True:
            yield self.batch


def fit_one_step(model: GAN, batch: Tensor, root: Path) -> pl.Trainer:
    trainer = make_trainer(root)
    trainer.fit(model, train_dataloaders=DataLoader(RepeatedBatch(batch), batch_size=None))
    return trainer


def test_one_step_is_one_adam_step_over_both_networks(tmp_path: Path) -> None:
    pl.seed_everything(0)
    model = GAN(loss="vae", backbone="infogan", sample_shape=(1, 28, 28), steps=1, lr=1e-3, d_batch_norm=False)
    batch = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    twin = copy.deepcopy(model)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}

    trainer = fit_one_step(model, batch, tmp_path)

    assert model.d_step == 1
    assert trainer.global_step == 2  # Lightning counts one step for each of the two optimizers
    for optimizer in trainer.optimizers:
        assert {int(state["step"]) for state in optimizer.state.values()} == {1}
    for network in ("generator", "discriminator"):
        assert any(not torch.equal(before[n], t) for n, t in model.state_dict().items() if n.startswith(network))
    assert {"d/recon", "d/kl", "d_loss"} <= set(trainer.logged_metrics)
    assert "g_loss" not in trainer.logged_metrics
    assert_close(trainer.logged_metrics["d_loss"], trainer.logged_metrics["d/recon"] + trainer.logged_metrics["d/kl"])
    logged = torch.stack([trainer.logged_metrics[name] for name in ("d/recon", "d/kl")])
    before_step = copy.deepcopy(twin)
    by_hand = elbo_terms_by_hand(before_step.discriminator, before_step.generator, batch, before_step.noise_generator())
    assert_close(logged, by_hand.detach().float())

    # The same step by hand, with one Adam over the union of both networks' parameters. The gradient is vae_loss's
    # (its value is checked by hand above) because it must match to the last bit: Adam's first step moves each weight
    # by lr * sign(gradient), and the biases ahead of batch norm have an exact gradient of 0, whose rounding noise
    # decides that sign.
    out = vae_loss(twin.discriminator, twin.generator, batch, twin.noise_generator())
    parameters = [*twin.discriminator.parameters(), *twin.generator.parameters()]
    union = torch.optim.Adam(parameters, lr=1e-3, betas=(0.5, 0.999))
    out.total.backward()
    union.step()
    for name, tensor in twin.state_dict().items():
        assert_close(model.state_dict()[name], tensor, msg=name)

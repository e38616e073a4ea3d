"""The reference code's rules for one training step, replayed by hand: the generator step's z and BEGAN's k.

Each test trains one step through Lightning and repeats it by hand from the same initial networks, the same batch
and the module's own random stream, with the rule under test and with its alternative: the module must match the
first and not the second, so a test that cannot tell the rules apart fails.
"""

import copy

import lightning.pytorch as pl
import pytest
import torch
from test_module import make_trainer
from torch import Tensor, nn
from torch.utils.data import DataLoader

from lightning_gans.training.losses import LossHyperparameters, get_loss
from lightning_gans.training.module import GAN, kept_batch_norm_statistics, uniform_noise
from lightning_gans.training.nets import frozen

LR = 1e-3


def train_one_step(tmp_path, batch: Tensor, **kwargs) -> tuple[GAN, GAN]:
    """(the module after one step, a copy of it from before the step)."""
    pl.seed_everything(0)
    model = GAN(steps=1, n_disc=1, lr=LR, **kwargs)
    start = copy.deepcopy(model)
    make_trainer(tmp_path).fit(model, train_dataloaders=DataLoader([batch], batch_size=None))
    return model, start


def step_by_hand(start: GAN, real: Tensor, fresh_g_noise: bool) -> tuple[nn.Module, nn.Module, Tensor, Tensor]:
    """One paper step written out: (generator, discriminator, z of the generator step, D-step k errors)."""
    generator, discriminator = copy.deepcopy(start.generator), copy.deepcopy(start.discriminator)
    gan_loss, hp = start.gan_loss, start.loss_hp
    betas = (start.hparams.beta1, start.hparams.beta2)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=LR, betas=betas)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=LR, betas=betas)
    noise = torch.Generator().manual_seed(start._noise_seed * 1_000_003)  # the module's stream on rank 0
    z = uniform_noise(real.shape[0], start.hparams.z_dim, noise, torch.device("cpu"))
    with torch.no_grad():
        fake = generator(z)
    d_out = gan_loss.discriminator_loss(discriminator, real, fake, hp, torch.zeros(()), noise)
    d_optimizer.zero_grad()
    d_out.total.backward()
    d_optimizer.step()
    with torch.no_grad():
        gan_loss.after_discriminator_step(discriminator, hp)
    if fresh_g_noise:
        z = uniform_noise(real.shape[0], start.hparams.z_dim, noise, torch.device("cpu"))
    with frozen(discriminator):
        g_out = gan_loss.generator_loss(discriminator, generator(z), hp)
    g_optimizer.zero_grad()
    g_out.total.backward()
    g_optimizer.step()
    return generator, discriminator, z, d_out


def same_parameters(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.allclose(x, y, rtol=0, atol=1e-7) for x, y in zip(a.parameters(), b.parameters(), strict=True))


POINTS = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    ("loss", "rule", "fresh"),
    [
        ("ns_gan", "reference", False),  # the reference reuses the D step's z ...
        ("wgan_gp", "reference", True),  # ... except for WGAN-GP, which draws a new one
        ("ns_gan", "fresh", True),
        ("wgan_gp", "reused", False),
    ],
)
def test_the_generator_step_takes_the_z_its_rule_names(tmp_path, loss, rule, fresh):
    model, start = train_one_step(tmp_path, POINTS, loss=loss, backbone="mlp", sample_shape=(2,), g_step_noise=rule)
    expected, _, _, _ = step_by_hand(start, POINTS, fresh_g_noise=fresh)
    other, _, _, _ = step_by_hand(start, POINTS, fresh_g_noise=not fresh)
    assert same_parameters(model.generator, expected)
    assert not same_parameters(model.generator, other)
    assert model.hparams.g_step_noise == rule  # recorded in the run's config and checkpoint


IMAGES = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("rule", ["recomputed", "discriminator_step"])
def test_began_k_moves_by_the_errors_its_rule_names(tmp_path, rule):
    hp = dict(began_gamma=0.5, began_lambda_k=0.1)
    model, start = train_one_step(tmp_path, IMAGES, loss="began", d_batch_norm=True, began_k_errors=rule, **hp)
    generator, discriminator, z, d_out = step_by_hand(start, IMAGES, fresh_g_noise=False)
    before = {name: buffer.clone() for name, buffer in discriminator.named_buffers()}
    with torch.no_grad(), kept_batch_norm_statistics(generator, discriminator):
        after = get_loss("began").discriminator_loss(
            discriminator, IMAGES, generator(z), LossHyperparameters(**hp), torch.zeros(()), None
        )
    assert all(torch.equal(before[name], buffer) for name, buffer in discriminator.named_buffers())

    def k_from(errors) -> float:
        return 0.1 * (0.5 * float(errors.parts["recon_real"]) - float(errors.parts["recon_fake"]))

    expected, other = (after, d_out) if rule == "recomputed" else (d_out, after)
    assert float(model.began_k) == pytest.approx(k_from(expected), rel=1e-5)
    assert abs(k_from(expected) - k_from(other)) > 1e-3 * abs(k_from(expected))
    # The extra forward pass leaves batch norm's running statistics where the two updates put them.
    for (name, mine), hand in zip(model.discriminator.named_buffers(), discriminator.buffers(), strict=True):
        assert torch.allclose(mine, hand, atol=1e-7), name


def test_kept_batch_norm_statistics_restores_every_buffer():
    norm = nn.BatchNorm1d(3, momentum=0.5)
    before = {name: buffer.clone() for name, buffer in norm.named_buffers()}
    with kept_batch_norm_statistics(norm):
        norm(torch.randn(5, 3))
        assert not torch.equal(norm.running_mean, before["running_mean"])  # the forward did move them
    assert all(torch.equal(buffer, before[name]) for name, buffer in norm.named_buffers())


@pytest.mark.parametrize(("name", "value"), [("g_step_noise", "fresh-ish"), ("began_k_errors", "after")])
def test_unknown_rules_are_refused_with_the_allowed_ones(name, value):
    with pytest.raises(ValueError, match=f"{name}='{value}' is not allowed; {name} must be one of"):
        GAN(**{name: value})

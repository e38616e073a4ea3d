"""Every objective checked against arithmetic done by hand on a few fixed numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torch.testing import assert_close

from lightning_gans.registry import UnknownNameError
from lightning_gans.training.losses import (
    LOSSES,
    LossHyperparameters,
    LossOutput,
    began_convergence,
    began_discriminator_loss,
    began_k_update,
    clip_parameters_,
    dragan_perturbed,
    get_loss,
    gradient_penalty,
    per_example_uniform,
    wgan_gp_interpolates,
)

HP = LossHyperparameters()
K0 = torch.tensor(0.0, dtype=torch.float64)
REAL_LOGITS = [0.5, -1.0]
FAKE_LOGITS = [2.0, -0.3]


def sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def column(values: list[float], requires_grad: bool = False) -> Tensor:
    """A batch of one-feature examples whose feature is the logit, for `logit_critic`."""
    return torch.tensor(values, dtype=torch.float64).unsqueeze(1).requires_grad_(requires_grad)


def logit_critic(x: Tensor) -> Tensor:
    """Returns each example's only feature as its logit, so the test controls the logits exactly."""
    return x[:, 0]


def linear_critic(w: Tensor, b: float):
    return lambda x: x.reshape(x.shape[0], -1) @ w + b


def scalar(output: LossOutput) -> float:
    return output.total.item()


# --- values by hand -----------------------------------------------------------------------------------------

GAN_D_REAL = mean([-math.log(sig(r)) for r in REAL_LOGITS])
GAN_D_FAKE = mean([-math.log(1 - sig(f)) for f in FAKE_LOGITS])
UNIT_GRAD_PENALTY = (math.sqrt(1e-4 + 1.0) - 1.0) ** 2  # d x[:, 0] / d x has norm 1 for every example

EXPECTED = {
    "mm_gan": (GAN_D_REAL + GAN_D_FAKE, mean([math.log(1 - sig(f)) for f in FAKE_LOGITS])),
    "ns_gan": (GAN_D_REAL + GAN_D_FAKE, mean([-math.log(sig(f)) for f in FAKE_LOGITS])),
    "lsgan": (
        0.5 * (mean([(sig(r) - 1) ** 2 for r in REAL_LOGITS]) + mean([sig(f) ** 2 for f in FAKE_LOGITS])),
        0.5 * mean([(sig(f) - 1) ** 2 for f in FAKE_LOGITS]),
    ),
    "wgan": (-(0.5 - 1.0) / 2 + (2.0 - 0.3) / 2, -(2.0 - 0.3) / 2),
    "wgan_gp": (-(0.5 - 1.0) / 2 + (2.0 - 0.3) / 2 + 10.0 * UNIT_GRAD_PENALTY, -(2.0 - 0.3) / 2),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_logit_losses_match_hand_values(name: str) -> None:
    objective = get_loss(name)
    d_out = objective.discriminator_loss(logit_critic, column(REAL_LOGITS), column(FAKE_LOGITS), HP, K0, None)
    g_out = objective.generator_loss(logit_critic, column(FAKE_LOGITS), HP)
    expected_d, expected_g = EXPECTED[name]
    assert math.isclose(scalar(d_out), expected_d, rel_tol=1e-12)
    assert math.isclose(scalar(g_out), expected_g, rel_tol=1e-12)


def test_gan_parts_are_the_two_bce_terms() -> None:
    out = get_loss("ns_gan").discriminator_loss(logit_critic, column(REAL_LOGITS), column(FAKE_LOGITS), HP, K0, None)
    assert math.isclose(out.parts["real"].item(), GAN_D_REAL, rel_tol=1e-12)
    assert math.isclose(out.parts["fake"].item(), GAN_D_FAKE, rel_tol=1e-12)


def test_bce_is_stable_for_huge_logits() -> None:
    out = get_loss("mm_gan").discriminator_loss(logit_critic, column([-800.0]), column([800.0]), HP, K0, None)
    assert math.isclose(scalar(out), 1600.0, rel_tol=1e-12)


def test_dragan_data_terms_and_generator_are_ns_gan() -> None:
    out = get_loss("dragan").discriminator_loss(
        logit_critic, column(REAL_LOGITS), column(FAKE_LOGITS), HP, K0, torch.Generator().manual_seed(0)
    )
    assert math.isclose(out.parts["real"].item(), GAN_D_REAL, rel_tol=1e-12)
    assert math.isclose(out.parts["fake"].item(), GAN_D_FAKE, rel_tol=1e-12)
    g_out = get_loss("dragan").generator_loss(logit_critic, column(FAKE_LOGITS), HP)
    assert math.isclose(scalar(g_out), EXPECTED["ns_gan"][1], rel_tol=1e-12)


def _generator_grad(name: str) -> Tensor:
    fake = column(FAKE_LOGITS, requires_grad=True)
    get_loss(name).generator_loss(logit_critic, fake, HP).total.backward()
    return fake.grad[:, 0]


def _central_difference(name: str, index: int, h: float = 1e-6) -> float:
    def at(delta: float) -> float:
        logits = list(FAKE_LOGITS)
        logits[index] += delta
        return scalar(get_loss(name).generator_loss(logit_critic, column(logits), HP))

    return (at(h) - at(-h)) / (2 * h)


def test_mm_gan_generator_is_saturating_and_ns_gan_is_not() -> None:
    batch = len(FAKE_LOGITS)
    mm_grad, ns_grad = _generator_grad("mm_gan"), _generator_grad("ns_gan")
    assert_close(mm_grad, torch.tensor([-sig(f) / batch for f in FAKE_LOGITS], dtype=torch.float64))
    assert_close(ns_grad, torch.tensor([(sig(f) - 1) / batch for f in FAKE_LOGITS], dtype=torch.float64))
    for i in range(batch):
        assert math.isclose(mm_grad[i].item(), _central_difference("mm_gan", i), rel_tol=1e-7)
        assert math.isclose(ns_grad[i].item(), _central_difference("ns_gan", i), rel_tol=1e-7)
    assert not torch.allclose(mm_grad, ns_grad)


# --- gradient penalties -------------------------------------------------------------------------------------

W = torch.linspace(-0.5, 0.9, 8, dtype=torch.float64)
B = 0.3


def images(seed: int, batch: int = 3) -> Tensor:
    return torch.randn(batch, 2, 2, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_interpolates_lie_on_each_examples_segment() -> None:
    real, fake = images(1, batch=4), images(2, batch=4)
    x_hat = wgan_gp_interpolates(real, fake, torch.Generator().manual_seed(7))
    a = torch.rand((4, 1, 1, 1), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert_close(x_hat, real + a * (fake - real))
    assert ((a >= 0) & (a <= 1)).all()
    assert a.unique().numel() == 4
    ratio = ((x_hat - real) / (fake - real)).reshape(4, -1)
    assert_close(ratio, a.reshape(4, 1).expand_as(ratio))


def test_per_example_uniform_broadcasts_over_any_rank() -> None:
    assert per_example_uniform(torch.zeros(5, 3), None).shape == (5, 1)
    assert per_example_uniform(torch.zeros(5), None).shape == (5,)
    assert per_example_uniform(torch.zeros(5, 1, 2, 3, 4), None).shape == (5, 1, 1, 1, 1)


def test_wgan_gp_penalty_on_linear_critic() -> None:
    real, fake = images(1), images(2)
    out = get_loss("wgan_gp").discriminator_loss(
        linear_critic(W, B), real, fake, HP, K0, torch.Generator().manual_seed(3)
    )
    expected_penalty = (math.sqrt(1e-4 + (W @ W).item()) - 1) ** 2
    data = -(real.reshape(3, -1) @ W + B).mean() + (fake.reshape(3, -1) @ W + B).mean()
    assert math.isclose(out.parts["penalty"].item(), expected_penalty, rel_tol=1e-12)
    assert math.isclose(scalar(out), data.item() + 10.0 * expected_penalty, rel_tol=1e-12)


def _population_std(x: Tensor) -> float:
    values = x.flatten().tolist()
    centre = mean(values)
    return math.sqrt(mean([(v - centre) ** 2 for v in values]))


def test_dragan_perturbation_is_one_sided_and_scaled_by_batch_population_std() -> None:
    real = images(4, batch=5)
    delta = dragan_perturbed(real, torch.Generator().manual_seed(11)) - real
    std = _population_std(real)
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    assert_close(delta, 0.5 * std * noise)
    assert (delta >= 0).all()
    assert (delta <= 0.5 * std).all()
    assert not math.isclose(std, real.std(correction=1).item(), rel_tol=1e-6)


def dragan_by_hand(real: Tensor, fake: Tensor, seed: int) -> tuple[float, float]:
    """(penalty, total) of DRAGAN on the linear critic, its perturbation and interpolation replayed from `seed`."""
    draws = torch.Generator().manual_seed(seed)
    noise = torch.rand(real.shape, generator=draws, dtype=torch.float64)
    a = torch.rand((3, 1, 1, 1), generator=draws, dtype=torch.float64)
    x_p = real + 0.5 * _population_std(real) * noise
    x_hat = real + a * (x_p - real)
    penalty = 0.0
    for f in (x_hat.reshape(3, -1) @ W + B).tolist():
        s = sig(f)
        grad_norm_squared = (s * (1 - s)) ** 2 * (W @ W).item()
        penalty += (math.sqrt(1e-4 + grad_norm_squared) - 1) ** 2 / 3
    real_logits, fake_logits = (real.reshape(3, -1) @ W + B).tolist(), (fake.reshape(3, -1) @ W + B).tolist()
    data = mean([-math.log(sig(r)) for r in real_logits]) + mean([-math.log(1 - sig(f)) for f in fake_logits])
    return penalty, data + 10.0 * penalty


def test_dragan_penalty_on_linear_critic() -> None:
    real, fake = images(1), images(2)
    out = get_loss("dragan").discriminator_loss(
        linear_critic(W, B), real, fake, HP, K0, torch.Generator().manual_seed(5)
    )
    expected_penalty, expected_total = dragan_by_hand(real, fake, 5)
    assert math.isclose(out.parts["penalty"].item(), expected_penalty, rel_tol=1e-12)
    assert math.isclose(scalar(out), expected_total, rel_tol=1e-12)


def test_penalty_gradient_reaches_critic_weights() -> None:
    w = W.clone().requires_grad_(True)
    gradient_penalty(linear_critic(w, B), images(1)).backward()
    norm = math.sqrt(1e-4 + (W @ W).item())
    assert_close(w.grad, 2 * (norm - 1) / norm * W)


def test_penalty_is_computable_under_no_grad() -> None:
    with torch.no_grad():
        penalty = gradient_penalty(linear_critic(W, B), images(1))
    assert math.isclose(penalty.item(), (math.sqrt(1e-4 + (W @ W).item()) - 1) ** 2, rel_tol=1e-12)


def conv_critic() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 1), nn.Softplus(), nn.Flatten(), nn.Linear(12, 1), nn.Flatten(0))
    return net.double()


@pytest.mark.parametrize("name", ["wgan_gp", "dragan"])
def test_penalised_discriminator_loss_backpropagates_to_every_parameter(name: str) -> None:
    critic = conv_critic()
    out = get_loss(name).discriminator_loss(critic, images(1), images(2), HP, K0, torch.Generator().manual_seed(0))
    out.total.backward()
    for name, parameter in critic.named_parameters():
        assert parameter.grad is not None
        assert torch.isfinite(parameter.grad).all()
        # The last bias is exempt: it cancels in WGAN's data terms and never affects an input gradient.
        if name != "3.bias":
            assert parameter.grad.abs().sum() > 0, name


def quadratic_critic(x: Tensor) -> Tensor:
    """f(x) = ||x||^2 / 2, whose input gradient is x itself: unlike a linear critic's, the WGAN-GP penalty then
    depends on where each interpolate lies."""
    return x.reshape(x.shape[0], -1).pow(2).sum(dim=1) / 2


def wgan_gp_by_hand(real: Tensor, fake: Tensor, seed: int) -> float:
    """WGAN-GP's total on the quadratic critic, its interpolation replayed from `seed`."""
    a = torch.rand((3, 1, 1, 1), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x_hat = (real + a * (fake - real)).reshape(3, -1)
    penalty = mean([(math.sqrt(1e-4 + (row @ row).item()) - 1) ** 2 for row in x_hat])
    data = -mean(quadratic_critic(real).tolist()) + mean(quadratic_critic(fake).tolist())
    return data + 10.0 * penalty


@pytest.mark.parametrize("name", ["wgan_gp", "dragan"])
def test_penalised_losses_draw_only_from_the_given_generator(name: str) -> None:
    """Whatever the global seed, the loss is the hand value of the draws from the generator it is given."""
    real, fake = images(1), images(2)
    critic = quadratic_critic if name == "wgan_gp" else linear_critic(W, B)

    def by_hand(seed: int) -> float:
        return wgan_gp_by_hand(real, fake, seed) if name == "wgan_gp" else dragan_by_hand(real, fake, seed)[1]

    loss = get_loss(name).discriminator_loss
    for seed in (0, 1):
        for global_seed in (1, 2):
            torch.manual_seed(global_seed)
            out = loss(critic, real, fake, HP, K0, torch.Generator().manual_seed(seed))
            assert math.isclose(scalar(out), by_hand(seed), rel_tol=1e-12), (seed, global_seed)
    assert not math.isclose(by_hand(0), by_hand(1), rel_tol=1e-6)


# --- WGAN clipping ------------------------------------------------------------------------------------------


def test_wgan_clips_every_parameter_including_batch_norm_and_leaves_buffers() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 1))
    with torch.no_grad():
        net[0].weight.fill_(5.0)
        net[0].bias.fill_(-5.0)
        net[1].weight.fill_(3.0)
        net[1].bias.fill_(-4.0)
        net[1].running_mean.fill_(2.0)
        net[1].running_var.fill_(9.0)
        net[3].weight.fill_(0.004)
        net[3].bias.fill_(-0.015)
    buffers = {name: buffer.clone() for name, buffer in net.named_buffers()}
    hp = LossHyperparameters(clip=0.01)
    with torch.no_grad():
        get_loss("wgan").after_discriminator_step(net, hp)
    assert (net[0].weight == 0.01).all() and (net[0].bias == -0.01).all()
    assert (net[1].weight == 0.01).all() and (net[1].bias == -0.01).all()
    assert (net[3].weight == 0.004).all() and (net[3].bias == -0.01).all()
    for name, buffer in net.named_buffers():
        assert torch.equal(buffer, buffers[name])


def test_clip_parameters_works_outside_no_grad() -> None:
    layer = nn.Linear(3, 2)
    clip_parameters_(layer, 0.001)
    assert all(p.abs().max() <= 0.001 for p in layer.parameters())


# --- BEGAN --------------------------------------------------------------------------------------------------

BEGAN_REAL = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
BEGAN_FAKE = torch.tensor([[0.2, -0.4], [1.0, 0.0]], dtype=torch.float64)
L_REAL = (abs(0.5 - 1.0) + abs(0.5 + 2.0) + abs(0.5 - 0.5) + abs(0.5 - 3.0)) / 4
L_FAKE = (abs(0.5 - 0.2) + abs(0.5 + 0.4) + abs(0.5 - 1.0) + abs(0.5 - 0.0)) / 4


def constant_autoencoder(x: Tensor) -> Tensor:
    return torch.full_like(x, 0.5)


def test_began_losses_and_convergence_match_hand_values() -> None:
    began = get_loss("began")
    k = torch.tensor(0.3, dtype=torch.float64)
    out = began.discriminator_loss(constant_autoencoder, BEGAN_REAL, BEGAN_FAKE, HP, k, None)
    assert math.isclose(scalar(out), L_REAL - 0.3 * L_FAKE, rel_tol=1e-12)
    expected_parts = {
        "real": L_REAL,
        "fake": -0.3 * L_FAKE,
        "recon_real": L_REAL,
        "recon_fake": L_FAKE,
        "convergence": L_REAL + abs(0.75 * L_REAL - L_FAKE),
        "k": 0.3,
    }
    assert set(out.parts) == set(expected_parts)
    for name, value in expected_parts.items():
        assert math.isclose(out.parts[name].item(), value, rel_tol=1e-12), name
    g_out = began.generator_loss(constant_autoencoder, BEGAN_FAKE, HP)
    assert math.isclose(scalar(g_out), L_FAKE, rel_tol=1e-12)
    new_k = began.next_k(k, out, HP)
    assert math.isclose(new_k.item(), 0.3 + 0.001 * (0.75 * L_REAL - L_FAKE), rel_tol=1e-12)


def test_began_convergence_function() -> None:
    m = began_convergence(torch.tensor(2.0), torch.tensor(1.0), 0.75)
    assert math.isclose(m.item(), 2.0 + 0.5)
    m = began_convergence(torch.tensor(1.0), torch.tensor(2.0), 0.5)
    assert math.isclose(m.item(), 1.0 + 1.5)


@pytest.mark.parametrize(
    ("l_real", "l_fake", "unclipped", "clipped"),
    [
        (1.0, 2.0, [-0.625, -1.25, -1.875], [0.0, 0.0, 0.0]),  # gamma*1 - 2 = -1.25, halved each step
        (4.0, 0.5, [1.25, 2.5, 3.75], [1.0, 1.0, 1.0]),  # gamma*4 - 0.5 = 2.5, halved each step
    ],
)
def test_began_k_follows_the_reference_update(
    l_real: float, l_fake: float, unclipped: list[float], clipped: list[float]
) -> None:
    for clip_k, expected in ((False, unclipped), (True, clipped)):
        hp = LossHyperparameters(began_lambda_k=0.5, began_clip_k=clip_k)
        k = torch.tensor(0.0, dtype=torch.float64)
        trajectory = []
        for _ in expected:
            d_out = began_discriminator_loss(
                torch.tensor(l_real, dtype=torch.float64), torch.tensor(l_fake, dtype=torch.float64), k, 0.75
            )
            k = get_loss("began").next_k(k, d_out, hp)
            trajectory.append(k.item())
        assert trajectory == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_began_clipped_k_can_come_back_down() -> None:
    k = began_k_update(torch.tensor(0.9), torch.tensor(4.0), torch.tensor(0.5), 0.75, 0.5, clip=True)
    assert k.item() == 1.0
    k = began_k_update(k, torch.tensor(1.0), torch.tensor(1.35), 0.75, 0.5, clip=True)
    assert math.isclose(k.item(), 1.0 - 0.3, rel_tol=1e-6)


def test_began_k_is_not_differentiated_through() -> None:
    k = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    fake = BEGAN_FAKE.clone().requires_grad_(True)
    out = get_loss("began").discriminator_loss(constant_autoencoder, BEGAN_REAL, fake, HP, k, None)
    out.total.backward()
    assert k.grad is None
    assert fake.grad is not None


def test_began_rejects_a_critic_that_is_not_an_autoencoder() -> None:
    with pytest.raises(ValueError, match="autoencoder"):
        get_loss("began").generator_loss(logit_critic, BEGAN_FAKE, HP)


# --- every objective ----------------------------------------------------------------------------------------


def test_registry_holds_exactly_the_seven_study_objectives_and_the_vae() -> None:
    names = ["mm_gan", "ns_gan", "lsgan", "wgan", "wgan_gp", "dragan", "began", "vae"]
    assert LOSSES.names() == names
    assert [get_loss(n).name for n in names] == names
    assert [n for n in names if get_loss(n).autoencoder_discriminator] == ["began"]
    assert [n for n in names if get_loss(n).joint_loss is not None] == ["vae"]
    assert {n: get_loss(n).prior for n in names} == {n: "normal" if n == "vae" else "uniform" for n in names}
    with pytest.raises(UnknownNameError) as error:
        get_loss("nsgan")
    assert "'nsgan'" in str(error.value)
    assert all(n in str(error.value) for n in names)


# GAN objectives only: the VAE has no discriminator or generator loss (tests/test_vae.py checks its parts).
@pytest.mark.parametrize("name", [n for n in LOSSES.names() if get_loss(n).joint_loss is None])
def test_parts_add_up_to_total(name: str) -> None:
    objective = get_loss(name)
    critic = nn.Conv2d(2, 2, 1).double() if objective.autoencoder_discriminator else conv_critic()
    k = torch.tensor(0.2, dtype=torch.float64)
    out = objective.discriminator_loss(critic, images(1), images(2), HP, k, None)
    assert out.total.ndim == 0
    penalty = out.parts.get("penalty", torch.tensor(0.0, dtype=torch.float64))
    assert_close(out.total.detach(), out.parts["real"] + out.parts["fake"] + HP.gp_lambda * penalty)
    assert ("penalty" in out.parts) == (name in ("wgan_gp", "dragan"))
    assert all(not part.requires_grad for part in out.parts.values())
    g_out = objective.generator_loss(critic, images(2), HP)
    assert g_out.total.ndim == 0 and g_out.parts
    # Only WGAN changes the critic after its step, and only BEGAN carries k from step to step.
    before = [parameter.clone() for parameter in critic.parameters()]
    objective.after_discriminator_step(critic, HP)
    unchanged = all(torch.equal(a, b) for a, b in zip(before, critic.parameters(), strict=True))
    assert unchanged or name == "wgan"
    assert (objective.next_k is not None) == (name == "began")
    assert objective.fresh_generator_noise == (name == "wgan_gp")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("clip", 0.0),
        ("clip", -0.01),
        ("clip", math.nan),
        ("gp_lambda", -1.0),
        ("began_gamma", 1.5),
        ("began_gamma", -0.25),
        ("began_lambda_k", -0.001),
    ],
)
def test_hyperparameter_validation_names_the_bad_value(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field) as error:
        LossHyperparameters(**{field: value})
    assert repr(value) in str(error.value)


def test_hyperparameter_boundaries_are_allowed() -> None:
    LossHyperparameters(gp_lambda=0.0, began_gamma=0.0, began_lambda_k=0.0)
    LossHyperparameters(began_gamma=1.0)

"""The seven GAN losses compared in "Are GANs Created Equal?" (Lucic et al. 2018), and its VAE baseline.

A loss is a discriminator loss, a generator loss and a hook run after every discriminator step: the
hook exists because two losses act between steps (WGAN clips the critic's weights, BEGAN moves its
equilibrium term k). The math is kept in small functions of tensors so that each formula can be checked
against hand arithmetic; the `GANLoss` records only wire those functions to a critic.

Where the paper's reference code and the original papers disagree, this module follows the reference code,
because the study's numbers come from it: mm_gan's generator uses the saturating minimax loss, LSGAN squares
the sigmoid output rather than the logit, DRAGAN penalises the gradient of the sigmoid output, and BEGAN's k
is not clipped unless asked.

The VAE is no GAN: one loss (the negative ELBO) trains the encoder, which takes the discriminator's place, and
the generator, which is its decoder, together. Its record therefore carries a `joint_loss` instead of usable
discriminator and generator losses, and a standard normal latent prior instead of the GANs' U[-1, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_gans.registry import Registry
from lightning_gans.training.members import Members, RandomSource, random_like, whole_batch

Critic = Callable[[Tensor], Tensor]

GRADIENT_NORM_EPSILON = 1e-4
"""Added under the square root of every penalised gradient norm, as in the reference code, so the norm
stays differentiable where the gradient vanishes."""


def _require(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class LossHyperparameters:
    """The knobs of all losses in one record, so that a sweep can vary them without knowing the loss.

    A pack of K networks (training/packing.py) holds each knob as a (K,) tensor instead: every use below is
    elementwise, so one record serves both.
    """

    clip: float = 0.01
    gp_lambda: float = 10.0
    began_gamma: float = 0.75
    began_lambda_k: float = 0.001
    began_clip_k: bool = False

    def __post_init__(self) -> None:
        # Written as `not (valid)` through _require so that NaN, which fails every comparison, is refused too.
        _require(self.clip > 0, "clip", self.clip, "> 0")
        _require(self.gp_lambda >= 0, "gp_lambda", self.gp_lambda, ">= 0")
        _require(0 <= self.began_gamma <= 1, "began_gamma", self.began_gamma, "in [0, 1]")
        _require(self.began_lambda_k >= 0, "began_lambda_k", self.began_lambda_k, ">= 0")


@dataclass(frozen=True)
class LossOutput:
    """A loss to minimise plus the terms it was built from, for logging.

    For every loss `total == parts["real"] + parts["fake"]`, plus `gp_lambda * parts["penalty"]` for the
    penalised ones, so logged curves add up to the optimised loss.
    """

    total: Tensor
    parts: dict[str, Tensor]


def _loss_output(total: Tensor, **parts: Tensor) -> LossOutput:
    # Parts are detached: they are only logged, and holding their graphs would keep activations alive.
    return LossOutput(total=total, parts={name: part.detach() for name, part in parts.items()})


# --- logit losses -------------------------------------------------------------------------------------------


def gan_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> LossOutput:
    """BCE against 1 for real and 0 for fake, in softplus form so large logits do not overflow."""
    real = F.softplus(-real_logits).mean()
    fake = F.softplus(fake_logits).mean()
    return _loss_output(real + fake, real=real, fake=fake)


def mm_generator_loss(fake_logits: Tensor) -> LossOutput:
    """The saturating minimax loss mean log(1 - sigmoid(f)), which is what the study calls MM GAN.

    Its gradient vanishes when the discriminator confidently rejects fakes; that weakness is what the study
    measures, so it must not be swapped for the non-saturating form.
    """
    loss = -F.softplus(fake_logits).mean()
    return _loss_output(loss, fake=loss)


def ns_generator_loss(fake_logits: Tensor) -> LossOutput:
    """BCE of the fakes against 1: the non-saturating heuristic of Goodfellow et al."""
    loss = F.softplus(-fake_logits).mean()
    return _loss_output(loss, fake=loss)


def lsgan_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> LossOutput:
    """Least squares on the sigmoid output, as in the reference code (not on the raw logit).

    (sigmoid(f) - 1)^2 is written as sigmoid(-f)^2, the same value without cancellation near 1.
    """
    real = 0.5 * torch.sigmoid(-real_logits).pow(2).mean()
    fake = 0.5 * torch.sigmoid(fake_logits).pow(2).mean()
    return _loss_output(real + fake, real=real, fake=fake)


def lsgan_generator_loss(fake_logits: Tensor) -> LossOutput:
    loss = 0.5 * torch.sigmoid(-fake_logits).pow(2).mean()
    return _loss_output(loss, fake=loss)


def wgan_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> LossOutput:
    """Negated Wasserstein estimate, so that minimising it maximises the critic's real/fake gap."""
    real = -real_logits.mean()
    fake = fake_logits.mean()
    return _loss_output(real + fake, real=real, fake=fake)


def wgan_generator_loss(fake_logits: Tensor) -> LossOutput:
    loss = -fake_logits.mean()
    return _loss_output(loss, fake=loss)


@torch.no_grad()
def clip_parameters_(module: nn.Module, c: float | Tensor) -> None:
    """Clamp every parameter, batch-norm affine ones included, into [-c, c] in place.

    WGAN's Lipschitz bound only holds if no parameter escapes the box, so nothing is exempt; buffers such as
    running statistics are not weights and are left alone. A pack's `c` is a (K,) tensor, one bound per member,
    and its parameters hold the members along their first dimension.
    """
    for parameter in module.parameters():
        bound = c.reshape(-1, *(1,) * (parameter.ndim - 1)) if isinstance(c, Tensor) else c
        parameter.clamp_(-bound, bound)


# --- gradient penalties -------------------------------------------------------------------------------------


def per_example_uniform(like: Tensor, generator: RandomSource) -> Tensor:
    """One U[0, 1) draw per example, shaped to broadcast against `like` whatever its rank."""
    return random_like(like, generator, per_example=True)


def interpolate(start: Tensor, end: Tensor, generator: RandomSource) -> Tensor:
    """A random point on each example's segment from `start` to `end`."""
    return start + per_example_uniform(start, generator) * (end - start)


def wgan_gp_interpolates(real: Tensor, fake: Tensor, generator: RandomSource) -> Tensor:
    """WGAN-GP enforces the unit gradient norm between the two distributions, so it samples between pairs."""
    return interpolate(real, fake, generator)


def perturbed_by(real: Tensor, noise: Tensor) -> Tensor:
    """x + 0.5 * std(x) * noise, with std one population scalar over the whole real batch."""
    return real + 0.5 * real.std(correction=0) * noise


def dragan_perturbed(real: Tensor, generator: RandomSource, members: Members = whole_batch) -> Tensor:
    """x + 0.5 * std(x) * U[0, 1), with std one population scalar over the whole real batch.

    The noise is one-sided (non-negative) and the scale is a single batch statistic because that is what the
    reference code does, not what the DRAGAN paper describes.
    """
    return members(perturbed_by)(real, random_like(real, generator))


def dragan_interpolates(real: Tensor, generator: RandomSource, members: Members = whole_batch) -> Tensor:
    """DRAGAN penalises only near the real data, so it samples between each example and a perturbed copy.

    The perturbation noise is drawn before the interpolation coefficients, matching the reference order.
    """
    return interpolate(real, dragan_perturbed(real, generator, members), generator)


def penalty_of_gradients(grad: Tensor) -> Tensor:
    """mean_i (||g_i|| - 1)^2 of per-example input gradients, the norm smoothed by GRADIENT_NORM_EPSILON."""
    norms = torch.sqrt(GRADIENT_NORM_EPSILON + grad.pow(2).reshape(grad.shape[0], -1).sum(dim=1))
    return (norms - 1).pow(2).mean()


def gradient_penalty(critic_output_fn: Critic, x_hat: Tensor, members: Members = whole_batch) -> Tensor:
    """mean_i (||d out / d x_hat_i|| - 1)^2, unweighted.

    Summing the outputs before differentiating gives every example's own gradient because examples do not
    interact (batch norm aside, which the reference code also ignores); nor do a pack's members, so one
    differentiation serves them all. The graph is kept so the penalty trains the critic, and grad mode is forced
    on so the penalty can also be evaluated under no_grad.
    """
    with torch.enable_grad():
        x_hat = x_hat.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic_output_fn(x_hat).sum(), x_hat, create_graph=True)
        return members(penalty_of_gradients)(grad)


def _with_penalty(data: LossOutput, penalty: Tensor, weight: float) -> LossOutput:
    return LossOutput(total=data.total + weight * penalty, parts={**data.parts, "penalty": penalty.detach()})


# --- BEGAN --------------------------------------------------------------------------------------------------


def began_reconstruction_error(x: Tensor, reconstruction: Tensor) -> Tensor:
    """L(x): mean absolute error over all elements, one scalar per batch as in the reference code."""
    if reconstruction.shape != x.shape:
        raise ValueError(
            f"BEGAN's discriminator must be an autoencoder returning its input's shape {tuple(x.shape)}, "
            f"got {tuple(reconstruction.shape)}"
        )
    return (reconstruction - x).abs().mean()


def began_convergence(l_real: Tensor, l_fake: Tensor, gamma: float) -> Tensor:
    """M = L(x) + |gamma L(x) - L(G(z))|: low when D reconstructs well and the two losses are in balance."""
    return l_real + (gamma * l_real - l_fake).abs()


def began_discriminator_loss(l_real: Tensor, l_fake: Tensor, k: Tensor, gamma: float) -> LossOutput:
    """L(x) - k L(G(z)), with k treated as a constant: it is state updated outside the gradient step."""
    k = k.detach()
    fake = -k * l_fake
    return _loss_output(
        l_real + fake,
        real=l_real,
        fake=fake,
        recon_real=l_real,
        recon_fake=l_fake,
        convergence=began_convergence(l_real, l_fake, gamma),
        k=k,
    )


def began_k_update(
    k: Tensor, l_real: Tensor, l_fake: Tensor, gamma: float | Tensor, lambda_k: float | Tensor, clip: bool | Tensor
) -> Tensor:
    """Proportional control of k towards the equilibrium L(G(z)) = gamma L(x).

    The reference code leaves k unbounded; clipping to [0, 1] as the BEGAN paper does is opt-in (per member in a
    pack, where `clip` is a boolean tensor).
    """
    new_k = (k + lambda_k * (gamma * l_real - l_fake)).detach()
    if isinstance(clip, Tensor):
        return torch.where(clip, new_k.clamp(0.0, 1.0), new_k)
    return new_k.clamp(0.0, 1.0) if clip else new_k


# --- VAE ----------------------------------------------------------------------------------------------------

BERNOULLI_EPSILON = 1e-6
"""Bernoulli means are clamped to [eps, 1 - eps] before their logs: a saturated sigmoid returns exactly 0 or 1
and the log would be -inf. 1e-6 still sits below 1 in float32, whose spacing there is about 6e-8, so the upper
clamp is not rounded away.

A deliberate, known difference from the reference, which clips to [1e-8, 1 - 1e-8]: in float32 1 - 1e-8 rounds to
1.0, so its upper clip does nothing and log(1 - p) is -inf wherever the sigmoid saturates at 1 (NaN where that
pixel is exactly 1, as 0 * -inf). Matching it would copy that failure, not the study's numbers."""

KL_VARIANCE_EPSILON = 1e-8
"""Added to sigma^2 inside the KL term's log, as in the reference. With the posterior's sigma floor the log is
finite anyway, so its only effect is to bound -log(sigma^2) by -log(1e-8): for sigma below about 1e-4 the KL
stops rewarding a shrinking sigma and sits under the exact value. Kept so that the loss is the reference's."""

POSTERIOR_SIGMA_FLOOR = 1e-6
"""Added to the softplus that gives the posterior's sigma (as in the reference), so log sigma in the KL term
stays finite however negative the encoder's raw output gets."""


def encoder_posterior(encoder_output: Tensor) -> tuple[Tensor, Tensor]:
    """Splits the encoder's FC(2 z_dim) output into the posterior's mean and its sigma = 1e-6 + softplus(raw).

    Softplus keeps sigma positive without exp's overflow.
    """
    mean, raw_sigma = encoder_output.chunk(2, dim=1)
    return mean, POSTERIOR_SIGMA_FLOOR + F.softplus(raw_sigma)


def bernoulli_reconstruction(probabilities: Tensor, images: Tensor) -> Tensor:
    """-log p(x | z) under independent Bernoulli pixels, scaled as the reference scales it.

    For (B, C, H, W) images the BCE is summed over height and width and averaged over channels and the batch,
    as the reference does (NHWC: sum over axes 1, 2, then mean): on RGB data that is a third of the sum over
    all pixels, which sets the reconstruction's weight against the KL term. One-channel images get the plain
    sum over pixels. Any other shape, such as the 2-D mixtures' (B, 2) points, keeps this project's earlier
    rule, the sum over all features per example and the mean over the batch; the reference has no such data,
    and points outside [0, 1] have no Bernoulli likelihood anyway. Pixel values in [0, 1] act as soft
    targets, so grey images need no binarising.
    """
    if probabilities.shape != images.shape:
        raise ValueError(
            f"the VAE's decoder must return its input's shape {tuple(images.shape)}, got {tuple(probabilities.shape)}"
        )
    p = probabilities.clamp(BERNOULLI_EPSILON, 1 - BERNOULLI_EPSILON)
    log_likelihood = images * torch.log(p) + (1 - images) * torch.log1p(-p)
    if log_likelihood.dim() == 4:
        return -log_likelihood.sum(dim=(2, 3)).mean()
    return -log_likelihood.reshape(images.shape[0], -1).sum(dim=1).mean()


def gaussian_kl(mean: Tensor, sigma: Tensor) -> Tensor:
    """KL(N(mean, sigma^2) || N(0, I)) in closed form, summed over latent dimensions, mean over the batch.

    As in the reference, log sigma^2 is taken as log(KL_VARIANCE_EPSILON + sigma^2); see that constant.
    """
    variance = sigma.pow(2)
    per_dimension = 0.5 * (mean.pow(2) + variance - torch.log(KL_VARIANCE_EPSILON + variance) - 1)
    return per_dimension.sum(dim=1).mean()


def vae_loss(
    encoder: nn.Module, generator: nn.Module, real: Tensor, noise: RandomSource, members: Members = whole_batch
) -> LossOutput:
    """The negative ELBO of the real batch: reconstruction of x from one posterior sample, plus the KL term.

    The sample is reparameterised (z = mean + sigma * eps, eps ~ N(0, I) from `noise`) so that the gradient
    reaches the encoder through z and the run stays reproducible from the module's random source.
    """
    mean, sigma = members(encoder_posterior)(encoder(real))
    eps = random_like(mean, noise, normal=True)
    recon = members(bernoulli_reconstruction)(generator(mean + sigma * eps), real)
    kl = members(gaussian_kl)(mean, sigma)
    return _loss_output(recon + kl, recon=recon, kl=kl)


# --- losses ---------------------------------------------------------------------------------------------

DiscriminatorLoss = Callable[..., LossOutput]
"""(critic, real, fake, hp, k, generator, members=whole_batch) -> the discriminator's loss."""
GeneratorLoss = Callable[..., LossOutput]
"""(critic, fake, hp, members=whole_batch) -> the generator's loss."""
AfterDiscriminatorStep = Callable[[nn.Module, LossHyperparameters], None]
NextK = Callable[[Tensor, LossOutput, LossHyperparameters], Tensor]
JointLoss = Callable[..., LossOutput]
"""(encoder, generator, real, noise, members=whole_batch) -> the joint loss of both networks."""


def _nothing_after_discriminator_step(discriminator: nn.Module, hp: LossHyperparameters) -> None:
    """Most losses leave the critic as its optimiser left it."""


@dataclass(frozen=True)
class GANLoss:
    """One loss (a GAN's, or the VAE baseline's) as the training loop sees it.

    `discriminator_loss(critic, real, fake, hp, k, generator)` takes `fake` already detached and draws all
    its randomness from `generator`, so penalised runs are reproducible. Every loss function also takes `members`
    (training/members.py), which a pack of K networks sets so that each member's math reduces over its own slice.
    `after_discriminator_step` is called under no_grad after each discriminator optimiser step (WGAN clips the
    critic there). `next_k(k, errors, hp)`,
    set for BEGAN only, returns k after a training step from a discriminator loss output carrying the
    reconstruction errors (which output is the module's choice: `began_k_errors`).
    `fresh_generator_noise` says the reference draws a new z for the generator step (WGAN-GP) instead of reusing the
    discriminator step's. `label` is the name figures and tables show; `unsearched` names GAN arguments a search must
    leave alone for this loss (the VAE's n_disc: one joint update per step).

    `prior` names the latent distribution G is trained and sampled on: "uniform" (U[-1, 1], the paper's GAN
    prior) or "normal" (N(0, I), the VAE's, because its KL term pulls the posterior towards N(0, I)). A model
    trained by one loss over both networks sets `joint_loss(encoder, generator, real, noise)`; its
    discriminator network is then an encoder with 2 z_dim outputs, and the two GAN losses are never called.
    `gradient_penalty` says the discriminator loss differentiates the critic's input gradient (double backward).
    """

    name: str
    discriminator_loss: DiscriminatorLoss
    generator_loss: GeneratorLoss
    after_discriminator_step: AfterDiscriminatorStep = _nothing_after_discriminator_step
    next_k: NextK | None = None
    fresh_generator_noise: bool = False
    label: str = ""
    unsearched: tuple[str, ...] = ()
    autoencoder_discriminator: bool = False
    prior: str = "uniform"
    joint_loss: JointLoss | None = None
    gradient_penalty: bool = False


def _logit_discriminator_loss(loss_fn: Callable[[Tensor, Tensor], LossOutput]) -> DiscriminatorLoss:
    def discriminator_loss(
        critic: Critic,
        real: Tensor,
        fake: Tensor,
        hp: LossHyperparameters,
        k: Tensor,
        generator: RandomSource,
        members: Members = whole_batch,
    ) -> LossOutput:
        return members(loss_fn)(critic(real), critic(fake))

    return discriminator_loss


def _logit_generator_loss(loss_fn: Callable[[Tensor], LossOutput]) -> GeneratorLoss:
    def generator_loss(
        critic: Critic, fake: Tensor, hp: LossHyperparameters, members: Members = whole_batch
    ) -> LossOutput:
        return members(loss_fn)(critic(fake))

    return generator_loss


def _wgan_gp_discriminator_loss(
    critic: Critic,
    real: Tensor,
    fake: Tensor,
    hp: LossHyperparameters,
    k: Tensor,
    generator: RandomSource,
    members: Members = whole_batch,
) -> LossOutput:
    data = members(wgan_discriminator_loss)(critic(real), critic(fake))
    penalty = gradient_penalty(critic, wgan_gp_interpolates(real, fake, generator), members)
    return _with_penalty(data, penalty, hp.gp_lambda)


def _dragan_discriminator_loss(
    critic: Critic,
    real: Tensor,
    fake: Tensor,
    hp: LossHyperparameters,
    k: Tensor,
    generator: RandomSource,
    members: Members = whole_batch,
) -> LossOutput:
    def sigmoid_critic(x: Tensor) -> Tensor:
        return torch.sigmoid(critic(x))

    data = members(gan_discriminator_loss)(critic(real), critic(fake))
    penalty = gradient_penalty(sigmoid_critic, dragan_interpolates(real, generator, members), members)
    return _with_penalty(data, penalty, hp.gp_lambda)


def _clip_critic(discriminator: nn.Module, hp: LossHyperparameters) -> None:
    clip_parameters_(discriminator, hp.clip)


def _began_discriminator_loss(
    critic: Critic,
    real: Tensor,
    fake: Tensor,
    hp: LossHyperparameters,
    k: Tensor,
    generator: RandomSource,
    members: Members = whole_batch,
) -> LossOutput:
    l_real = members(began_reconstruction_error)(real, critic(real))
    l_fake = members(began_reconstruction_error)(fake, critic(fake))
    return began_discriminator_loss(l_real, l_fake, k, hp.began_gamma)


def _began_generator_loss(
    critic: Critic, fake: Tensor, hp: LossHyperparameters, members: Members = whole_batch
) -> LossOutput:
    loss = members(began_reconstruction_error)(fake, critic(fake))
    return _loss_output(loss, fake=loss)


def _began_next_k(k: Tensor, errors: LossOutput, hp: LossHyperparameters) -> Tensor:
    return began_k_update(
        k,
        errors.parts["recon_real"],
        errors.parts["recon_fake"],
        hp.began_gamma,
        hp.began_lambda_k,
        hp.began_clip_k,
    )


def _vae_has_no_gan_losses(*args: object) -> NoReturn:
    """Stands in for the VAE's discriminator and generator losses, so a GAN code path fed a VAE fails loudly."""
    raise TypeError(
        "the 'vae' loss has no separate discriminator or generator loss: "
        "its joint_loss (the negative ELBO) trains the encoder and the generator together"
    )


LOSSES: Registry[GANLoss] = Registry("loss")

for _loss in (
    GANLoss(
        "mm_gan",
        _logit_discriminator_loss(gan_discriminator_loss),
        _logit_generator_loss(mm_generator_loss),
        label="MM GAN",
    ),
    GANLoss(
        "ns_gan",
        _logit_discriminator_loss(gan_discriminator_loss),
        _logit_generator_loss(ns_generator_loss),
        label="NS GAN",
    ),
    GANLoss(
        "lsgan",
        _logit_discriminator_loss(lsgan_discriminator_loss),
        _logit_generator_loss(lsgan_generator_loss),
        label="LSGAN",
    ),
    GANLoss(
        "wgan",
        _logit_discriminator_loss(wgan_discriminator_loss),
        _logit_generator_loss(wgan_generator_loss),
        after_discriminator_step=_clip_critic,
        label="WGAN",
    ),
    GANLoss(
        "wgan_gp",
        _wgan_gp_discriminator_loss,
        _logit_generator_loss(wgan_generator_loss),
        gradient_penalty=True,
        fresh_generator_noise=True,
        label="WGAN GP",
    ),
    GANLoss(
        "dragan",
        _dragan_discriminator_loss,
        _logit_generator_loss(ns_generator_loss),
        gradient_penalty=True,
        label="DRAGAN",
    ),
    GANLoss(
        "began",
        _began_discriminator_loss,
        _began_generator_loss,
        next_k=_began_next_k,
        autoencoder_discriminator=True,
        label="BEGAN",
    ),
    GANLoss(
        "vae",
        _vae_has_no_gan_losses,
        _vae_has_no_gan_losses,
        prior="normal",
        joint_loss=vae_loss,
        label="VAE",
        unsearched=("n_disc",),
    ),
):
    LOSSES.register(_loss.name, _loss)


def get_loss(name: str) -> GANLoss:
    """Look a loss up by its study name; an unknown name fails listing the valid ones."""
    return LOSSES.get(name)

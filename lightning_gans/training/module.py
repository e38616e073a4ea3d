"""The GAN LightningModule: the paper's training step, for any registered loss on any registered backbone.

The step semantics are the reference code's: every step is one discriminator update on a fresh real batch, the
generator is updated at step 0 and whenever `(d_step - 1) % n_disc == 0` (steps 0, 1, 6, 11, ... for n_disc 5), and
training length is counted in discriminator steps. All
randomness of a step comes from one generator owned by the module whose state travels in the checkpoint, so an
interrupted and resumed run is identical to an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from ..registry import Registry
from .conditioning import bind_labels, build_pair
from .distributed import average_gradients, average_tensor, reducer_disabled
from .losses import JointLoss, LossHyperparameters, LossOutput, get_loss
from .nets import PAPER_BACKBONE, frozen_parameters
from .stepping import (
    MAX_BLOCK_STEPS,
    StepWatch,
    count_extra_batches,
    counted_step,
    direct_calls_allowed,
    step_watchers,
)

# The same evaluation noise for every run, so sample grids of different trials are comparable.
EVAL_NOISE_SEED = 2018
EVAL_NOISE_COUNT = 64
GRID_COLUMNS = 8
"""Samples per row of a sample grid; a conditional model's grid has one row per class (`grid_labels`)."""

# Trainer precisions a GAN trains under: the paper's float32, bf16 autocast around the training step (no loss
# scaling needed, unlike float16, whose scaler the gradient penalties' inner gradients would bypass), and float64,
# where checks of exactness (a pack against its members trained alone) leave summation order as the only difference.
# Evaluation always runs in float32 (EvaluationSchedule.score).
PRECISIONS = ("32-true", "bf16-mixed", "64-true")


class DivergedError(RuntimeError):
    """Training produced a non-finite loss or sample; training stops here.

    A sweep does not fail the trial: it keeps the best score of the evaluations before this step, the reference
    code's rule (a checkpoint with NaN samples scores a sentinel and the trial keeps its minimum over checkpoints).
    """

    def __init__(self, step: int, what: str) -> None:
        super().__init__(f"diverged at step {step}: {what} is not finite")
        self.step = step
        self.what = what


def uniform_noise(count: int, z_dim: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """z ~ U[-1, 1], the paper's prior."""
    return torch.rand(count, z_dim, generator=generator, device=device) * 2 - 1


def normal_noise(count: int, z_dim: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """z ~ N(0, I), the VAE's prior: the one its KL term pulls the posterior towards."""
    return torch.randn(count, z_dim, generator=generator, device=device)


Network = Callable[[Tensor], Tensor]
"""A network as the losses call it: one input, a conditional network's labels already bound."""
Prior = Callable[[int, int, torch.Generator | None, torch.device], Tensor]
PRIORS: Registry[Prior] = Registry("prior")
PRIORS.register("uniform", uniform_noise)
PRIORS.register("normal", normal_noise)


def prior_noise(prior: str, count: int, z_dim: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """`count` latent vectors from the prior a loss names (GANLoss.prior), drawn from `generator`."""
    return PRIORS.get(prior)(count, z_dim, generator, device)


# How the generator step gets its z: the reference reuses the discriminator step's z except where the
# loss asks for a fresh one (WGAN-GP); the other rules are named departures, recorded in the run's config.
def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"trainer precision {precision!r} is not supported; use one of {', '.join(PRECISIONS)}")


G_STEP_NOISE = ("reference", "fresh", "reused")
# Which reconstruction errors move BEGAN's k: the reference recomputes them after the step's updates (same batch and
# z, networks as updated); `discriminator_step` takes the errors of the discriminator's loss before its update.
BEGAN_K_ERRORS = ("recomputed", "discriminator_step")


def is_generator_step(d_step: int, n_disc: int) -> bool:
    """The reference's schedule: G is updated at step 0, then at every step with (d_step - 1) % n_disc == 0.

    The reference tests `(counter - 1) % disc_iters == 0 or g_loss is None`, and g_loss is None only before the first
    G update; for n_disc 5 that is steps 0, 1, 6, 11, ..., one more update than steps 0, 5, 10, ... would give.
    """
    return d_step == 0 or (d_step - 1) % n_disc == 0


def generator_updates(d_steps: int, n_disc: int) -> int:
    """How many of the first `d_steps` steps update G (is_generator_step in closed form)."""
    return 0 if d_steps <= 0 else 1 + -(-(d_steps - 1) // n_disc)


def lightning_optimizer_steps(d_steps: int, n_disc: int) -> int:
    """Optimizer steps Lightning counts (its global_step) after `d_steps` paper steps: D every step, G by schedule."""
    return d_steps + generator_updates(d_steps, n_disc)


@contextlib.contextmanager
def kept_batch_norm_statistics(*modules: nn.Module) -> Iterator[None]:
    """Forward passes in training mode (batch statistics) that leave the running statistics as they were.

    The reference's extra BEGAN forward pass runs outside its optimisers' update ops, so its moving averages do not
    move; a PyTorch forward in training mode would move them.
    """
    norms = [
        layer for module in modules for layer in module.modules() if isinstance(layer, nn.modules.batchnorm._BatchNorm)
    ]
    saved = [{name: buffer.clone() for name, buffer in layer.named_buffers(recurse=False)} for layer in norms]
    try:
        yield
    finally:
        for layer, buffers in zip(norms, saved, strict=True):
            for name, value in buffers.items():
                getattr(layer, name).copy_(value)


def grid_labels(num_classes: int) -> Tensor:
    """The labels of a conditional model's sample grid: each class GRID_COLUMNS times, in order, one row each."""
    return torch.arange(num_classes).repeat_interleave(GRID_COLUMNS)


def split_batch(batch: Tensor | Sequence[Tensor], num_classes: int) -> tuple[Tensor, Tensor | None]:
    """(samples, labels) of a batch: labelled batches for a conditional model, plain ones otherwise."""
    labelled = not isinstance(batch, Tensor)
    if labelled and num_classes == 0:
        raise ValueError(
            "the data module serves labelled batches (data.conditional true) to an unconditional GAN "
            "(model.num_classes 0); the CLI links the two, a module built by hand must match its data"
        )
    if not labelled and num_classes > 0:
        raise ValueError(
            f"a conditional GAN (model.num_classes {num_classes}) needs labelled batches; set data.conditional true"
        )
    if not labelled:
        return batch, None
    samples, labels = batch
    return samples, labels


def is_logging_step(done: int, every: int, total: int) -> bool:
    """Whether Lightning's loggers write after `done` of `total` steps: every `every` (0: never) and at the last."""
    return done >= total or (every > 0 and done % every == 0)


def loss_logs(prefix: str, output: LossOutput) -> dict[str, Tensor]:
    """The logged names of a network's losses: `d/real`, ..., and its total as `d_loss`."""
    parts = {f"{prefix}/{name}": value.detach() for name, value in output.parts.items()}
    return {**parts, f"{prefix}_loss": output.total.detach()}


def check_range(name: str, value: float, allowed: str, ok: bool) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be {allowed}")


class GAN(pl.LightningModule):
    """One GAN trained with manual optimization (two optimizers, n_disc schedule, per-loss side effects).

    The VAE baseline trains here too, so that every model of the study shares networks, data, checkpoints and
    evaluation: its encoder takes the discriminator's place and each step is one joint update of both networks.

    Args:
        loss: a registered loss (mm_gan, ns_gan, lsgan, wgan, wgan_gp, dragan, began, vae).
        backbone: a registered network pair (infogan, dcgan, mlp); by default the dataset's (filled in by the CLI
            from its registry entry), or the paper's InfoGAN pair when the module is built without one.
        sample_shape: shape of one sample; the CLI links it from the data module.
        steps: training length in discriminator steps (the paper's steps, not Lightning's optimizer steps); by
            default the dataset's (lightning_gans/data/datasets.py), resolved when training starts.
        lr, beta1: shared by both Adam optimizers (beta2 is fixed at 0.999 in the paper).
        n_disc: discriminator updates per generator update (schedule: is_generator_step); must be 1 for the vae,
            which updates both networks each step.
        d_batch_norm: batch norm in the discriminator (a hyperparameter of the study).
        clip, gp_lambda, began_gamma, began_lambda_k, began_clip_k: loss hyperparameters (see losses.py).
        g_step_noise: the z of the generator update. `reference`: the discriminator step's z, except for the losses
            that draw a fresh one (WGAN-GP), as the reference code does; `fresh`: a new z for every loss; `reused`:
            the discriminator step's z for every loss.
        began_k_errors: the reconstruction errors BEGAN's k update uses. `recomputed` (the reference's): a forward
            pass after the step's updates on the same batch and z, batch norm in training mode without moving its
            running statistics; `discriminator_step`: the errors of the discriminator loss before its update.
        num_classes: 0 for the paper's unconditional GAN; the number of classes for a class-conditional one, whose
            networks take the label beside z and beside the sample (training/conditioning.py). The CLI sets it from
            `data.conditional`, which serves labelled batches.
        check_finite_every: how often (in steps) the host looks at the losses taken since it last looked; each
            step's losses wait on the device until then, so the reported step is exact.
        channels_last: keep convolution weights and image batches in channels-last memory layout, which tensor-core
            convolutions prefer; the values, and the state_dict keys, are the default layout's.
        compile: torch.compile the generator and the discriminator in place (state_dict keys unchanged). A loss
            with a gradient penalty (wgan_gp, dragan) keeps its discriminator eager: torch.compile cannot
            differentiate a network twice.
    """

    def __init__(
        self,
        loss: str = "ns_gan",
        backbone: str | None = None,
        sample_shape: tuple[int, ...] = (1, 28, 28),
        steps: int | None = None,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        n_disc: int = 1,
        d_batch_norm: bool = True,
        z_dim: int = 64,
        clip: float = 0.01,
        gp_lambda: float = 10.0,
        began_gamma: float = 0.75,
        began_lambda_k: float = 0.001,
        began_clip_k: bool = False,
        g_step_noise: str = "reference",
        began_k_errors: str = "recomputed",
        num_classes: int = 0,
        check_finite_every: int = 50,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        check_range("steps", steps, "an integer >= 1, or None for the dataset's", steps is None or steps >= 1)
        check_range("n_disc", n_disc, "an integer >= 1", n_disc >= 1)
        check_range("lr", lr, "> 0", lr > 0)
        check_range("beta1", beta1, "in [0, 1)", 0 <= beta1 < 1)
        check_range("beta2", beta2, "in [0, 1)", 0 <= beta2 < 1)
        check_range("z_dim", z_dim, "an integer >= 1", z_dim >= 1)
        check_range(
            "num_classes", num_classes, "0 (unconditional) or an integer >= 2", num_classes == 0 or num_classes >= 2
        )
        check_range("check_finite_every", check_finite_every, "an integer >= 1", check_finite_every >= 1)
        check_range("g_step_noise", g_step_noise, f"one of {', '.join(G_STEP_NOISE)}", g_step_noise in G_STEP_NOISE)
        check_range(
            "began_k_errors", began_k_errors, f"one of {', '.join(BEGAN_K_ERRORS)}", began_k_errors in BEGAN_K_ERRORS
        )
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.gan_loss = get_loss(loss)
        joint = self.gan_loss.joint_loss is not None
        joint_steps = f"1 for loss {loss!r}, which updates both networks every step"
        check_range("n_disc", n_disc, joint_steps, not joint or n_disc == 1)
        self.loss_hp = LossHyperparameters(
            clip=clip,
            gp_lambda=gp_lambda,
            began_gamma=began_gamma,
            began_lambda_k=began_lambda_k,
            began_clip_k=began_clip_k,
        )
        networks = build_pair(
            backbone or PAPER_BACKBONE,
            tuple(sample_shape),
            z_dim,
            d_batch_norm,
            self.gan_loss.autoencoder_discriminator,
            joint,
            num_classes,
        )
        self.generator = networks.generator
        self.discriminator = networks.discriminator
        if channels_last:
            self.generator.to(memory_format=torch.channels_last)  # moves 4-D parameters only
            self.discriminator.to(memory_format=torch.channels_last)
        if compile:
            self.generator.compile()
            if not self.gan_loss.gradient_penalty:
                self.discriminator.compile()
        self.d_step = 0
        self.register_buffer("began_k", torch.zeros(()))
        grid_size = num_classes * GRID_COLUMNS if num_classes else EVAL_NOISE_COUNT
        self.register_buffer(
            "fixed_noise",
            self.latent_noise(grid_size, torch.Generator().manual_seed(EVAL_NOISE_SEED), torch.device("cpu")),
        )
        self.fixed_labels = grid_labels(num_classes) if num_classes else None
        # The losses taken since the host last looked at them, as (step, network, loss on the device), in order.
        self._unchecked_losses: list[tuple[int, str, Tensor]] = []
        self._noise_seed = torch.initial_seed() & (2**62 - 1)
        self._noise: torch.Generator | None = None
        self._restored_noise_state: Tensor | None = None
        self._latest_generator_output: LossOutput | None = None  # the loggers' g losses, named at logging steps
        # How this fit goes through Lightning (stepping.py), decided in `setup` from the trainer's callbacks.
        self._watchers: list[StepWatch] | None = None
        self._direct_calls = False

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        betas = (self.hparams.beta1, self.hparams.beta2)
        return [
            torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.lr, betas=betas),
            torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr, betas=betas),
        ]

    def noise_generator(self) -> torch.Generator:
        """The step's random source: seeded per run and per process, restored exactly from a checkpoint."""
        if self._noise is None:
            self._noise = torch.Generator(device=self.device)
            self._noise.manual_seed(self._noise_seed * 1_000_003 + self.global_rank)
            if self._restored_noise_state is not None:
                self._noise.set_state(self._restored_noise_state)
        return self._noise

    def setup(self, stage: str) -> None:
        if self.hparams.steps is None:
            datamodule = self.trainer.datamodule
            if datamodule is None or not hasattr(datamodule, "paper_steps"):
                raise ValueError("steps must be given when training without a GANDataModule (no dataset table)")
            self.hparams.steps = datamodule.paper_steps  # saved with every checkpoint from here on
        check_precision(self.trainer.precision)
        self._watchers = step_watchers(self.trainer)
        self._direct_calls = direct_calls_allowed(self.trainer, self)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        if self.d_step >= self.hparams.steps:
            self.trainer.should_stop = True
            return -1
        return None

    def latent_noise(self, count: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """`count` draws from this model's latent prior (U[-1, 1] for the GANs, N(0, I) for the VAE)."""
        return prior_noise(self.gan_loss.prior, count, self.hparams.z_dim, generator, device)

    def block_end(self, start: int) -> int:
        """How many steps are done when a block starting after `start` steps ends (stepping.py: step blocks).

        The held-in-memory stream cuts its blocks here: at the first step after `start` that is logged or watched by
        a callback, at the last step, at most MAX_BLOCK_STEPS on. Past the last step, blocks are one step long.
        """
        last = min(start + MAX_BLOCK_STEPS, self.hparams.steps)
        done = start + 1
        while done < last and not self._watched(done):
            done += 1
        return done

    def _watched(self, done: int) -> bool:
        """Whether anything outside the training step looks at the run when `done` steps are done."""
        if self._watchers is None or is_logging_step(done, self.trainer.log_every_n_steps, self.hparams.steps):
            return True
        return any(watch(done, self) for watch in self._watchers)

    @property
    def conditional(self) -> bool:
        return self.hparams.num_classes > 0

    def training_step(self, batch: Tensor | Sequence[Tensor], batch_idx: int) -> None:
        """One paper step, or one per batch of a block of steps (shaped (steps, batch, *sample); `block_end`).

        A conditional model's batch is (samples, labels), the labels shaped like the samples' leading dimensions.
        """
        samples, labels = split_batch(batch, self.hparams.num_classes)
        single = samples.dim() != len(self.hparams.sample_shape) + 2
        block = samples.unsqueeze(0) if single else samples
        label_block = labels.unsqueeze(0) if labels is not None and single else labels
        d_optimizer, g_optimizer = self.optimizers()
        noise = self.noise_generator()
        with reducer_disabled(self.trainer.strategy.model):
            for index, real in enumerate(block):
                step_labels = None if label_block is None else label_block[index]
                self._paper_step(real, step_labels, d_optimizer, g_optimizer, noise)
        count_extra_batches(self.trainer, len(block) - 1)

    def _paper_step(
        self, real: Tensor, labels: Tensor | None, d_optimizer: Any, g_optimizer: Any, noise: torch.Generator
    ) -> None:
        """The step, the step count, the divergence check at its interval and the stop after the last step.

        A conditional model's networks see the batch's labels throughout the step: the fakes the discriminator judges
        are generated for the real batch's labels, so that real and fake examples (and WGAN-GP's interpolates
        between them, DRAGAN's perturbed reals) carry the same labels, and the generator's update is for those
        labels too, that is for labels drawn from the data's class distribution.
        """
        if self.hparams.channels_last and real.dim() == 4:
            real = real.contiguous(memory_format=torch.channels_last)  # the networks' layout: no conversions
        generator, discriminator = bind_labels(self.generator, labels), bind_labels(self.discriminator, labels)
        joint_loss = self.gan_loss.joint_loss
        if joint_loss is None:
            self._gan_step(generator, discriminator, d_optimizer, g_optimizer, real, noise)
        else:
            self._joint_step(joint_loss, generator, discriminator, d_optimizer, g_optimizer, real, noise)
        self.d_step += 1
        if self.d_step % self.hparams.check_finite_every == 0 or self.d_step >= self.hparams.steps:
            self.raise_if_diverged()
        if self.d_step >= self.hparams.steps:
            self.trainer.should_stop = True

    def _gan_step(
        self,
        generator: Network,
        discriminator: Network,
        d_optimizer: Any,
        g_optimizer: Any,
        real: Tensor,
        noise: torch.Generator,
    ) -> None:
        """The paper's step: one discriminator update, a generator update by schedule, then BEGAN's k update.

        `generator` and `discriminator` are the module's networks as functions of their input (labels bound).
        """
        z = self.latent_noise(real.shape[0], noise, self.device)
        with torch.no_grad():
            fake = generator(z)
        d_out = self.gan_loss.discriminator_loss(discriminator, real, fake, self.loss_hp, self.began_k, noise)
        d_optimizer.zero_grad(set_to_none=True)
        self._backward(d_out.total)
        average_gradients(self.discriminator.parameters())
        self._optimizer_step(d_optimizer)
        with torch.no_grad():
            self.gan_loss.after_discriminator_step(self.discriminator, self.loss_hp)
        self._watch_finite("discriminator", d_out.total)

        if is_generator_step(self.d_step, self.hparams.n_disc):
            if self._fresh_generator_noise():
                z = self.latent_noise(real.shape[0], noise, self.device)
            g_out = self._generator_step(generator, discriminator, g_optimizer, d_optimizer, z)
            self._watch_finite("generator", g_out.total)
            self._latest_generator_output = g_out
        if self.gan_loss.next_k is not None:
            self._update_k(generator, discriminator, d_out, real, z, noise)
        self._log_losses(d_out)

    def _fresh_generator_noise(self) -> bool:
        rule = self.hparams.g_step_noise
        return rule == "fresh" or (rule == "reference" and self.gan_loss.fresh_generator_noise)

    @torch.no_grad()
    def _update_k(
        self,
        generator: Network,
        discriminator: Network,
        d_out: LossOutput,
        real: Tensor,
        z: Tensor,
        noise: torch.Generator,
    ) -> None:
        """Moves BEGAN's k from the errors `began_k_errors` names; `z` is the step's last one, as in the reference."""
        errors = d_out
        if self.hparams.began_k_errors == "recomputed":
            with kept_batch_norm_statistics(self.generator, self.discriminator):
                fake = generator(z)
                errors = self.gan_loss.discriminator_loss(discriminator, real, fake, self.loss_hp, self.began_k, noise)
        new_k = self.gan_loss.next_k(self.began_k, errors, self.loss_hp)
        # Each replica saw its own batch; the mean is k's update for the global batch.
        self.began_k.copy_(average_tensor(new_k))

    def _joint_step(
        self,
        joint_loss: JointLoss,
        generator: Network,
        encoder: Network,
        d_optimizer: Any,
        g_optimizer: Any,
        real: Tensor,
        noise: torch.Generator,
    ) -> None:
        """One update of both networks by the loss's joint loss (the VAE's negative ELBO).

        Adam's state is per parameter, so two Adams with equal hyperparameters over the disjoint encoder and
        generator parameters step exactly like one Adam over their union; keeping the GANs' two optimizers keeps
        checkpoints, resume and Lightning's step count unchanged. The loss sits in the discriminator's slot of
        the logs (d/recon, d/kl, d_loss) and of the divergence check, since the encoder occupies that network.
        """
        out = joint_loss(encoder, generator, real, noise)
        d_optimizer.zero_grad(set_to_none=True)
        g_optimizer.zero_grad(set_to_none=True)
        self._backward(out.total)
        average_gradients(itertools.chain(self.discriminator.parameters(), self.generator.parameters()))
        self._optimizer_step(d_optimizer)
        self._optimizer_step(g_optimizer)
        self._watch_finite("discriminator", out.total)
        self._log_losses(out)

    def _generator_step(
        self, generator: Network, discriminator: Network, optimizer: Any, d_optimizer: Any, z: Tensor
    ) -> LossOutput:
        """D's weights stay out of the graph: G's loss only flows through D.

        They are frozen as Lightning's optimizer toggling would freeze them (every parameter of the other optimizer,
        then restored), from the D optimizer's list rather than Lightning's walk over every optimizer's parameters.
        """
        frozen = [parameter for group in d_optimizer.param_groups for parameter in group["params"]]
        with frozen_parameters(frozen):
            g_out = self.gan_loss.generator_loss(discriminator, generator(z), self.loss_hp)
            optimizer.zero_grad(set_to_none=True)
            self._backward(g_out.total)
            average_gradients(self.generator.parameters())
            self._optimizer_step(optimizer)
        return g_out

    def _backward(self, loss: Tensor) -> None:
        """`manual_backward`, or the backward it comes down to where nothing listens (stepping.py: direct calls)."""
        if self._direct_calls:
            loss.backward()
        else:
            self.manual_backward(loss)

    def _optimizer_step(self, optimizer: Any) -> None:
        """`optimizer.step()`, or the counted step it comes down to where nothing listens (stepping.py)."""
        if self._direct_calls:
            counted_step(optimizer)
        else:
            optimizer.step()

    def _watch_finite(self, network: str, loss: Tensor) -> None:
        """Keeps the loss for the next divergence check: one op per loss, where a device-side flag took nine."""
        self._unchecked_losses.append((self.d_step, network, loss.detach()))

    def raise_if_diverged(self) -> None:
        """The first non-finite loss since the last check, as a DivergedError (one host sync).

        Losses are kept in the order they were taken (the discriminator's before the generator's within a step), so
        the first non-finite one names the exact step and network; finite ones are forgotten once checked.
        """
        losses = self._unchecked_losses
        if not losses:
            return
        finite = torch.isfinite(torch.stack([loss for _, _, loss in losses])).tolist()
        for (step, network, _), ok in zip(losses, finite, strict=True):
            if not ok:
                raise DivergedError(step, f"the {network} loss")
        self._unchecked_losses = []

    def _log_losses(self, d_out: LossOutput) -> None:
        """Hands the losses to Lightning as device tensors, at the steps its loggers write only.

        Lightning passes on-step values to the loggers every `log_every_n_steps` batches and at the last, and drops
        the rest; each `log` call still costs about a millisecond of bookkeeping on a CPU, 3% of a WGAN step there.
        The generator's losses are those of its latest update, as Lightning would hold them when n_disc > 1 and the
        update falls between logging steps. Nothing is marked `prog_bar`: Lightning turns progress-bar values into
        Python numbers after every batch, a host-device sync per step; StepProgressBar shows the losses instead.
        """
        if self._logs_this_step():
            g_out = self._latest_generator_output
            g_logs = {} if g_out is None else loss_logs("g", g_out)
            self.log_dict({**loss_logs("d", d_out), **g_logs}, on_step=True, on_epoch=False)

    def _logs_this_step(self) -> bool:
        """Whether the loggers write this step (Lightning's rule; tests compare the rows with logging every step)."""
        trainer = self.trainer
        done = self.d_step + 1  # the step being taken; d_step counts the finished ones, one batch per step
        return bool(trainer.fast_dev_run) or is_logging_step(done, trainer.log_every_n_steps, self.hparams.steps)

    @torch.no_grad()
    def sample(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Samples with batch norm in inference mode (its moving averages), as the reference evaluates; in float32,
        what every evaluator scores, whatever precision the networks train in.

        A conditional model needs the class of each sample (`labels`, one per row of `z`); an unconditional one
        takes none.
        """
        if (labels is not None) != self.conditional:
            raise ValueError(
                "a conditional GAN samples given one class label per noise vector"
                if self.conditional
                else "an unconditional GAN takes no class labels"
            )
        was_training = self.generator.training
        self.generator.eval()
        try:
            z = z.to(self.device, self.dtype)
            generator = bind_labels(self.generator, None if labels is None else labels.to(self.device))
            return generator(z).float()
        finally:
            self.generator.train(was_training)

    def grid_samples(self) -> Tensor:
        """The sample grid's samples: the fixed noise, one row of GRID_COLUMNS per class for a conditional model."""
        return self.sample(self.fixed_noise, self.fixed_labels)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["d_step"] = self.d_step
        checkpoint["noise_state"] = self.noise_generator().get_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.d_step = checkpoint["d_step"]
        self._restored_noise_state = checkpoint["noise_state"]
        self._noise = None

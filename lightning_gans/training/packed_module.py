"""A pack: K GANs of one loss and one backbone trained as one LightningModule, each exactly as if it ran alone.

The members are ordinary `GAN` modules, built the way their own runs would build them (their seed, hence their
initial weights and random stream); the pack stacks their networks (`packing.pack_networks`), their Adam
hyperparameters (`PackedAdam`), their loss hyperparameters and BEGAN's k into (K,) tensors, and runs the reference's
step for all of them at once: one kernel per layer serves K members. What each member keeps to itself:

- its batch (the data module serves one stream per member, by its own seed: `data/packs.py`), its noise (its own
  torch.Generator, seeded as its GAN seeds it) and every other draw of its losses (`members.random_like`);
- its schedule: a member whose n_disc skips the generator at this step neither moves its generator nor advances
  that Adam's step count, and the batch norm statistics that the shared generator pass moved are put back for it;
- its divergence: a member whose loss turns non-finite is stopped at the next check (every `check_finite_every`
  steps, when a GAN would raise): from then on it is not updated, and its weights and Adam state are zeroed so that
  no kernel can carry its NaNs to another member; `divergences` keeps the step, as a GAN's DivergedError does.

The members' GAN modules stay outside the pack's parameters: `member(k)` writes member k's current weights, buffers,
k and step into its module, which is what evaluation scores and what a member's checkpoint holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from .losses import LossOutput
from .members import MEMBER_DIM, MemberGenerators
from .module import GAN, DivergedError, check_precision, is_generator_step, is_logging_step, loss_logs, prior_noise
from .nets import uses_d_batch_norm
from .packed_adam import PackedAdam
from .packing import member_state, over_members, pack_networks

STRUCTURE = ("loss", "backbone", "sample_shape", "steps", "d_batch_norm", "z_dim", "g_step_noise", "began_k_errors")
"""GAN arguments every member of a pack shares: they decide the networks' shapes, the step and the training length."""
LOSS_KNOBS = ("clip", "gp_lambda", "began_gamma", "began_lambda_k")
UNPACKABLE = ("channels_last", "compile", "num_classes")
"""GAN options a pack does not take: its layers are grouped (and have no conditional counterparts), and it runs
eagerly."""


def structure_of(backbone: str) -> list[str]:
    """STRUCTURE without what the backbone ignores: a pack of the MLP pair mixes d_batch_norm, which it has no
    batch norm to apply."""
    return [name for name in STRUCTURE if name != "d_batch_norm" or uses_d_batch_norm(backbone)]


def check_packable(members: Sequence[GAN]) -> None:
    """Members must agree on what shapes the networks and the step; the first disagreement is named."""
    if not members:
        raise ValueError("a pack needs at least one member")
    first = members[0].hparams
    for name in UNPACKABLE:
        if any(member.hparams[name] for member in members):
            values = sorted({member.hparams[name] for member in members if member.hparams[name]})
            raise ValueError(f"{name}={values[0]!r} is not supported in a pack; train such runs unpacked")
    shared = structure_of(first["backbone"])
    for index, member in enumerate(members[1:], start=1):
        for name in shared:
            if member.hparams[name] != first[name]:
                raise ValueError(
                    f"member {index} of the pack has {name}={member.hparams[name]!r} but member 0 has "
                    f"{first[name]!r}: a pack's members share {', '.join(shared)}"
                )


@dataclass(frozen=True)
class PackedLossHyperparameters:
    """losses.LossHyperparameters with one value per member, as (K,) tensors: every use of them is elementwise."""

    clip: Tensor
    gp_lambda: Tensor
    began_gamma: Tensor
    began_lambda_k: Tensor
    began_clip_k: Tensor


def buffers_of(*networks: nn.Module) -> list[Tensor]:
    """Every buffer of the networks (batch norm's running statistics), each holding the members along dimension 0."""
    return [buffer for network in networks for buffer in network.buffers()]


class PackedGAN(pl.LightningModule):
    """K GAN members trained in one step; see the module docstring for what is shared and what is not."""

    def __init__(self, members: Sequence[GAN]) -> None:
        super().__init__()
        check_packable(members)
        self.automatic_optimization = False
        self.members = list(members)  # a plain list: their parameters are not the pack's
        first = members[0]
        self.save_hyperparameters({"steps": first.hparams.steps, "members": [dict(m.hparams) for m in members]})
        self.gan_loss = first.gan_loss
        self.check_finite_every = min(member.hparams.check_finite_every for member in members)
        self.generator = pack_networks([member.generator for member in members])
        self.discriminator = pack_networks([member.discriminator for member in members])
        self.n_disc = [member.hparams.n_disc for member in members]
        self._loss_knobs = {
            name: [member.hparams[name] for member in members] for name in (*LOSS_KNOBS, "began_clip_k")
        }
        self._loss_hp: dict[tuple[torch.dtype, torch.device], PackedLossHyperparameters] = {}
        self.register_buffer("began_k", torch.stack([member.began_k for member in members]))
        self.register_buffer("fixed_noise", first.fixed_noise.clone())
        self.register_buffer("first_nonfinite_step", torch.full((len(members), 2), -1, dtype=torch.long))
        self.d_step = 0
        self.running = [True] * len(members)
        self.stopped: dict[int, Exception] = {}
        """Why each stopped member stopped: its DivergedError, or what its run raised (a pruned trial)."""
        self.logged_losses: dict[str, Tensor] = {}
        """Each member's losses of this step, (K,) each, when the loggers write this step (else empty)."""
        self._latest_generator_losses: dict[str, Tensor] = {}
        self.generator_updated = [False] * len(members)
        """Whether each member has updated its generator since this module was built (or resumed): before that a
        lone run has no generator losses to log, and neither does its member row."""

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def steps(self) -> int:
        """The members' training length in D steps (hparams.steps, as a GAN's)."""
        return self.hparams.steps

    @property
    def loss_hp(self) -> PackedLossHyperparameters:
        """The members' loss knobs as tensors in the networks' dtype, rounded from Python's floats once, as a GAN's
        float knob is rounded when it meets a tensor (a float32 copy of 0.1 is not 0.1 in a float64 run)."""
        key = (self.dtype, self.device)
        if key not in self._loss_hp:
            knobs = self._loss_knobs
            floats = {
                name: torch.tensor(knobs[name], dtype=torch.float64, device=self.device).to(self.dtype)
                for name in LOSS_KNOBS
            }
            clip_k = torch.tensor(knobs["began_clip_k"], device=self.device)
            self._loss_hp[key] = PackedLossHyperparameters(**floats, began_clip_k=clip_k)
        return self._loss_hp[key]

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        hparams = [member.hparams for member in self.members]
        settings = {name: [h[name] for h in hparams] for name in ("lr", "beta1", "beta2")}
        return [
            PackedAdam(self.discriminator.parameters(), **settings),
            PackedAdam(self.generator.parameters(), **settings),
        ]

    def setup(self, stage: str) -> None:
        if self.steps is None:
            raise ValueError("a pack's members must be built with their training length (steps)")
        check_precision(self.trainer.precision)
        if self.trainer.world_size != 1:
            raise ValueError(f"a pack trains on one device; got world size {self.trainer.world_size}")

    def on_fit_start(self) -> None:
        for member in self.members:
            member.to(device=self.device, dtype=self.dtype)

    @property
    def noise(self) -> MemberGenerators:
        """The members' own random streams (GAN.noise_generator: seeded per run, restored from a checkpoint)."""
        return MemberGenerators([member.noise_generator() for member in self.members])

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        if self.d_step >= self.steps or not any(self.running):
            self.trainer.should_stop = True
            return -1
        return None

    def latent_noise(self, count: int, drawing: Sequence[bool] | None = None, reused: Tensor | None = None) -> Tensor:
        """(count, K, z_dim) prior draws, each member's from its own stream; members not `drawing` keep `reused`."""
        z_dim = self.members[0].hparams.z_dim
        draws = [
            prior_noise(self.gan_loss.prior, count, z_dim, generator, self.device)
            if drawing is None or drawing[index]
            else reused[:, index]
            for index, generator in enumerate(self.noise)
        ]
        return torch.stack(draws, dim=MEMBER_DIM)

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        d_optimizer, g_optimizer = self.optimizers()
        if self.gan_loss.joint_loss is None:
            self._gan_step(d_optimizer, g_optimizer, batch)
        else:
            self._joint_step(d_optimizer, g_optimizer, batch)
        self.d_step += 1
        if self.d_step % self.check_finite_every == 0 or self.d_step >= self.steps:
            self.check_divergence()
        if self.d_step >= self.steps or not any(self.running):
            self.trainer.should_stop = True

    def _mask(self, flags: Sequence[bool]) -> Tensor | None:
        """A (K,) device mask of `flags`; None when every member is in (Adam's and the step's fast path)."""
        return None if all(flags) else torch.tensor(flags, device=self.device)

    def _gan_step(self, d_optimizer: Any, g_optimizer: Any, real: Tensor) -> None:
        """The reference's step for every member: D's update, G's by each member's schedule, then BEGAN's k."""
        z = self.latent_noise(real.shape[0])
        with torch.no_grad():
            fake = self.generator(z)
        d_out = self.gan_loss.discriminator_loss(
            self.discriminator, real, fake, self.loss_hp, self.began_k, self.noise, over_members
        )
        d_optimizer.zero_grad(set_to_none=True)
        self.manual_backward(d_out.total.sum())  # each member's gradient is its own loss's: the sum's are ones
        d_optimizer.step(updating=self.running)
        with torch.no_grad():
            self.gan_loss.after_discriminator_step(self.discriminator, self.loss_hp)
        self._watch_finite(0, d_out.total, None)

        stepping = [run and is_generator_step(self.d_step, n) for run, n in zip(self.running, self.n_disc, strict=True)]
        if any(stepping):
            if self.members[0]._fresh_generator_noise():
                z = self.latent_noise(real.shape[0], drawing=stepping, reused=z)
            mask = self._mask(stepping)
            g_out = self._generator_step(g_optimizer, z, stepping, mask)
            self._watch_finite(1, g_out.total, mask)
            self._keep_generator_losses(loss_logs("g", g_out), mask)
            self.generator_updated = [done or now for done, now in zip(self.generator_updated, stepping, strict=True)]
        if self.gan_loss.next_k is not None:
            self._update_k(d_out, real, z)
        self._log_losses(d_out)

    def _generator_step(self, optimizer: Any, z: Tensor, stepping: list[bool], mask: Tensor | None) -> LossOutput:
        """G's update for the members `stepping` marks (`mask` on the device, None when all); the others' batch norm
        statistics are put back as they were."""
        saved = (
            [buffer.clone() for buffer in buffers_of(self.generator, self.discriminator)] if mask is not None else []
        )
        with self.toggled_optimizer(optimizer):
            g_out = self.gan_loss.generator_loss(self.discriminator, self.generator(z), self.loss_hp, over_members)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(g_out.total.sum())
            optimizer.step(updating=stepping)
        if mask is not None:
            with torch.no_grad():
                for buffer, before in zip(buffers_of(self.generator, self.discriminator), saved, strict=True):
                    buffer.copy_(torch.where(mask.reshape(-1, *(1,) * (buffer.ndim - 1)), buffer, before))
        return g_out

    @torch.no_grad()
    def _update_k(self, d_out: LossOutput, real: Tensor, z: Tensor) -> None:
        """BEGAN's k per member, from the errors each member's GAN would use (see GAN._update_k)."""
        errors = d_out
        if self.members[0].hparams.began_k_errors == "recomputed":
            saved = [buffer.clone() for buffer in buffers_of(self.generator, self.discriminator)]
            fake = self.generator(z)
            errors = self.gan_loss.discriminator_loss(
                self.discriminator, real, fake, self.loss_hp, self.began_k, self.noise, over_members
            )
            for buffer, before in zip(buffers_of(self.generator, self.discriminator), saved, strict=True):
                buffer.copy_(before)
        new_k = self.gan_loss.next_k(self.began_k, errors, self.loss_hp)
        running = self._mask(self.running)
        self.began_k.copy_(new_k if running is None else torch.where(running, new_k, self.began_k))

    def _joint_step(self, d_optimizer: Any, g_optimizer: Any, real: Tensor) -> None:
        """The VAE's joint update of both networks, for every member (see GAN._joint_step)."""
        out = self.gan_loss.joint_loss(self.discriminator, self.generator, real, self.noise, over_members)
        d_optimizer.zero_grad(set_to_none=True)
        g_optimizer.zero_grad(set_to_none=True)
        self.manual_backward(out.total.sum())
        d_optimizer.step(updating=self.running)
        g_optimizer.step(updating=self.running)
        self._watch_finite(0, out.total, None)
        self._log_losses(out)

    def _keep_generator_losses(self, losses: dict[str, Tensor], mask: Tensor | None) -> None:
        """Each member's latest generator losses: this step's where it updated G, else those of its last update."""
        kept = self._latest_generator_losses
        self._latest_generator_losses = {
            name: value if mask is None or name not in kept else torch.where(mask, value, kept[name])
            for name, value in losses.items()
        }

    def _watch_finite(self, network: int, loss: Tensor, mask: Tensor | None) -> None:
        first = self.first_nonfinite_step[:, network]
        newly_bad = (~torch.isfinite(loss.detach())) & (first < 0)
        if mask is not None:
            newly_bad &= mask
        self.first_nonfinite_step[:, network] = torch.where(newly_bad, torch.full_like(first, self.d_step), first)

    def check_divergence(self) -> list[int]:
        """Stops the running members whose flag is set (one host sync); returns them."""
        stopped = []
        for index, steps in enumerate(self.first_nonfinite_step.tolist()):
            bad = [(step, name) for step, name in zip(steps, ("discriminator", "generator"), strict=True) if step >= 0]
            if self.running[index] and bad:
                step, name = min(bad)
                self.stop_member(index, DivergedError(step, f"the {name} loss"))
                stopped.append(index)
        return stopped

    @property
    def divergences(self) -> dict[int, DivergedError]:
        return {index: reason for index, reason in self.stopped.items() if isinstance(reason, DivergedError)}

    @torch.no_grad()
    def stop_member(self, index: int, reason: Exception) -> None:
        """Takes a member out of training (diverged, or its run ended it): no more updates, zeros where it was.

        Zeroing matters for a diverged member: a kernel that serves all members must never meet its NaNs.
        """
        self.running[index] = False
        self.stopped[index] = reason
        networks = (self.generator, self.discriminator)
        for tensor in (*self.generator.parameters(), *self.discriminator.parameters(), *buffers_of(*networks)):
            tensor[index] = 0
        self.began_k[index] = 0
        for optimizer in self.trainer.optimizers if self._trainer is not None else []:
            for state in optimizer.state.values():
                state["exp_avg"][index] = 0
                state["exp_avg_sq"][index] = 0

    def _log_losses(self, d_out: LossOutput) -> None:
        """Keeps the members' losses for the loggers at the steps Lightning's loggers write (GAN._log_losses)."""
        trainer = self.trainer
        done = self.d_step + 1
        logs = bool(trainer.fast_dev_run) or is_logging_step(done, trainer.log_every_n_steps, self.steps)
        self.logged_losses = {**loss_logs("d", d_out), **self._latest_generator_losses} if logs else {}

    def member(self, index: int) -> GAN:
        """Member `index` as an ordinary GAN module: its weights, buffers, k and step as they are now."""
        module = self.members[index]
        module.generator.load_state_dict(member_state(self.generator, index))
        module.discriminator.load_state_dict(member_state(self.discriminator, index))
        module.began_k.copy_(self.began_k[index])
        module.d_step = self.d_step
        return module

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["d_step"] = self.d_step
        checkpoint["noise_states"] = [generator.get_state() for generator in self.noise]
        checkpoint["running"] = list(self.running)
        checkpoint["stopped"] = {
            index: (reason.step, reason.what) if isinstance(reason, DivergedError) else (None, str(reason))
            for index, reason in self.stopped.items()
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.d_step = checkpoint["d_step"]
        for member, state in zip(self.members, checkpoint["noise_states"], strict=True):
            member._restored_noise_state = state
            member._noise = None
        self.running = list(checkpoint["running"])
        self.stopped = {
            index: RuntimeError(what) if step is None else DivergedError(step, what)
            for index, (step, what) in checkpoint["stopped"].items()
        }

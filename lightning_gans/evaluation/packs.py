"""Each member of a pack as its own run: its evaluations, its logged losses, its checkpoints, its loggers.

A packed trial must leave what the same trial trained alone leaves: the same evaluation points and scores (the
members share the pack's evaluators, built once), the same rows in its metrics.csv and W&B run, sample grids in its
own folder, and checkpoints that the ordinary GAN module loads (`GAN.load_from_checkpoint`) and resumes
(`fit --ckpt_path`): a member's checkpoint is its slice of the pack's, written in the GAN module's format.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import Logger

from ..atomic import atomic_path
from ..training.module import lightning_optimizer_steps
from ..training.packed_adam import member_adam_state
from ..training.packed_module import PackedGAN
from .schedule import EvaluationSchedule, RunOutputs, is_evaluation_step

OPTIMIZER_STEPS = "epoch_loop.manual_optimization.optim_step_progress"
"""Where Lightning's loops count a manually optimised module's optimizer steps (its global_step)."""


@dataclass
class PackMember:
    """One member's run: its folder, its loggers, its evaluation schedule, and callbacks run after its evaluations
    with its GAN module (a sweep's ReportEvaluations)."""

    directory: Path
    loggers: Sequence[Logger]
    schedule: EvaluationSchedule
    callbacks: Sequence[pl.Callback] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    """Its latest scores by key, as a trainer's callback_metrics hold a run's."""


def member_checkpoint(pack_checkpoint: dict[str, Any], pack: PackedGAN, index: int, member: PackMember) -> dict:
    """Member `index`'s checkpoint in the GAN module's format, from a checkpoint of the whole pack."""
    module = pack.member(index)
    optimizer_steps = lightning_optimizer_steps(pack.d_step, module.hparams.n_disc)
    loops = copy.deepcopy(pack_checkpoint["loops"])
    for count in ("total", "current"):
        loops["fit_loop"][OPTIMIZER_STEPS][count].update(ready=optimizer_steps, completed=optimizer_steps)
    own_adams = module.configure_optimizers()
    packed_adams = pack.trainer.optimizers
    return {
        "epoch": pack_checkpoint["epoch"],
        "global_step": optimizer_steps,
        "pytorch-lightning_version": pack_checkpoint["pytorch-lightning_version"],
        "state_dict": module.state_dict(),
        "loops": loops,
        "callbacks": {member.schedule.state_key: member.schedule.state_dict()},
        "optimizer_states": [
            member_adam_state(packed, index, own.state_dict())
            for packed, own in zip(packed_adams, own_adams, strict=True)
        ],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": dict(module.hparams),
        "d_step": pack.d_step,
        "noise_state": module.noise_generator().get_state(),
    }


class PackRuns(pl.Callback):
    """Runs the members' evaluation schedules, logs and checkpoints from a pack's training (see the module doc)."""

    def __init__(self, members: Sequence[PackMember]) -> None:
        self.members = list(members)
        self._pack_checkpoint: tuple[int, dict[str, Any]] | None = None

    @property
    def every_n_steps(self) -> int:
        return self.members[0].schedule.every_n_steps

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """The evaluators are built once, by the first member's schedule; every member scores with them."""
        first = self.members[0].schedule
        first.setup(trainer, pl_module, stage)
        for member in self.members[1:]:
            schedule = member.schedule
            schedule.every_n_steps, schedule.evaluators = first.every_n_steps, first.evaluators
            schedule.selection, schedule.selection_key = first.selection, first.selection_key

    def on_fit_start(self, trainer: pl.Trainer, pl_module: PackedGAN) -> None:
        for module, member in zip(pl_module.members, self.members, strict=True):
            for logger in member.loggers:
                logger.log_hyperparams(module.hparams)
            for callback in member.callbacks:
                callback.on_fit_start(trainer, module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: PackedGAN, outputs: Any, batch: Any, idx: int) -> None:
        """Evaluation first, then the step's loss rows: a lone run's callbacks run before Lightning logs the step."""
        if is_evaluation_step(pl_module.d_step, self.every_n_steps, pl_module.steps):
            pl_module.check_divergence()
            for index, running in enumerate(pl_module.running):
                if running:
                    self._evaluate(trainer, pl_module, index)
            if not any(pl_module.running):
                trainer.should_stop = True
        self._log_losses(trainer, pl_module)

    def _log_losses(self, trainer: pl.Trainer, pack: PackedGAN) -> None:
        """The members' loss rows, at the step number a lone run's loggers give them (the step being taken)."""
        if not pack.logged_losses:
            return
        values = {name: value.tolist() for name, value in pack.logged_losses.items()}
        for index, member in enumerate(self.members):
            if pack.running[index]:  # a member stopped in this step's check logs nothing, as its GAN would raise
                row = {
                    name: float(per_member[index])
                    for name, per_member in values.items()
                    if pack.generator_updated[index] or not name.startswith("g")
                }
                for logger in member.loggers:
                    logger.log_metrics({**row, "epoch": trainer.current_epoch}, step=pack.d_step - 1)

    def _evaluate(self, trainer: pl.Trainer, pack: PackedGAN, index: int) -> None:
        member = self.members[index]
        module = pack.member(index)
        outputs = RunOutputs(
            directory=member.directory,
            loggers=member.loggers,
            save=lambda path: self._save(trainer, pack, index, path),
            metrics=member.metrics,
        )
        try:
            member.schedule.evaluate(module, outputs)
            for callback in member.callbacks:
                callback.on_train_batch_end(trainer, module, None, None, 0)
        except Exception as reason:  # a non-finite sample (DivergedError), a pruned trial: this member stops
            pack.stop_member(index, reason)

    def _save(self, trainer: pl.Trainer, pack: PackedGAN, index: int, path: Path) -> None:
        if self._pack_checkpoint is None or self._pack_checkpoint[0] != pack.d_step:
            self._pack_checkpoint = (pack.d_step, trainer._checkpoint_connector.dump_checkpoint(weights_only=False))
        checkpoint = member_checkpoint(self._pack_checkpoint[1], pack, index, self.members[index])
        with atomic_path(path, suffix=".ckpt") as temporary:
            torch.save(checkpoint, temporary)

    def on_train_end(self, trainer: pl.Trainer, pl_module: PackedGAN) -> None:
        self._save_logs()

    def on_exception(self, trainer: pl.Trainer, pl_module: PackedGAN, exception: BaseException) -> None:
        """The rows logged so far reach the members' files, as a lone run's trainer writes them at its teardown."""
        self._save_logs()

    def _save_logs(self) -> None:
        for member in self.members:
            for logger in member.loggers:
                logger.save()

    def state_dict(self) -> dict[str, Any]:
        return {"schedules": [member.schedule.state_dict() for member in self.members]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for member, state in zip(self.members, state_dict["schedules"], strict=True):
            member.schedule.load_state_dict(state)

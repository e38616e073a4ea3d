"""Packed trials: a sweep worker trains several trials of its study as one pack (training/packed_module.py).

Each trial of a pack is built exactly as it is built alone (`sweep.trial_cli`: its config, draws, seed, loggers and
folder, its config.yaml saved), its GAN module becomes a member of the pack, and its result is recorded by the same
code (`sweep.trial_result`): packing changes how many kernels train the trials, not what any trial is. Trials whose
draws change the networks' structure cannot share a pack; `structure_key` tells them apart (worker.HeldTrials).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import optuna
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import Logger, WandbLogger

from ..data.packs import PackedDataModule
from ..evaluation.packs import PackMember, PackRuns
from ..runs import GANCLI
from ..training.module import DivergedError
from ..training.packed_module import PackedGAN, structure_of
from .projection import MeasureStepRate
from .spaces import trial_arguments
from .sweep import ReportEvaluations, SweepSettings, TrialOutcome, TrialProtocol, finish_wandb, trial_cli, trial_result

Outcome = float | BaseException
"""A trained trial's value, or what ended it otherwise (optuna.TrialPruned, an error)."""


def structure_key(trial: optuna.Trial, settings: SweepSettings) -> tuple[Any, ...]:
    """What of the trial's drawn values shapes its networks (its discriminator batch norm, where the backbone has
    any): one pack, one key."""
    arguments = trial_arguments(trial, settings.loss, settings.space)
    return tuple((name, arguments[name]) for name in structure_of(settings.network) if name in arguments)


def save_trial_config(cli: GANCLI) -> None:
    """The trial's config.yaml, which LightningCLI saves when its own trainer starts fitting; a member's never does.

    The loggers start first, as a fitting trainer starts them before its callbacks' setup: a CSV log that starts in a
    folder already holding the config warns that it may overwrite earlier logs, once per member.
    """
    for logger in cli.trainer.loggers:
        start_log(logger)
    for callback in cli.trainer.callbacks:
        if isinstance(callback, SaveConfigCallback):
            callback.setup(cli.trainer, cli.model, "fit")


def start_log(logger: Logger) -> None:
    """Starts a member's log. A W&B run is always a new one: the members' runs are open side by side in one process,
    and Lightning's WandbLogger, finding a run in progress, would log every member into the first member's run."""
    if isinstance(logger, WandbLogger) and logger._experiment is None:
        import wandb  # as Lightning's logger does: only a run that logs to W&B pays for importing it

        run = wandb.init(**logger._wandb_init, reinit="create_new")
        run.define_metric("trainer/global_step")  # the x axis Lightning sets up for the runs it starts itself
        run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
        logger._experiment = run
    _ = logger.experiment


def pack_trainer(cli: GANCLI, callbacks: list[pl.Callback], root: Path) -> pl.Trainer:
    """A trainer like the trials' own (their trainer config), that logs and checkpoints nothing itself: the members'
    runs do (evaluation/packs.py)."""
    settings = {key: value for key, value in cli.config_init["trainer"].items() if key not in ("callbacks", "logger")}
    settings |= {"callbacks": callbacks, "logger": False, "enable_checkpointing": False, "default_root_dir": str(root)}
    return pl.Trainer(**settings)


def train_one_pack(trials: list[optuna.Trial], settings: SweepSettings, protocol: TrialProtocol) -> list[Outcome]:
    built = [trial_cli(trial, settings, protocol) for trial in trials]
    for cli, _ in built:
        save_trial_config(cli)
    members = [
        PackMember(Path(cli.trainer.log_dir), cli.trainer.loggers, schedule, [ReportEvaluations(trial, schedule)])
        for trial, (cli, schedule) in zip(trials, built, strict=True)
    ]
    pack = PackedGAN([cli.model for cli, _ in built])
    data = PackedDataModule.of_members([cli.datamodule for cli, _ in built])
    callbacks = [PackRuns(members), *(MeasureStepRate(trial) for trial in trials)]
    trainer = pack_trainer(built[0][0], callbacks, protocol.root / "packs")
    try:
        trainer.fit(pack, datamodule=data)
    finally:
        for cli, _ in built:
            finish_wandb(cli.trainer.loggers)
    return [
        member_outcome(trial, settings, protocol, member, pack.stopped.get(index))
        for index, (trial, member) in enumerate(zip(trials, members, strict=True))
    ]


def member_outcome(
    trial: optuna.Trial, settings: SweepSettings, protocol: TrialProtocol, member: PackMember, stopped: Exception | None
) -> Outcome:
    """A member's result as an unpacked trial's (`trial_result`), or what stopped it when that was not divergence."""
    if stopped is not None and not isinstance(stopped, DivergedError):
        return stopped
    try:
        outcome = TrialOutcome(member.schedule, member.directory, member.metrics, stopped)
        return trial_result(trial, settings, protocol, outcome)
    except Exception as error:
        return error

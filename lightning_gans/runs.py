"""A run's one description: the LightningCLI config (model, data, trainer, evaluation, run) and the CLI that reads it.

`fit` reads it from `--config` files and flags; a sweep trial is the same config, built by the same code, from the
base configs of its loss, dataset and backbone plus the trial's values as dotted overrides, and it saves its
config.yaml beside its metrics, so `lightning-gans fit --config <trial>/config.yaml` trains it again. Names (loss,
backbone, dataset, extractor) are validated while the classes are instantiated, before any data is read or any step
is taken, and a bad one is reported as a usage error that lists the valid names.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch import Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger

from .data import DATASETS, GANDataModule
from .data.errors import DatasetFileError, DatasetNotFoundError
from .data.labels import NUM_CLASSES
from .defaults import TRAINER_DEFAULTS
from .evaluation.classes import check_conditional_samples
from .evaluation.schedule import NO_SCORES, EvaluationSchedule, run_directory
from .inputs import check_config_file, check_resumable, config_files
from .metrics.features import ExtractorUnavailableError
from .summary import fit_summary
from .training.module import GAN, DivergedError
from .training.progress import StepProgressBar


@dataclass
class RunOptions:
    """Where a run's files go and what it logs to.

    Args:
        name: the run's folder under `root` (versions are numbered inside it).
        root: the directory that holds all runs.
        wandb: also log to Weights & Biases (offline unless WANDB_MODE says otherwise; no account needed).
        wandb_project: the W&B project.
        wandb_entity: the W&B team or user that owns the project (default: the account's own, if any).
        wandb_group: a W&B run group (a sweep groups its trials by study name unless this is set).
        wandb_tags: W&B tags, e.g. [paper, cpu].
    """

    name: str = "gan"
    root: str = "runs"
    wandb: bool = True
    wandb_project: str = "lightning-gans"
    wandb_entity: str | None = None
    wandb_group: str | None = None
    wandb_tags: list[str] = field(default_factory=list)

    def loggers(self) -> list[Logger]:
        csv = CSVLogger(save_dir=self.root, name=self.name)
        if not self.wandb:
            return [csv]
        return [csv, self.wandb_logger(f"{self.name}/version_{csv.version}", self.root)]

    def wandb_logger(
        self, run_name: str, save_dir: str | Path, group: str | None = None, config: dict[str, Any] | None = None
    ) -> WandbLogger:
        """The one place a W&B run is configured, for `fit` and sweep trials alike; `group` is the caller's default."""
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        logger = WandbLogger(
            name=run_name,
            save_dir=str(save_dir),
            project=self.wandb_project,
            entity=self.wandb_entity,
            group=self.wandb_group or group,
            tags=list(self.wandb_tags) or None,
            config=config,
        )
        # Lightning always passes W&B's retired `anonymous` setting, which makes every run print a deprecation notice.
        logger._wandb_init.pop("anonymous", None)
        return logger


class GANCLI(LightningCLI):
    divergence: DivergedError | None = None
    """Set when `fit` stopped at a non-finite loss or sample; main() then exits with status 1."""
    refusal: str | None = None
    """Set when `fit` could not start (no data, no extractor); main() then exits with status 2."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """`fit` only: a GAN has no validation or test step to run, and scoring is `lightning-gans evaluate`'s job."""
        return {"fit": LightningCLI.subcommands()["fit"]}

    def after_fit(self) -> None:
        if self.trainer.is_global_zero:
            print(fit_summary(self.trainer))

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(EvaluationSchedule, "evaluation")
        parser.add_class_arguments(RunOptions, "run")
        parser.link_arguments("data.sample_shape", "model.sample_shape", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.link_arguments("seed_everything", "data.seed")

    def _parse_ckpt_path(self) -> None:
        """Keeps the command line authoritative on resume.

        LightningCLI would overwrite the parsed model arguments with the hyperparameters stored in `--ckpt_path`,
        which silently undoes `--model.steps` when a finished run is extended. A resume here passes the run's own
        saved config.yaml, so nothing is lost by skipping that merge. The checkpoint itself is checked instead: it
        must be a checkpoint of this run's loss and backbone.
        """
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        if config.get("ckpt_path"):
            spec = DATASETS.get(config.data.name) if config.data.name in DATASETS else None
            backbone = config.model.backbone or (spec.backbone if spec else None)
            try:
                check_resumable(config.ckpt_path, config.model.loss, backbone)
            except ValueError as error:
                self.parser.error(str(error))

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Config files are read as YAML first, so a wrong file is named (jsonargparse would show a traceback)."""
        arguments = sys.argv[1:] if args is None else args
        if isinstance(arguments, list | tuple):
            for path in config_files(arguments):
                try:
                    check_config_file(path)
                except ValueError as error:
                    parser.error(str(error))
        super().parse_arguments(parser, args)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Adds the step-counting progress bar and the run's loggers, unless the trainer config or kwargs set them."""
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        trainer_config = config.get("trainer", {})
        if trainer_config.get("enable_progress_bar") is not False and not trainer_config.get("fast_dev_run"):
            kwargs["callbacks"] = [*(trainer_config.get("callbacks") or []), StepProgressBar()]
        if trainer_config.get("logger") is None and "logger" not in kwargs:
            kwargs["logger"] = config["run"].loggers()
        return super().instantiate_trainer(**kwargs)

    def _run_subcommand(self, subcommand: str) -> None:
        """Divergence ends training with one line saying what is kept, not a traceback.

        The run's evaluations before divergence and their best checkpoint stay on disk: the reference keeps a
        diverged model's best earlier checkpoint, and a sweep trial keeps its score the same way.
        """
        try:
            super()._run_subcommand(subcommand)
        except DivergedError as divergence:
            self.divergence = divergence
            print(f"training stopped: {divergence}; {kept_after_divergence(self.trainer)}", file=sys.stderr)
        except CANNOT_START as error:  # what the user must fix: where the data is, which extractor can run
            self.refusal = str(error)
            discard_failed_start(self.trainer)
            print(f"cannot start: {error}", file=sys.stderr)

    def before_instantiate_classes(self) -> None:
        """A run that names no backbone trains its dataset's (the registry entry's), e.g. the MLP pair on points."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.data.name in DATASETS:
            spec = DATASETS.get(config.data.name)
            config.model.backbone = config.model.backbone or spec.backbone
            try:
                spec.check_evaluation_samples(config.evaluation.samples)
                if config.data.conditional and config.evaluation.extractor != NO_SCORES:
                    check_conditional_samples(config.evaluation.samples, NUM_CLASSES)
            except ValueError as error:
                self.parser.error(str(error))

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except ValueError as error:  # unknown names and out-of-range values, raised by the constructors
            self.parser.error(str(error))


CANNOT_START = (DatasetNotFoundError, DatasetFileError, ExtractorUnavailableError)


def discard_failed_start(trainer: Trainer) -> None:
    """A run that failed before its first step leaves nothing behind: not its version folder, not a W&B run.

    Only a CSV logger's `version_N` folder without checkpoints is removed, so nothing a user made is touched.
    """
    if trainer.global_step > 0:
        return
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            wandb_run = Path(logger.experiment.dir).parent
            logger.experiment.finish()
            shutil.rmtree(wandb_run, ignore_errors=True)
    for logger in trainer.loggers:
        version = Path(logger.log_dir) if isinstance(logger, CSVLogger) else None
        if version and version.name.startswith("version_") and not list(version.rglob("*.ckpt")):
            shutil.rmtree(version, ignore_errors=True)


def kept_after_divergence(trainer: Trainer) -> str:
    schedule = next((c for c in trainer.callbacks if isinstance(c, EvaluationSchedule)), None)
    if schedule is None or schedule.best_score is None:
        return "no evaluation ran before it"
    best = run_directory(trainer) / "checkpoints" / "best.ckpt"
    return f"best {schedule.selection_key} = {schedule.best_score:.6g} at step {schedule.best_step}, kept in {best}"


class ParsedRun(GANCLI):
    """The run's config as `fit` reads it, validated by the same parser, with nothing instantiated.

    A sweep reads what its trials share (length, evaluation, precision, where files go) from it before any trial
    starts, so a bad trial argument fails the sweep's command, not every trial.
    """

    def _set_seed(self) -> None:
        """No global seed is set: nothing will be drawn."""

    def before_instantiate_classes(self) -> None:
        """The caller resolves and checks what it reads (search/sweep.py: trial_protocol)."""

    def instantiate_classes(self) -> None:
        """Nothing is built: the caller wants the config only."""


def parsed_config(args: list[str]) -> Namespace:
    return run(args, cli_class=ParsedRun, run=False).config


def run(args: list[str] | None = None, cli_class: type[GANCLI] = GANCLI, **options: Any) -> GANCLI:
    """Runs one subcommand (`fit`, ...) and returns the CLI, whose model and trainer tests can inspect.

    With `run=False` in `options`, `args` carry no subcommand and the classes are only instantiated (a sweep
    trial, which fits them itself); `cli_class` and other `options` reach LightningCLI.
    """
    os.environ.setdefault("WANDB_MODE", "offline")
    with warnings.catch_warnings():
        # Given `args`, LightningCLI warns when the process has its own argv (a sweep's launcher and workers do).
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return _cli(args, cli_class, **options)


def _cli(args: list[str] | None, cli_class: type[GANCLI], **options: Any) -> GANCLI:
    return cli_class(
        GAN,
        GANDataModule,
        args=args,
        seed_everything_default=0,
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        **options,
    )

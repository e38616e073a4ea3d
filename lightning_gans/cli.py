"""`lightning-gans`: LightningCLI over the GAN module and the data module, with the paper's trainer defaults.

Names (loss, backbone, dataset) are validated while the classes are instantiated, before any data is read or any
step is taken, and a bad one is reported as a usage error that lists the valid names.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from .data import GANDataModule
from .module import GAN
from .progress import StepProgressBar
from .schedule import EvaluationSchedule

TRAINER_DEFAULTS = {
    "max_epochs": -1,
    # The data module shards its step-indexed stream per rank itself; Lightning must not wrap the sampler.
    "use_distributed_sampler": False,
    # Checkpoints are written by EvaluationSchedule, at the paper's evaluation points.
    "enable_checkpointing": False,
    "num_sanity_val_steps": 0,
    "limit_val_batches": 0,
    "log_every_n_steps": 50,
    "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
}


class GANCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(EvaluationSchedule, "evaluation")
        parser.link_arguments("data.sample_shape", "model.sample_shape", apply_on="instantiate")
        parser.link_arguments("seed_everything", "data.seed")

    def _parse_ckpt_path(self) -> None:
        """Keeps the command line authoritative on resume.

        LightningCLI would overwrite the parsed model arguments with the hyperparameters stored in `--ckpt_path`,
        which silently undoes `--model.steps` when a finished run is extended. A resume here passes the run's own
        saved config.yaml, so nothing is lost by skipping that merge.
        """

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Adds the step-counting progress bar unless progress bars are switched off."""
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        trainer_config = config.get("trainer", {})
        if trainer_config.get("enable_progress_bar") is not False and not trainer_config.get("fast_dev_run"):
            kwargs["callbacks"] = [*(trainer_config.get("callbacks") or []), StepProgressBar()]
        return super().instantiate_trainer(**kwargs)

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except ValueError as error:  # unknown names and out-of-range values, raised by the constructors
            self.parser.error(str(error))


def run(args: list[str] | None = None) -> GANCLI:
    """Runs one subcommand (`fit`, ...) and returns the CLI, whose model and trainer tests can inspect."""
    return GANCLI(
        GAN,
        GANDataModule,
        args=args,
        seed_everything_default=0,
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )


def main() -> None:
    """Console-script entry point: exit status 0 on success, as a shell expects."""
    run()


if __name__ == "__main__":
    main()

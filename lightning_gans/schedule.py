"""What happens at every evaluation point of a run: a fixed-noise sample grid and a checkpoint.

Evaluation points are counted in the paper's discriminator steps (PROTOCOL.md: every 5 "epochs" of 50,000
images, i.e. 3,906 steps at batch 64) and always include the last step, so a run of any length leaves a final
grid and a checkpoint to resume from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from torchvision.utils import save_image

from .module import GAN
from .samples import sample_picture

PAPER_EVAL_EVERY = 3906


def is_evaluation_step(d_step: int, every: int, last: int) -> bool:
    return d_step > 0 and (d_step % every == 0 or d_step == last)


def run_directory(trainer: pl.Trainer) -> Path:
    """The logger's version folder when there is one, so grids and checkpoints sit beside the metrics."""
    return Path(trainer.log_dir or trainer.default_root_dir)


class EvaluationSchedule(pl.Callback):
    """Saves `samples/step-NNNNNNNN.png` and `checkpoints/{last,step-NNNNNNNN}.ckpt` at each evaluation point.

    Args:
        every_n_steps: evaluation interval in discriminator steps.
        keep_step_checkpoints: also keep one checkpoint per evaluation point (the protocol scores every one).
    """

    def __init__(self, every_n_steps: int = PAPER_EVAL_EVERY, keep_step_checkpoints: bool = True) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps={every_n_steps!r} is not allowed; it must be an integer >= 1")
        self.every_n_steps = every_n_steps
        self.keep_step_checkpoints = keep_step_checkpoints

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        assert isinstance(pl_module, GAN), "EvaluationSchedule drives lightning_gans.module.GAN"
        if trainer.sanity_checking or not is_evaluation_step(
            pl_module.d_step, self.every_n_steps, pl_module.hparams.steps
        ):
            return
        pl_module.raise_if_diverged()
        directory = run_directory(trainer)
        name = f"step-{pl_module.d_step:08d}"
        if trainer.is_global_zero:
            self.save_grid(pl_module, directory / "samples" / f"{name}.png")
        self.save_checkpoint(trainer, directory / "checkpoints" / "last.ckpt")
        if self.keep_step_checkpoints:
            self.save_checkpoint(trainer, directory / "checkpoints" / f"{name}.ckpt")

    @staticmethod
    def save_grid(pl_module: GAN, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(sample_picture(pl_module.sample(pl_module.fixed_noise)), path)

    @staticmethod
    def save_checkpoint(trainer: pl.Trainer, path: Path) -> None:
        """Writes to a temporary name and renames, so a killed run never leaves half a checkpoint behind."""
        partial = path.with_name(path.name + ".partial")
        if trainer.is_global_zero:
            path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(partial)
        if trainer.is_global_zero:
            os.replace(partial, path)

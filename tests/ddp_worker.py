"""Trains a few steps under DDP with 2 CPU processes (gloo) and saves each rank's final state.

Run by tests/test_ddp.py as a real script: Lightning's DDP launcher starts the second process by re-running it.
"""

import sys
from pathlib import Path

import lightning.pytorch as pl
import torch

from lightning_gans.data import GANDataModule
from lightning_gans.evaluation.schedule import EvaluationSchedule
from lightning_gans.training.module import GAN


class SaveEachRank(pl.Callback):
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        state = {name: tensor.detach().clone() for name, tensor in pl_module.state_dict().items()}
        torch.save({"state": state, "d_step": pl_module.d_step}, self.directory / f"rank{trainer.global_rank}.pt")


class SaveScores(pl.Callback):
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        scores = {key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("eval/")}
        torch.save(scores, Path(trainer.default_root_dir) / f"scores{trainer.global_rank}.pt")


def main(directory: Path, loss: str, backbone: str, dataset: str, score: bool, conditional: bool) -> None:
    pl.seed_everything(0)
    data = GANDataModule(dataset, batch_size=16, conditional=conditional)
    model = GAN(
        loss=loss, backbone=backbone, sample_shape=data.sample_shape, steps=6, n_disc=2, num_classes=data.num_classes
    )
    torch.save(model.state_dict(), directory / "initial.pt")
    # Scoring: 600 fixed-noise samples split 300/300 over the ranks (1,290 for a conditional model, the fewest its
    # per-class scores take), domain features, at step 6.
    samples = 1290 if conditional else 600
    evaluation = [EvaluationSchedule(every_n_steps=6, samples=samples, extractor="domain", kid_subset_size=100)]
    trainer = pl.Trainer(
        default_root_dir=directory,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=-1,
        use_distributed_sampler=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        callbacks=[SaveEachRank(directory), *([*evaluation, SaveScores()] if score else [])],
    )
    trainer.fit(model, datamodule=data)


if __name__ == "__main__":
    flags = sys.argv[5:]
    main(Path(sys.argv[1]), *sys.argv[2:5], score="score" in flags, conditional="conditional" in flags)

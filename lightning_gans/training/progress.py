"""A progress bar in the paper's unit: discriminator steps out of the run's `steps`, with an ETA.

The training stream is endless (it is indexed by step), so Lightning's own bar has no total; this one counts
`GAN.d_step`, which also makes a resumed run start where it left off instead of at zero. The losses it shows
are read at the trainer's logging steps only: reading a device tensor waits for the device to finish its work,
and once per step that would stall the queue of a GPU that is a step ahead.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import TQDMProgressBar

from .module import is_logging_step

SHOWN_LOSSES = ("d_loss", "g_loss")
BEST_PREFIX = "eval/best_"


class StepProgressBar(TQDMProgressBar):
    # Both hooks: a run resumed mid-epoch gets on_train_start but no on_train_epoch_start.
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._count_d_steps(pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._count_d_steps(pl_module)

    def _count_d_steps(self, pl_module: pl.LightningModule) -> None:
        bar = self.train_progress_bar
        bar.reset(total=pl_module.hparams.steps)
        bar.initial = bar.n = pl_module.d_step
        bar.set_description("D steps")

    def watches_step(self, d_step: int, pl_module: pl.LightningModule) -> bool:
        """The steps it redraws after: every `refresh_rate` and the last (stepping.py: blocks of steps end there).

        Read from the refresh rate alone, not from whether this process shows the bar: blocks must be the same on
        every rank.
        """
        return self.refresh_rate > 0 and (d_step % self.refresh_rate == 0 or d_step == pl_module.hparams.steps)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        bar = self.train_progress_bar
        done = pl_module.d_step
        if bar is None or bar.disable or (done % self.refresh_rate and done != bar.total):
            return
        bar.n = done
        if is_logging_step(done, trainer.log_every_n_steps, bar.total):
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
        bar.refresh()

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """Lightning's items, the latest losses (one device sync per call) and the latest evaluation's objective."""
        metrics = trainer.callback_metrics
        losses = {name: float(metrics[name]) for name in SHOWN_LOSSES if name in metrics}
        return {**super().get_metrics(trainer, pl_module), **losses, **latest_objective(metrics)}


def latest_objective(metrics: dict[str, Any]) -> dict[str, float]:
    """The objective's latest value, short-named (`fd_domain`); the schedule logs it with its best as `eval/best_*`."""
    shown = {}
    for best in metrics:
        if best.startswith(BEST_PREFIX) and not best.endswith("_step"):
            latest = best.replace(BEST_PREFIX, "eval/")
            if latest in metrics:
                shown[latest.removeprefix("eval/").rsplit("_n", 1)[0]] = float(metrics[latest])
    return shown

"""What Lightning costs per paper step, and the two ways the GAN avoids paying it without changing the step.

A step of the 2-D mixtures' MLP takes about 2.6 ms on one CPU thread. Lightning's batch loop costs about 0.17 ms
per batch with nothing in it (hooks, progress counters, the data fetcher), more than the 5% of a step the bench
allows, and about 0.5 ms with a DataLoader batch, a logger and a callback; inside the step, `manual_backward` and
`LightningOptimizer.step` call the backward and optimizer-step hooks of every callback and of the module, tens of
microseconds per call. Together that was 1.1 ms a step (docs/performance.md); on the paper's network (170 ms a
step) it is under 1%.

- Step blocks: where the training stream is held in memory (`data/resident.py`), one Lightning batch is a block of
  consecutive paper steps, cut so that every step anything outside the step looks at ends a block: each logging
  step, the last step, and every step a callback watches. A callback says which steps it watches with a method
  `watches_step(d_step, pl_module) -> bool` (d_step: the steps done when its batch hooks run); a callback with a
  per-batch hook (BATCH_HOOKS) and no such method may watch any step, and then every block is one step, as under
  a Trainer limit counted in batches or optimizer steps, which a block could overrun. Lightning's batch counters
  are moved on by a block's extra steps, so its loggers write the same rows at the same steps and a checkpoint
  holds the same loop state. Blocks are a pure function of the configuration, the same on every rank (Lightning
  broadcasts once per batch under DDP).
- Direct calls: on a single device, with a precision plugin that neither scales the loss nor wraps the step
  (float32, float64, bf16 autocast), and where neither a callback nor the module listens to the hooks (STEP_HOOKS),
  `manual_backward` is `loss.backward()` and `LightningOptimizer.step` is the optimizer's step between Lightning's
  step counting (its `global_step`), which is all they do there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.plugins.precision import DoublePrecision, MixedPrecision, Precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden

MAX_BLOCK_STEPS = 50
"""The longest block: Lightning sees Ctrl-C and SIGTERM between blocks, and a block's batches are gathered at once."""

BATCH_HOOKS = ("on_train_batch_start", "on_train_batch_end")
"""Callback hooks Lightning calls once per batch: with blocks, once per block."""

STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
"""Hooks `manual_backward` and `LightningOptimizer.step` call, for every callback and the module."""

PLAIN_PRECISIONS = (Precision, MixedPrecision, DoublePrecision)
"""Precision plugins whose backward and optimizer step are the tensor's and the optimizer's (without a scaler)."""

StepWatch = Callable[[int, Any], bool]


def step_watchers(trainer: pl.Trainer) -> list[StepWatch] | None:
    """Each callback's `watches_step`; None where every step must end a batch (blocks of one step).

    That is a callback with a per-batch hook and no `watches_step`, or a Trainer limit that Lightning counts in
    batches or optimizer steps (max_steps, limit_train_batches, fast_dev_run), which a block could overrun.
    """
    limit = trainer.limit_train_batches
    if trainer.max_steps != -1 or trainer.fast_dev_run or not (isinstance(limit, float) and limit == 1.0):
        return None
    watchers = []
    for callback in trainer.callbacks:
        watch = getattr(callback, "watches_step", None)
        if watch is not None:
            watchers.append(watch)
        elif any(is_overridden(hook, callback, pl.Callback) for hook in BATCH_HOOKS):
            return None
    return watchers


def count_extra_batches(trainer: pl.Trainer, extra: int) -> None:
    """Moves Lightning's batch counters on by `extra`, so that a block of 1 + extra steps counts as that many batches.

    The counters decide when and at which step the loggers write (`_batches_that_stepped`) and are saved in a
    checkpoint's loop state; tests compare both with a run of one step per batch.
    """
    if extra:
        loop = trainer.fit_loop.epoch_loop
        loop.batch_progress.increment_by(extra, is_last_batch=loop.batch_progress.is_last_batch)
        loop._batches_that_stepped += extra


def direct_calls_allowed(trainer: pl.Trainer, module: pl.LightningModule) -> bool:
    """Whether `manual_backward` and `LightningOptimizer.step` come down to the backward and the step alone here."""
    plugin = trainer.precision_plugin
    listeners = [module, *trainer.callbacks]
    return (
        type(trainer.strategy) is SingleDeviceStrategy
        and type(plugin) in PLAIN_PRECISIONS
        and getattr(plugin, "scaler", None) is None
        and not is_overridden("backward", module, pl.LightningModule)
        and not any(is_overridden(hook, listener) for listener in listeners for hook in STEP_HOOKS)
    )


def counted_step(optimizer: LightningOptimizer) -> None:
    """`optimizer.step()` without the closure and hooks around it; Lightning counts it as it counts its own."""
    optimizer._on_before_step()
    optimizer.optimizer.step()
    optimizer._on_after_step()

"""Lightning outside `fit`: the bench, `lightning-gans evaluate` and `sample` use a model without training it.

An evaluator builder (schedule.EVALUATORS) asks a run's Trainer whether this process is rank zero and for a barrier;
a bare single-process Trainer answers both exactly as a run's does, so scoring outside `fit` builds its evaluators
with the run's own code.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch


def checked_device(text: str) -> torch.device:
    """The device a `--device` flag names, refused now if this machine cannot run on it."""
    try:
        device = torch.device(text)
    except RuntimeError as error:
        raise ValueError(f"--device {text!r} is not a device: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {text!r}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {text!r}: use cpu or cuda")
    return device


def accelerator_arguments(device: torch.device) -> dict[str, Any]:
    """The Trainer arguments that put it on `device` and nowhere else."""
    if device.type == "cpu":
        return {"accelerator": "cpu", "devices": 1}
    return {"accelerator": device.type, "devices": [device.index or 0]}


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning announces devices and tips at INFO on every Trainer; dozens of trainers would bury the tables."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def standalone_trainer(device: torch.device) -> pl.Trainer:
    """A single-process Trainer on `device` that logs, checkpoints and announces nothing."""
    with quiet_lightning():
        return pl.Trainer(
            **accelerator_arguments(device),
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
        )

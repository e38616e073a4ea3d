"""How long a sweep will take, said before the user has waited for it: measured, not guessed.

The paper's search is 100 trials of 15,625 steps: about three days on a 2-core CPU. A worker times the first steps
of its trial and records the rate in the trial; the launcher turns the first rate it sees into the sweep's projected
wall time, and says it once more when the first trial finishes, whose duration also holds its start-up and
evaluations (what dominates a short trial).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

STEP_RATE_ATTR = "d_steps_per_second"
"""User attr: the trial's D steps per second over its first timed steps (after a warm-up)."""
WARMUP_STEPS = 5
TIMED_STEPS = 20
SHORT_SWEEP = "make sweep TRIALS=5 STEPS=500 (lightning-gans sweep ... --trials 5 --model.steps=500), or make demo"
SHORT_SWEEP_AFTER = 2 * 3600
"""Seconds of projected sweep beyond which the projection suggests a short sweep: a first-time user who started the
paper's study on a CPU learns that minutes of work are an option; someone who chose a sweep of an hour does not need
telling."""


class MeasureStepRate(pl.Callback):
    """Times D steps WARMUP_STEPS..WARMUP_STEPS+TIMED_STEPS of a trial (Adam's lazy state and allocator growth come
    first) and records the rate; a trial shorter than that records nothing."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.started: float | None = None

    def watches_step(self, d_step: int, pl_module: Any) -> bool:
        """The two steps it reads the clock after (training/stepping.py: blocks of steps end there)."""
        return d_step in (WARMUP_STEPS, WARMUP_STEPS + TIMED_STEPS)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = pl_module.d_step
        if not self.watches_step(step, pl_module):
            return
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)  # the queue, not the launch rate
        if step == WARMUP_STEPS:
            self.started = time.perf_counter()
        elif self.started is not None:
            self.trial.set_user_attr(STEP_RATE_ATTR, TIMED_STEPS / (time.perf_counter() - self.started))


@dataclass(frozen=True)
class Projection:
    trials: int
    """Trials still to run."""
    workers: int
    seconds_per_trial: float
    basis: str
    """What the per-trial time was measured from, in words."""
    from_finished: bool
    """Measured on finished trials (start-up and evaluations included), not only on training steps."""
    pack: int = 1
    """Trials each worker trains at once as one pack; the measured rate is the pack's, shared by its trials."""

    @property
    def seconds(self) -> float:
        """Workers run trials side by side (their measured rates already include sharing the machine), each a pack
        at a time."""
        rounds = -(-self.trials // (self.workers * self.pack))
        return rounds * self.seconds_per_trial

    def describe(self) -> str:
        said = (
            f"projected: {plural(self.trials, 'trial')} on {plural(self.workers, 'worker')}"
            f"{f' in packs of {self.pack}' if self.pack > 1 else ''} take about "
            f"{duration(self.seconds)} ({duration(self.seconds_per_trial)} per trial, from {self.basis})."
        )
        return said + (f"\na short sweep instead: {SHORT_SWEEP}" if self.seconds > SHORT_SWEEP_AFTER else "")


def project(
    trials: list[FrozenTrial], remaining: int, workers: int, steps: int, evaluations: int, pack: int = 1
) -> Projection | None:
    """The sweep's remaining time from the study's trials so far; None until one has been timed.

    A finished trial's duration is the better measure (its evaluations are in it); before one finishes, the first
    recorded step rate gives the training time, and the projection says the evaluations come on top.
    """
    finished = [t for t in trials if t.state == TrialState.COMPLETE and t.duration is not None]
    if finished:
        seconds = sum(t.duration.total_seconds() for t in finished) / len(finished)
        basis = f"{plural(len(finished), 'finished trial')}, evaluations included"
        return Projection(remaining, workers, seconds, basis, from_finished=True, pack=pack)
    if not any(STEP_RATE_ATTR in t.user_attrs for t in trials):
        return None
    timed = next(t for t in trials if STEP_RATE_ATTR in t.user_attrs)
    rate = timed.user_attrs[STEP_RATE_ATTR]
    basis = f"{rate:.2f} D steps/s measured on trial {timed.number} x {steps} steps; its evaluations come on top"
    basis += f" ({plural(evaluations, 'evaluation')} per trial)"
    return Projection(remaining, workers, steps / rate, basis, from_finished=False, pack=pack)


def duration(seconds: float) -> str:
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"

"""Sweep throughput: complete trials per hour of real `lightning-gans sweep` processes, by number of workers.

Each measurement is the user's command in a fresh temporary journal and run folder, timed from launch to exit,
so process start-up, study creation, trial claiming, training, evaluation and checkpoints all count: at a small
budget those fixed costs are what more workers can hide. The domain classifier and the reference statistics are
cached before the first measurement, so no sweep pays (or races its workers to compute) a one-time cost.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from ..data import GANDataModule
from ..defaults import EVALUATION_BATCH_SIZE
from ..search.studies import open_storage, state_counts
from ..search.sweep import SweepSettings
from .evaluation import EvaluationSettings, run_evaluator, untrained_generator

EXTRACTOR = "domain"


@dataclass(frozen=True)
class SweepBenchSettings:
    loss: str
    trials: int
    steps: int
    eval_samples: int
    workers: tuple[int, ...]
    seed: int


def study_settings(bench: SweepBenchSettings, root: Path) -> SweepSettings:
    """One evaluation per trial, at its last step, scored offline; CSV logs only."""
    trial = {
        "model.steps": bench.steps,
        "evaluation.every_n_steps": bench.steps,
        "evaluation.samples": bench.eval_samples,
        "evaluation.extractor": EXTRACTOR,
        "run.root": str(root),
        "run.wandb": "false",
    }
    return SweepSettings(
        loss=bench.loss,
        trials=bench.trials,
        storage=str(root / "optuna.journal"),
        seed=bench.seed,
        trial=tuple(f"--{key}={value}" for key, value in trial.items()),
    )


def sweep_command_line(settings: SweepSettings, workers: int) -> list[str]:
    """The `lightning-gans sweep` invocation a user would type for these settings."""
    return [
        sys.executable, "-m", "lightning_gans.cli", "sweep", "--loss", settings.loss, "--dataset", settings.dataset,
        "--trials", str(settings.target_trials), "--storage", str(settings.storage), "--seed", str(settings.seed),
        "--workers", str(workers), *settings.trial,
    ]  # fmt: skip


def time_sweep(settings: SweepSettings, workers: int) -> dict[str, Any]:
    command = sweep_command_line(settings, workers)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with status {result.returncode}:\n{result.stderr[-3000:]}")
    study = optuna.load_study(study_name=settings.study_name, storage=open_storage(settings.storage).storage)
    complete = state_counts(study)[TrialState.COMPLETE]
    return {"workers": workers, "trials": complete, "seconds": seconds, "trials_per_hour": complete * 3600 / seconds}


def cache_evaluation_inputs(bench: SweepBenchSettings, data: GANDataModule) -> None:
    """The classifier and the reference statistics the trials will read, built now by the path a run takes."""
    cpu = torch.device("cpu")
    settings = EvaluationSettings(bench.eval_samples, EVALUATION_BATCH_SIZE, repeats=1, device=cpu, seed=0)
    run_evaluator(EXTRACTOR, False, untrained_generator(data, settings), data, settings)


def sweep_throughput(bench: SweepBenchSettings, data: GANDataModule) -> dict[str, Any]:
    """Trials per hour for each worker count, and each count's speed-up over the first."""
    cache_evaluation_inputs(bench, data)
    runs = []
    for workers in bench.workers:
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as root:
            runs.append(time_sweep(study_settings(bench, Path(root)), workers))
    for run in runs:
        run["speedup"] = run["trials_per_hour"] / runs[0]["trials_per_hour"]
    example = sweep_command_line(study_settings(bench, Path("<tmp>")), bench.workers[0])
    return {"command": " ".join(example[1:]), "runs": runs}

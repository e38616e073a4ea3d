"""What `fit` tells the user when it ends: the best score, where everything went, and what to run next.

A run leaves several files in several folders (metrics, sample grids, checkpoints, its config, an offline W&B run);
the summary names each, so nobody has to know the layout to find them, and it says in words whether the score is
an Inception FID or an FD in the project's own features, which published numbers cannot be compared with.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.loggers import WandbLogger

from .evaluation.schedule import EvaluationSchedule, run_directory


def feature_space_note(key: str) -> str:
    """Says which features a score key's FD/IS/KID were computed in, and whether the literature's numbers compare."""
    if "_inception_" in key:
        return "Inception features: the FID the literature reports"
    if "_domain_" in key:
        return (
            "domain features (the project's own classifier, because no Inception weights were found): "
            "an FD, not an FID, and not comparable with published FIDs"
        )
    return ""


def fit_summary(trainer: pl.Trainer) -> str:
    directory = run_directory(trainer)
    schedule = next((c for c in trainer.callbacks if isinstance(c, EvaluationSchedule)), None)
    lines = [f"run finished: {directory}"]
    if schedule is not None and schedule.best_score is not None:
        key = schedule.selection_key
        lines.append(f"  best {key} = {schedule.best_score:.6g} at D step {schedule.best_step}")
        if note := feature_space_note(key):
            lines.append(f"    ({note})")
        lines.append(f"  best checkpoint: {directory / 'checkpoints' / 'best.ckpt'}")
    elif schedule is not None:
        lines.append("  no scores: the run evaluated nothing (extractor none, or no evaluation point reached)")
    grids = sorted((directory / "samples").glob("step-*.png"))
    lines += [f"  metrics: {directory / 'metrics.csv'}", f"  sample grids: {directory / 'samples'}/ ({len(grids)})"]
    config = directory / "config.yaml"
    if config.is_file():
        lines.append(f"  config: {config} (train it again: lightning-gans fit --config {config})")
    lines += wandb_lines(trainer)
    best = directory / "checkpoints" / "best.ckpt"
    if best.is_file():
        lines.append(f"  next: lightning-gans evaluate --ckpt_path {best}")
        lines.append(f"        lightning-gans sample --ckpt_path {best} --n 10000 --out {directory / 'samples.npz'}")
    return "\n".join(lines)


def wandb_lines(trainer: pl.Trainer) -> list[str]:
    """An offline run is one command away from the cloud; an online one has a page."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            experiment = logger.experiment
            if experiment.settings.mode == "offline":
                folder = Path(experiment.dir).parent
                return [f"  W&B (offline): {folder} (upload it: wandb sync {folder})"]
            return [f"  W&B: {experiment.url}"]
    return []

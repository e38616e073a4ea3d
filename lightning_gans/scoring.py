"""Scoring a saved checkpoint the way its run scored it: the run's evaluators, settings and fixed noise.

`lightning-gans evaluate` takes any checkpoint a run or a sweep trial wrote (`best.ckpt`, `last.ckpt`; a finished
trial keeps its best.ckpt without the optimiser state, which loads the same way). The GAN comes from the checkpoint;
the dataset and the `evaluation` settings (extractor, samples, batch size, KID and diagnostics settings) come from
the config.yaml that `fit` and every trial save in the run's folder, two levels above the checkpoint. The
evaluators are built by the run's own EvaluationSchedule code and score the run's fixed evaluation noise, so a
checkpoint scored with its run's settings gets the scores its run logged at that step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import yaml

from .atomic import atomic_path
from .data import GANDataModule
from .evaluation.features import SCORE_NOISE_SEED, Evaluator
from .evaluation.schedule import NO_SCORES, EvaluationSchedule, measure
from .evaluation.standalone import standalone_trainer
from .inputs import check_config_file, checkpoint_hyperparameters
from .training.module import GAN

CONFIG_FILE = "config.yaml"


def run_config_path(checkpoint: Path) -> Path:
    """`<run>/checkpoints/best.ckpt` -> `<run>/config.yaml`."""
    return checkpoint.parent.parent / CONFIG_FILE


def run_config(checkpoint: Path) -> dict[str, Any]:
    """The config the checkpoint's run saved, or nothing when the checkpoint was moved away from its run."""
    path = run_config_path(checkpoint)
    if not path.is_file():
        return {}
    check_config_file(str(path))
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def load_gan(checkpoint: Path, device: torch.device) -> GAN:
    """The checkpoint's GAN on `device`, at its step; a file that is not a GAN's checkpoint is a ValueError."""
    checkpoint_hyperparameters(str(checkpoint))
    return GAN.load_from_checkpoint(checkpoint, map_location=device).to(device)


def run_data(
    config: dict[str, Any], checkpoint: Path, dataset: str | None, data_dir: str | None, conditional: bool = False
) -> GANDataModule:
    """The run's data settings; a dataset named on the command line instead brings none of the run's others.

    A conditional model's data serves labels (its per-class scores compare against the test labels) whatever the
    config says: the checkpoint knows what it was trained on.
    """
    settings = dict(config.get("data") or {})
    if dataset is not None and dataset != settings.get("name"):
        settings = {"name": dataset}
    settings["conditional"] = conditional
    if data_dir is not None:
        settings["data_dir"] = data_dir
    if "name" not in settings:
        raise ValueError(
            f"ckpt_path {checkpoint} has no {CONFIG_FILE} at {run_config_path(checkpoint)} to name its dataset; "
            "give it with --data"
        )
    return GANDataModule(**settings)


def run_schedule(config: dict[str, Any], **overrides: Any) -> EvaluationSchedule:
    """The run's evaluation settings, with the values of `overrides` that are not None in their place."""
    settings = {**(config.get("evaluation") or {}), **{k: v for k, v in overrides.items() if v is not None}}
    return EvaluationSchedule(**settings)


@dataclass(frozen=True)
class CheckpointScores:
    checkpoint: str
    step: int
    loss: str
    backbone: str
    dataset: str
    samples: int
    seed: int
    extractor: str | None
    """The features FD, IS and KID were computed in; None when no evaluator used features (the mixtures)."""
    weights_id: str | None
    scores: dict[str, float]

    def report(self) -> list[str]:
        """What `evaluate` prints: what was scored, in which features, then one score per line under its run key."""
        noise = " (the run's evaluation noise)" if self.seed == SCORE_NOISE_SEED else ""
        lines = [
            f"{self.checkpoint}: {self.loss} on {self.backbone}, {self.dataset}, step {self.step}",
            f"{self.samples} samples from noise seed {self.seed}{noise}",
        ]
        if self.extractor == "inception":
            lines.append(f"features: inception (weights {self.weights_id}); FD is the Inception FID")
        elif self.extractor is not None:
            lines.append(
                f"features: {self.extractor} (weights {self.weights_id}); FD is the domain FD, in the project's "
                "classifier's features, NOT Inception FID: compare it only with domain FDs of the same weights"
            )
        return lines + [f"{key} = {value:.10g}" for key, value in self.scores.items()]

    def write(self, path: Path) -> None:
        with atomic_path(path, suffix=".json") as temporary:
            temporary.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


def evaluate_checkpoint(
    checkpoint: Path,
    device: torch.device,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    seed: int = SCORE_NOISE_SEED,
    progress: bool = False,
    **evaluation: Any,
) -> CheckpointScores:
    """Every score of the run's evaluation of `checkpoint`, on the samples of noise `seed`.

    `evaluation` overrides the run's evaluation settings (extractor, samples, batch_size; None keeps the run's).
    """
    module = load_gan(checkpoint, device)
    config = run_config(checkpoint)
    datamodule = run_data(config, checkpoint, dataset, data_dir, module.conditional)
    schedule = run_schedule(config, **evaluation)
    if schedule.extractor == NO_SCORES:
        raise ValueError(f"the run was not scored (extractor {NO_SCORES!r}); give --extractor to score it")
    datamodule.spec.check_evaluation_samples(schedule.samples)
    built = schedule.build_evaluators(standalone_trainer(device), module, datamodule)
    if not built:
        raise ValueError(f"nothing can score {datamodule.spec.name} with extractor {schedule.extractor!r}")
    evaluators = [replace(evaluator, noise_seed=seed) for evaluator in built]
    features = next((evaluator.extractor for evaluator in evaluators if isinstance(evaluator, Evaluator)), None)
    return CheckpointScores(
        checkpoint=str(checkpoint),
        step=module.d_step,
        loss=module.hparams.loss,
        backbone=module.hparams.backbone,
        dataset=datamodule.spec.name,
        samples=schedule.samples,
        seed=seed,
        extractor=None if features is None else features.name,
        weights_id=None if features is None else features.weights_id,
        scores=measure(evaluators, module, 0, 1, progress),
    )

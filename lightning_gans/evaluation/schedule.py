"""What happens at every evaluation point of a run: a sample grid, the scores, and checkpoints.

Evaluation points are counted in the paper's discriminator steps (every 5 "epochs" of the dataset: 3,906 steps at
batch 64 for 50,000-image epochs, 12,656 for CelebA; docs/protocol.md) and always include the last step. A trial's
score is the best value of its objective over its evaluation points (the paper's: the minimum FD), so the schedule
keeps the best score, the step it came from and that checkpoint.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import Logger, WandbLogger
from torchvision.utils import save_image

from ..atomic import atomic_path
from ..data import GANDataModule
from ..data.mixtures import MIXTURES
from ..defaults import EVALUATION_BATCH_SIZE, EVALUATION_SAMPLES
from ..metrics.class_scores import ClassConditionalScores, ClassReference
from ..metrics.classifier import DOMAIN_DATASETS, classifier_path, train_domain_classifier, training_notice
from ..metrics.diagnostics import FeatureDiagnostics
from ..metrics.extractors import build_extractor, default_extractor_name
from ..metrics.polygon_scores import TARGETS as POLYGON_TARGETS
from ..metrics.polygon_scores import InversionBudget
from ..metrics.reference import load_or_compute_class_reference, load_or_compute_reference
from ..metrics.scores import GenerativeScores
from ..registry import Registry
from ..training.module import GAN
from .classes import ClassEvaluator, check_conditional_samples
from .features import Evaluator
from .objectives import AUTO as OBJECTIVE_AUTO
from .objectives import improves, resolve_objective
from .samples import sample_picture
from .synthetic import MixtureEvaluator, PolygonEvaluator, polygon_threshold

AUTO = "auto"
NO_SCORES = "none"


def is_evaluation_step(d_step: int, every: int, last: int) -> bool:
    """Every `every` steps and at the last; a multiple closer than `every` to the end is merged into the end.

    The reference evaluates every 5 of its epochs, and an epoch is not a whole number of batches: 20 epochs of
    Fashion-MNIST are 15,625 steps and 4 points (3,906 x 1..3 and 15,625), not 5 with two one step apart.
    """
    if d_step == last:
        return True
    return d_step > 0 and d_step % every == 0 and last - d_step >= every


def run_directory(trainer: pl.Trainer) -> Path:
    """The logger's version folder when there is one, so grids and checkpoints sit beside the metrics."""
    return Path(trainer.log_dir or trainer.default_root_dir)


@dataclass(frozen=True)
class RunOutputs:
    """Where one run's evaluation goes: its folder, its loggers, its checkpoint writer, the scores it exposes."""

    directory: Path
    loggers: Sequence[Logger]
    save: Callable[[Path], None]
    """Writes the run's checkpoint to a path (atomically)."""
    metrics: dict[str, Any]
    """The run's latest scores by key (a trainer's callback_metrics)."""
    rank: int = 0
    world_size: int = 1
    progress: bool = False

    @property
    def is_global_zero(self) -> bool:
        return self.rank == 0


def trainer_outputs(trainer: pl.Trainer, save: Callable[[Path], None]) -> RunOutputs:
    """A run's own outputs: its trainer's loggers and log folder, a progress bar where the trainer shows one."""
    return RunOutputs(
        directory=run_directory(trainer),
        loggers=trainer.loggers,
        save=save,
        metrics=trainer.callback_metrics,
        rank=trainer.global_rank,
        world_size=trainer.world_size,
        progress=trainer.is_global_zero and trainer.progress_bar_callback is not None,
    )


class EvaluationSchedule(pl.Callback):
    """Grid, scores and checkpoints at each evaluation point.

    Writes `samples/step-NNNNNNNN.png`, `checkpoints/{last,best,step-NNNNNNNN}.ckpt` and logs the scores under
    keys that name the extractor and sample count (e.g. `eval/fid_inception_n10000`, `eval/fd_domain_n10000`).

    Args:
        every_n_steps: evaluation interval in discriminator steps; by default the dataset's (the reference's every 5
            "epochs": 3,906 steps, 12,656 on CelebA; lightning_gans/data/datasets.py holds the table).
        samples: generated samples per evaluation (the paper: 10,000), scored against as many test images.
        extractor: `inception`, `domain`, `none` (grids and checkpoints only), or `auto`: Inception when its
            weights are available offline, else the project's domain classifier (trained on first use).
        inception_weights: path to the FID Inception weights (also $LIGHTNING_GANS_INCEPTION_WEIGHTS). With
            `extractor: inception` and no local weights, they are downloaded (torch hub cache).
        inception_antialias: resize to 299 with torch's antialiased bilinear filter instead of the TF1-compatible
            resize behind published FIDs (a different metric: its cached statistics are kept apart).
        batch_size: generation and feature-extraction batch size.
        is_splits: Inception Score splits; 1 is the paper's single score.
        kid_subsets, kid_subset_size: KID's subsampling.
        keep_step_checkpoints: also keep one checkpoint per evaluation point (off by default: best.ckpt and
            last.ckpt are what resuming and scoring need, and each checkpoint of the paper's network with its
            optimiser state is about 158 MB).
        objective: the score whose best value over the evaluations is the run's (best.ckpt, a trial's value):
            `auto` is FD, polygon F1 on polygons, modes covered on the Gaussian mixtures (see objectives.py).
        diagnostics: also measure mode collapse on the FD features at every evaluation (improved precision and
            recall, density and coverage, birthday-paradox support, class coverage with the domain extractor).
        polygon_targets, inversion_restarts, inversion_steps: polygon recall's test polygons and the budget of
            inverting G for each (docs/metrics.md).
    """

    def __init__(
        self,
        every_n_steps: int | None = None,
        samples: int = EVALUATION_SAMPLES,
        extractor: str = AUTO,
        inception_weights: str | None = None,
        inception_antialias: bool = False,
        batch_size: int = EVALUATION_BATCH_SIZE,
        is_splits: int = 1,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        keep_step_checkpoints: bool = False,
        objective: str = OBJECTIVE_AUTO,
        diagnostics: bool = True,
        polygon_targets: int = POLYGON_TARGETS,
        inversion_restarts: int = 4,
        inversion_steps: int = 300,
    ) -> None:
        for name, value in (("every_n_steps", every_n_steps), ("samples", samples), ("batch_size", batch_size)):
            if value is not None and value < 1:
                raise ValueError(f"{name}={value!r} is not allowed; it must be an integer >= 1")
        allowed = (AUTO, NO_SCORES, "inception", "domain")
        if extractor not in allowed:
            raise ValueError(f"unknown feature extractor {extractor!r}; valid extractor names: {', '.join(allowed)}")
        self.every_n_steps = every_n_steps
        self.samples = samples
        self.extractor = extractor
        self.inception_weights = inception_weights
        self.inception_antialias = inception_antialias
        self.batch_size = batch_size
        self.is_splits = is_splits
        self.kid_subsets = kid_subsets
        self.kid_subset_size = min(kid_subset_size, samples)
        self.keep_step_checkpoints = keep_step_checkpoints
        self.objective = objective
        self.diagnostics = diagnostics
        self.polygon_targets = polygon_targets
        self.inversion_budget = InversionBudget(restarts=inversion_restarts, steps=inversion_steps)
        self.evaluators: list[Any] = []
        self.selection: str | None = None  # the objective's name once resolved for the dataset
        self.selection_key: str | None = None
        self.best_score: float | None = None
        self.best_step: int | None = None
        self.last_scores: dict[str, float] = {}
        self.last_step: int | None = None

    # -- setup: choose the extractor and load the reference statistics before the first step ----------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = trainer.datamodule
        if self.every_n_steps is None:
            if not isinstance(datamodule, GANDataModule):
                raise ValueError("every_n_steps must be given when training without a GANDataModule (no dataset table)")
            self.every_n_steps = datamodule.paper_eval_every
        if stage != "fit" or self.extractor == NO_SCORES or self.evaluators:
            return
        if not isinstance(datamodule, GANDataModule):
            return
        self.evaluators = self.build_evaluators(trainer, pl_module, datamodule)
        self.choose_objective(datamodule.spec.name)

    def build_evaluators(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, datamodule: GANDataModule
    ) -> list[Any]:
        """The evaluators the dataset's DatasetSpec names, less those that cannot score this run.

        `lightning-gans evaluate` builds them here too, so a checkpoint is scored by what scored it in its run.
        """
        names = (*datamodule.spec.evaluators, *((CLASSES,) if getattr(pl_module, "conditional", False) else ()))
        builders = [EVALUATORS.get(name) for name in names]
        built = (build(self, trainer, pl_module, datamodule) for build in builders)
        return [evaluator for evaluator in built if evaluator is not None]

    def choose_objective(self, dataset: str) -> None:
        """The objective's key among what the evaluators measure; one they do not measure is an error now."""
        self.selection = resolve_objective(self.objective, dataset)
        available = {name: key for evaluator in self.evaluators for name, key in evaluator.objectives.items()}
        if not self.evaluators:
            return
        if self.selection not in available:
            raise ValueError(
                f"objective {self.selection!r} is not measured on {dataset} with extractor {self.extractor!r}; "
                f"available objectives: {', '.join(available)}"
            )
        self.selection_key = available[self.selection]

    def extractor_name(self, dataset: str) -> str:
        if self.extractor != AUTO:
            return self.extractor
        name = default_extractor_name(self.inception_weights)
        if name == "domain" and dataset not in DOMAIN_DATASETS:
            warnings.warn(
                f"no Inception weights and no domain classifier for {dataset}: no FD, IS or KID", stacklevel=1
            )
            return NO_SCORES
        return name

    # -- every evaluation point ------------------------------------------------------------------------------

    def watches_step(self, d_step: int, pl_module: GAN) -> bool:
        """The evaluation points: a block of steps ends at each (training/stepping.py)."""
        return is_evaluation_step(d_step, self.every_n_steps, pl_module.hparams.steps)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        assert isinstance(pl_module, GAN), "EvaluationSchedule drives lightning_gans.training.module.GAN"
        if not is_evaluation_step(pl_module.d_step, self.every_n_steps, pl_module.hparams.steps):
            return
        pl_module.raise_if_diverged()
        self.evaluate(pl_module, trainer_outputs(trainer, lambda path: self.save_checkpoint(trainer, path)))

    def evaluate(self, module: GAN, outputs: RunOutputs) -> None:
        """One evaluation point of `module`: its grid, its scores, its checkpoints, written where `outputs` says.

        A run's own trainer is one such place (`trainer_outputs`); a member of a pack is another
        (evaluation/packs.py), so that a packed trial writes exactly what the same trial trained alone writes.
        """
        name = f"step-{module.d_step:08d}"
        if outputs.is_global_zero:
            self.publish_grid(outputs.loggers, module, outputs.directory / "samples" / f"{name}.png")
        improved = self.score(module, outputs)
        outputs.save(outputs.directory / "checkpoints" / "last.ckpt")
        if self.keep_step_checkpoints:
            outputs.save(outputs.directory / "checkpoints" / f"{name}.ckpt")
        if improved:
            outputs.save(outputs.directory / "checkpoints" / "best.ckpt")

    def score(self, module: GAN, outputs: RunOutputs) -> bool:
        """Scores the generator, logs the scores and says whether the objective improved."""
        if not self.evaluators:
            return False
        scores = measure(self.evaluators, module, outputs.rank, outputs.world_size, outputs.progress)
        self.last_scores, self.last_step = dict(scores), module.d_step
        value = scores[self.selection_key]
        improved = improves(value, self.best_score, self.selection)
        if improved:
            self.best_score, self.best_step = value, module.d_step
        best_key = self.selection_key.replace("eval/", "eval/best_")
        scores.update({best_key: self.best_score, f"{best_key}_step": float(self.best_step)})
        for logger in outputs.loggers:
            logger.log_metrics(scores, step=module.d_step)
        outputs.metrics.update({key: torch.tensor(value) for key, value in scores.items()})
        return improved

    @staticmethod
    def publish_grid(loggers: Sequence[Logger], module: GAN, path: Path) -> None:
        picture = sample_picture(module.grid_samples())
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(picture, path)
        for logger in loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="samples", images=[picture], step=module.d_step)

    @staticmethod
    def save_checkpoint(trainer: pl.Trainer, path: Path) -> None:
        """Written atomically, so a killed run never leaves half a checkpoint behind.

        Every rank calls trainer.save_checkpoint (it ends in a barrier); only rank 0 writes, so only it needs the
        temporary file, and the other ranks' path is never opened.
        """
        if not trainer.is_global_zero:
            trainer.save_checkpoint(path, weights_only=False)
            return
        with atomic_path(path, suffix=".ckpt") as temporary:
            trainer.save_checkpoint(temporary, weights_only=False)  # optimiser state included: a run resumes from it

    # -- the best score survives a resume ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best_step": self.best_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = state_dict["best_score"]
        self.best_step = state_dict["best_step"]


def measure(evaluators: list[Any], module: GAN, rank: int, world_size: int, progress: bool) -> dict[str, float]:
    """Every evaluator's scores of `module`, under their keys.

    Autocast is off whatever the trainer's precision: samples, features and statistics are float32 (float64
    where the metrics need it), so a run trained under bf16 is scored exactly like any other.
    """
    scores: dict[str, float] = {}
    with torch.autocast(module.device.type, enabled=False):
        for evaluator in evaluators:
            scores.update(evaluator.score(module, rank, world_size, progress))
    return scores


def _as_str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def ensure_domain_classifier(trainer: pl.Trainer, pl_module: pl.LightningModule, datamodule: GANDataModule) -> None:
    """Trains the dataset's domain classifier on first use (rank 0; the others wait for it)."""
    dataset = datamodule.spec.name
    if classifier_path(dataset).is_file():
        return
    if trainer.is_global_zero:
        print(training_notice(dataset), file=sys.stderr)
        data_dir, device = _as_str(datamodule.data_dir), str(pl_module.device)
        record = train_domain_classifier(dataset, data_dir=data_dir, device=device)
        print(record.describe(), file=sys.stderr)
    trainer.strategy.barrier("domain classifier")


def feature_evaluator(
    schedule: EvaluationSchedule, trainer: pl.Trainer, pl_module: pl.LightningModule, datamodule: GANDataModule
) -> Evaluator | None:
    """FD, IS, KID (and the diagnostics) in the chosen extractor's features; None when no extractor applies."""
    dataset = datamodule.spec.name
    name = schedule.extractor_name(dataset)
    if name == NO_SCORES:
        return None
    if name == "domain":
        ensure_domain_classifier(trainer, pl_module, datamodule)
    extractor = build_extractor(
        name,
        dataset,
        inception_weights=schedule.inception_weights,
        inception_antialias=schedule.inception_antialias,
        inception_download=schedule.extractor == "inception",
        data_dir=_as_str(datamodule.data_dir),
        device=pl_module.device,
    )
    test_images = datamodule.split("test")

    def reference() -> Any:
        return load_or_compute_reference(
            datamodule.cache_name,
            "test",
            test_images,
            extractor,
            schedule.samples,
            schedule.batch_size,
            pl_module.device,
        )

    # One process computes and caches the statistics; the others read the file it wrote.
    statistics = reference() if trainer.is_global_zero else None
    trainer.strategy.barrier("reference statistics")
    statistics = statistics or reference()
    diagnostics = FeatureDiagnostics(statistics.bank, class_logits=name == "domain") if schedule.diagnostics else None
    return Evaluator(
        extractor=extractor,
        reference=statistics,
        samples=schedule.samples,
        batch_size=schedule.batch_size,
        metric=GenerativeScores(
            statistics,
            is_splits=schedule.is_splits,
            kid_subsets=schedule.kid_subsets,
            kid_subset_size=schedule.kid_subset_size,
            diagnostics=diagnostics,
        ),
    )


def polygon_evaluator(
    schedule: EvaluationSchedule, trainer: pl.Trainer, pl_module: pl.LightningModule, datamodule: GANDataModule
) -> PolygonEvaluator:
    """Polygon precision, recall and F1 of samples against the train and test polygons (polygon inversion)."""
    reference = datamodule.split("train").data  # uint8: a quarter of float's memory; scoring converts
    test = datamodule.split("test").data
    if not 1 <= schedule.polygon_targets <= len(test):
        raise ValueError(f"polygon_targets={schedule.polygon_targets} must be in [1, {len(test)}] (test polygons)")
    sides = datamodule.polygon_sides
    threshold = polygon_threshold(reference, test, sides) if trainer.is_global_zero else None
    trainer.strategy.barrier("polygon threshold")
    threshold = threshold or polygon_threshold(reference, test, sides)
    return PolygonEvaluator(
        reference=reference,
        targets=test[: schedule.polygon_targets],
        threshold=threshold,
        samples=schedule.samples,
        batch_size=schedule.batch_size,
        budget=schedule.inversion_budget,
    )


def mixture_evaluator(
    schedule: EvaluationSchedule, trainer: pl.Trainer, pl_module: pl.LightningModule, datamodule: GANDataModule
) -> MixtureEvaluator:
    """Modes covered and the high-quality share, against the mixture registered under the dataset's name."""
    return MixtureEvaluator(MIXTURES[datamodule.spec.name], schedule.samples, schedule.batch_size)


def class_evaluator(
    schedule: EvaluationSchedule, trainer: pl.Trainer, pl_module: pl.LightningModule, datamodule: GANDataModule
) -> ClassEvaluator | None:
    """Class consistency and intra-class FD of a conditional GAN (evaluation/classes.py); None when nothing is
    scored (extractor `none`)."""
    if schedule.extractor == NO_SCORES:
        return None
    check_conditional_samples(schedule.samples, pl_module.hparams.num_classes)
    ensure_domain_classifier(trainer, pl_module, datamodule)
    classifier = build_extractor(
        "domain", datamodule.spec.name, data_dir=_as_str(datamodule.data_dir), device=pl_module.device
    )

    def reference() -> ClassReference:
        test = datamodule.split("test")
        return load_or_compute_class_reference(
            datamodule.cache_name, test, classifier, schedule.batch_size, pl_module.device
        )

    statistics = reference() if trainer.is_global_zero else None
    trainer.strategy.barrier("class reference statistics")
    statistics = statistics or reference()
    return ClassEvaluator(classifier, ClassConditionalScores(statistics), schedule.samples, schedule.batch_size)


EvaluatorBuilder = Callable[[EvaluationSchedule, pl.Trainer, pl.LightningModule, GANDataModule], Any]
EVALUATORS: Registry[EvaluatorBuilder] = Registry("evaluator")
"""What a dataset's runs are scored with, by the names its DatasetSpec lists in `evaluators`. A builder returns None
when it cannot score this run (no feature extractor available). An evaluator is a dataclass with `objectives`,
`score(module, rank, world_size, progress)` and a `noise_seed` field, which `lightning-gans evaluate --seed`
replaces."""
EVALUATORS.register("features", feature_evaluator)
EVALUATORS.register("polygons", polygon_evaluator)
EVALUATORS.register("mixture", mixture_evaluator)
CLASSES = "classes"
EVALUATORS.register(CLASSES, class_evaluator)
"""Added to the dataset's evaluators for a conditional GAN."""

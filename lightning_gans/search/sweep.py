"""The paper's search for one loss: an Optuna study of GAN trials, run by one or many worker processes.

A study is (loss, dataset, space). Trial 0 is the loss's authors' setting; the rest are drawn at random from the
space, with each trial's parameters a pure function of (seed, trial number) so that the sweep is reproducible
whichever worker happens to run which trial. A trial trains one GAN with the paper's protocol and its value is
the best value of its objective over its evaluation points (the paper's minimum FD; polygon F1 or mixture modes
covered on the synthetic sets); each evaluation is also reported as an intermediate value, so the dashboard shows
learning curves. Running the same sweep again continues it until `trials` trials are complete.

A trial that diverges (a non-finite loss, or a non-finite sample at an evaluation) stops training there and is still
COMPLETE, as in the reference code, where a checkpoint with NaN samples scores a sentinel and a trial keeps its best
checkpoint: its value is the best of the evaluations before divergence, or the worst possible value (+inf when the
objective is minimised, -inf when maximised) if none ran, so it counts as a trial spent and is never the best. The
step and the reason are kept as the trial attributes `diverged_at` and `divergence`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import optuna
import torch
from jsonargparse.typing import PositiveFloat, PositiveInt
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from optuna.trial import TrialState

from ..atomic import atomic_path
from ..data import DATASETS
from ..defaults import AUTO_PACK, GRACE_SECONDS, HEARTBEAT_SECONDS
from ..evaluation.objectives import direction, resolve_objective
from ..evaluation.previews import SAMPLE_POINTS_ATTR, has_point_samples, point_preview
from ..evaluation.schedule import EvaluationSchedule
from ..registry import UnknownNameError
from ..resources import CONFIGS
from ..runs import GANCLI, RunOptions, parsed_config, run
from ..training.losses import LOSSES
from ..training.module import DivergedError, check_precision
from ..training.nets import BACKBONES
from .projection import MeasureStepRate
from .spaces import SPACES, authors_trial_params, paper_trials, search_space, trial_arguments
from .studies import (
    CONDITIONAL_ATTR,
    CONDITIONAL_SUFFIX,
    EVALUATIONS_ATTR,
    StudyStorage,
    draw_number,
    stored_path,
)

SAMPLERS = ("random", "tpe")
PRUNERS = ("none", "median")
RUN_GROUPS = ("model", "data", "trainer", "evaluation", "run")
"""The groups of a run's config (lightning_gans/runs.py): a sweep passes arguments in them on to every trial."""


@dataclass(frozen=True)
class SweepSettings:
    """One study: which search it is, where it is kept, how many trials it wants and how they are drawn.

    How a trial trains (length, evaluation, precision, logging, where its files go) is not a setting of the sweep: it
    is the trial's `fit` config, the base configs of (dataset, backbone, loss) plus `trial` arguments plus the trial's
    drawn values (`trial_run_arguments`). The study records what its trials share (`TrialProtocol`).

    Args:
        loss: the loss searched.
        dataset: what every trial trains on.
        space: the paper's search space, wide or narrow.
        backbone: the networks; by default the dataset's (its registry entry).
        trials: complete trials wanted; by default the paper's 100 (wide space) or 50 (narrow).
        conditional: train class-conditional GANs (data.conditional: labels to both networks, scored per class). The
            condition is part of the protocol, so a conditional study is a study of its own, named apart.
        study: the study's name; by default <loss>-<dataset>-<space>, with -conditional for a conditional study.
        storage: a journal file or an RDB URL; by default runs/optuna.journal.
        sampler: random (the paper's) or tpe.
        pruner: none (the paper's) or median.
        seed: the search's seed; each trial's draws and training seed derive from it and the trial's number.
        heartbeat_seconds: how often a worker stamps the trial it runs.
        grace_seconds: heartbeat age after which a running trial counts as orphaned and is retried.
        pack: trials a worker trains at once as one pack (training/packed_module.py), each exactly as if it ran
            alone: 1 trains them one by one; `auto` is the size measured best for the worker's device type and the
            backbone (defaults.AUTO_PACK; 1 where nothing was measured). Trials whose draws change the networks'
            structure (discriminator batch norm) go to separate packs. Packing changes no trial's draws, seed or
            result. Conditional GANs are not packed: `auto` is 1 for them.
        trial: `fit` arguments every trial takes, e.g. --model.steps=300 or --config=extra.yaml; the parameters the
            space searches belong to each trial and cannot be set here.
    """

    loss: str
    dataset: str = "fashion_mnist"
    space: str = "wide"
    backbone: str | None = None
    trials: PositiveInt | None = None
    conditional: bool = False
    study: str | None = None
    storage: str | None = None
    sampler: str = "random"
    pruner: str = "none"
    seed: int = 0
    heartbeat_seconds: PositiveFloat = HEARTBEAT_SECONDS
    grace_seconds: PositiveFloat = GRACE_SECONDS
    pack: PositiveInt | Literal["auto"] = "auto"
    trial: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        LOSSES.get(self.loss)
        DATASETS.get(self.dataset)
        BACKBONES.get(self.network)
        if self.space not in SPACES:
            raise UnknownNameError(f"unknown space {self.space!r}; valid space names: {', '.join(SPACES)}")
        for name, allowed in (("sampler", SAMPLERS), ("pruner", PRUNERS)):
            if getattr(self, name) not in allowed:
                raise UnknownNameError(f"unknown {name} {getattr(self, name)!r}; valid {name}s: {', '.join(allowed)}")
        if self.grace_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"grace_seconds={self.grace_seconds:g} is too short for heartbeat_seconds={self.heartbeat_seconds:g}: "
                "a healthy trial's heartbeat is up to one interval old, so the grace must be at least two intervals"
            )
        if not (self.pack == "auto" or (isinstance(self.pack, int) and self.pack >= 1)):
            raise ValueError(f"pack={self.pack!r} is not allowed; pack must be an integer >= 1 or 'auto'")
        if self.conditional and self.pack not in ("auto", 1):
            raise ValueError(f"pack={self.pack!r}: conditional GANs are not packed; use pack 1 or auto")
        object.__setattr__(self, "trial", tuple(self.trial))  # a list from a parsed file
        searched = {f"--model.{parameter.name}" for parameter in search_space(self.loss, self.space)}
        for argument in self.trial:
            if argument.split("=")[0] in searched:
                raise ValueError(
                    f"{argument!r}: the {self.space} space searches {argument.split('=')[0][2:]} for {self.loss}, "
                    "so each trial draws its own; set it in a space of your own, or not at all"
                )
            if argument.startswith("--seed_everything"):
                raise ValueError(f"{argument!r}: each trial's seed derives from --seed and its number")
            if argument.startswith("--data.conditional"):
                raise ValueError(f"{argument!r}: use the sweep's --conditional, which names the study apart")

    def pack_size(self, device_type: str) -> int:
        """`pack`, or for `auto` the measured choice for this backbone on `device_type` (`cpu`, `cuda`)."""
        if isinstance(self.pack, int):
            return self.pack
        return 1 if self.conditional else AUTO_PACK.get((device_type, self.network), 1)

    @property
    def network(self) -> str:
        return self.backbone or DATASETS.get(self.dataset).backbone

    @property
    def target_trials(self) -> int:
        """The protocol's trial count unless TRIALS says otherwise: 100 for the wide space, 50 for the narrow one."""
        return self.trials if self.trials is not None else paper_trials(self.space)

    @property
    def study_name(self) -> str:
        suffix = CONDITIONAL_SUFFIX if self.conditional else ""
        return self.study or f"{self.loss}-{self.dataset}-{self.space}{suffix}"


@dataclass(frozen=True)
class TrialProtocol:
    """What every trial of a study shares, read from the trial config as `fit` parses it; the study records it."""

    steps: int
    eval_every: int
    eval_samples: int
    objective: str
    precision: str
    root: Path
    """The study's folder: its trials' folders and its workers' logs."""
    run: RunOptions
    """Where W&B logs go (the trial's folder and name are the study's, whatever `run.root` and `run.name` say)."""
    config: dict[str, Any]
    """The shared trial config, flattened to dotted keys (`evaluation.samples`): what a study's trials train with."""

    @property
    def direction(self) -> str:
        return direction(self.objective)


def trial_protocol(settings: SweepSettings) -> TrialProtocol:
    """Parses the trial config of the study (no trial's own values) and resolves what defaults to the dataset's."""
    config = parsed_config(shared_trial_arguments(settings))
    spec = DATASETS.get(settings.dataset)
    check_precision(str(config.trainer.precision or "32-true"))
    spec.check_evaluation_samples(config.evaluation.samples)
    return TrialProtocol(
        steps=config.model.steps or spec.paper_steps,
        eval_every=config.evaluation.every_n_steps or spec.paper_eval_every,
        eval_samples=config.evaluation.samples,
        objective=resolve_objective(config.evaluation.objective, settings.dataset),
        precision=str(config.trainer.precision or "32-true"),
        root=Path(config.run.root) / "sweeps" / settings.study_name,
        run=RunOptions(**config.run.as_dict()),
        config=flat(json.loads(json.dumps(config.as_dict(), default=str))),
    )


def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as one level of dotted keys, the way `fit`'s flags name them."""
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            leaves |= flat(value, f"{prefix}{key}.")
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


UNRESULTING = (
    "config",
    "run.",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "data.data_dir",
    "data.num_workers",
    "data.on_device",
    "evaluation.batch_size",
    "evaluation.inception_weights",
)
"""Trial config keys a continued study may change: where files go and what is logged, the devices, where the data is
read from and how it is fed, the evaluation's batching. Everything else changes what a trial's score means."""


def protocol_differences(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between a study's record and the current settings, as "key: stored -> now" lines.

    Keys only one side has (a record from an older version) are not compared.
    """
    differences = []
    for key in sorted(stored.keys() & now.keys()):
        if key == TRIAL_CONFIG_ATTR:
            continue
        if stored[key] != now[key]:
            differences.append(f"{key}: {stored[key]!r} -> {now[key]!r}")
    stored_config, config = stored.get(TRIAL_CONFIG_ATTR, {}), now.get(TRIAL_CONFIG_ATTR, {})
    for key in sorted(stored_config.keys() & config.keys()):
        if not key.startswith(UNRESULTING) and stored_config[key] != config[key]:
            differences.append(f"{key}: {stored_config[key]!r} -> {config[key]!r}")
    return differences


def check_same_protocol(study: optuna.Study, record: dict[str, Any]) -> None:
    """A study keeps the protocol it was created with: continuing it with other settings would mix two studies."""
    differences = protocol_differences(study.user_attrs, json.loads(json.dumps(record)))
    if differences:
        raise ValueError(
            f"study {study.study_name!r} was created with other settings ({'; '.join(differences)}); run it with "
            "the settings it was created with, or start a new study with --study <new name>"
        )


def derived_seed(*parts: object) -> int:
    """A 32-bit seed from any parts, stable across processes and Python versions (unlike hash())."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "big")


class TrialSeededRandomSampler(optuna.samplers.RandomSampler):
    """Random search whose draws depend on (seed, study, trial number, parameter), not on which worker asks first.

    A retry draws with its original's number (studies.draw_number), so it gets the parameters the original would have.

    The study name is part of the seed so that each loss gets its own independent search, as in the paper.
    """

    def __init__(self, seed: int) -> None:
        super().__init__(seed=seed)
        self._base_seed = seed

    def sample_independent(self, study: optuna.Study, trial: Any, param_name: str, distribution: Any) -> Any:
        seed = derived_seed(self._base_seed, study.study_name, draw_number(trial), param_name)
        draw = optuna.samplers.RandomSampler(seed=seed)
        return draw.sample_independent(study, trial, param_name, distribution)


def make_sampler(settings: SweepSettings) -> optuna.samplers.BaseSampler:
    if settings.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=settings.seed)
    return TrialSeededRandomSampler(settings.seed)


def make_pruner(settings: SweepSettings) -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner() if settings.pruner == "median" else optuna.pruners.NopPruner()


def open_study(settings: SweepSettings, protocol: TrialProtocol, storage: StudyStorage) -> optuna.Study:
    """Loads the study, creating it (with the authors' setting enqueued as trial 0) the first time.

    A rerun study is created with its trials already enqueued (see `open_reruns`), so nothing is added here.
    """
    with storage.claim_lock(settings.study_name):
        study = optuna.create_study(
            study_name=settings.study_name,
            storage=storage.storage,
            sampler=make_sampler(settings),
            pruner=make_pruner(settings),
            direction=protocol.direction,
            load_if_exists=True,
        )
        record = study_record(settings, protocol)
        if study.get_trials(deepcopy=False):
            check_same_protocol(study, record)
        else:
            for key, value in record.items():
                study.set_user_attr(key, value)
            study.enqueue_trial(
                authors_trial_params(settings.loss, settings.space), user_attrs={"authors_setting": True}
            )
    return study


def study_record(settings: SweepSettings, protocol: TrialProtocol) -> dict[str, Any]:
    """The protocol a study was created with, kept in the study so analysis never has to guess."""
    return {
        "loss": settings.loss,
        "dataset": settings.dataset,
        "space": settings.space,
        "steps": protocol.steps,
        "eval_every": protocol.eval_every,
        "eval_samples": protocol.eval_samples,
        "backbone": settings.network,
        "objective": protocol.objective,
        "sampler": settings.sampler,
        "seed": settings.seed,
        "precision": protocol.precision,
        **({CONDITIONAL_ATTR: True} if settings.conditional else {}),
        TRIAL_CONFIG_ATTR: protocol.config,
    }


TRIAL_CONFIG_ATTR = "trial_config"
DIVERGED_AT_ATTR = "diverged_at"
RERUN_OF_ATTR = "rerun_of"
DIVERGENCE_ATTR = "divergence"


def unscored_value(direction: str) -> float:
    """The value of a trial that diverged before its first evaluation: the worst possible, never a study's best.

    Optuna keeps infinite values in journal and RDB storages alike, and optuna-dashboard shows them as "inf".
    """
    return math.inf if direction == "minimize" else -math.inf


class ReportEvaluations(pl.Callback):
    """Reports each evaluation's FD to the trial (learning curves in the dashboard) and applies the pruner.

    Every evaluation's full set of scores is also kept in the trial's `evaluations` attribute, rewritten after each
    one, so analysis can follow IS, KID or any later metric over training, even for a trial that fails later.
    Runs after EvaluationSchedule in the callback list, so the step's scores are already there.
    """

    def __init__(self, trial: optuna.Trial, schedule: EvaluationSchedule) -> None:
        self.trial = trial
        self.schedule = schedule
        self.evaluations: list[dict[str, float]] = []

    def on_fit_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        # Known once the schedule's setup chose the extractor; kept even if the trial diverges before it is scored.
        if self.schedule.selection_key is not None:
            self.trial.set_user_attr("objective", self.schedule.selection_key)

    def watches_step(self, d_step: int, pl_module: Any) -> bool:
        """The schedule's evaluation points, whose scores it reports (training/stepping.py)."""
        return self.schedule.watches_step(d_step, pl_module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        key = self.schedule.selection_key
        if key is None or self.schedule.last_step != pl_module.d_step:
            return
        self.evaluations.append({"step": pl_module.d_step, **self.schedule.last_scores})
        self.trial.set_user_attr(EVALUATIONS_ATTR, self.evaluations)
        self.trial.report(self.schedule.last_scores[key], pl_module.d_step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {pl_module.d_step}")


def trial_loggers(
    settings: SweepSettings, protocol: TrialProtocol, trial: optuna.Trial, arguments: dict[str, Any]
) -> list[Logger]:
    """The run's CSV log, and a W&B run grouped by study whose config holds the trial's values and the protocol."""
    name = trial_directory(trial.number)
    loggers: list[Logger] = [CSVLogger(save_dir=str(protocol.root), name=name)]
    if protocol.run.wandb:
        record = study_record(settings, protocol)
        config = {**arguments, **record, "trial": trial.number, "study": settings.study_name}
        run_name = f"{settings.study_name}/{name}"
        loggers.append(protocol.run.wandb_logger(run_name, protocol.root, group=settings.study_name, config=config))
    return loggers


class TrialCLI(GANCLI):
    """A trial's run: the CLI's classes from the trial's config, logged to the trial's CSV and W&B runs."""

    def __init__(self, loggers: list[Logger], *args: Any, **kwargs: Any) -> None:
        self.trial_loggers = loggers
        super().__init__(*args, **kwargs)

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        return super().instantiate_trainer(logger=self.trial_loggers, **kwargs)


TRIAL_DEFAULTS = (
    "--trainer.devices=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
)
"""What a sweep trial does unlike `fit` by default: one device per worker, no per-step output in a worker's log."""


def shared_trial_arguments(settings: SweepSettings) -> list[str]:
    """The `fit` arguments every trial of the study takes: base configs, the sweep's defaults, then `trial`."""
    condition = ["--data.conditional=true"] if settings.conditional else []
    return [*base_config_arguments(settings), *TRIAL_DEFAULTS, *condition, *settings.trial]


def trial_run_arguments(
    settings: SweepSettings, protocol: TrialProtocol, trial_number: int, arguments: dict[str, Any], seed: int
) -> list[str]:
    """The trial as `fit` would take it: the study's shared arguments, then the trial's own values as overrides.

    The CLI parses them exactly as it parses a user's flags, and saves the result as the trial's config.yaml. What
    the study resolved from its dataset's table (length, evaluation interval, objective) is written out, so that the
    config still says what ran if the table changes.
    """
    own = {f"model.{key}": value for key, value in arguments.items()}
    own |= {"model.steps": protocol.steps, "evaluation.every_n_steps": protocol.eval_every}
    own |= {"evaluation.objective": protocol.objective}
    own |= {"run.root": str(protocol.root), "run.name": trial_directory(trial_number)}
    return [
        *shared_trial_arguments(settings),
        f"--seed_everything={seed}",
        *(f"--{key}={flag_value(value)}" for key, value in own.items()),
    ]


def flag_value(value: object) -> str:
    """A value as the command line writes it: strings bare, booleans and numbers as JSON (floats at full precision)."""
    return value if isinstance(value, str) else json.dumps(value)


def base_config_arguments(settings: SweepSettings) -> list[str]:
    """`--config` of the YAML of the trial's dataset, backbone and loss, in that order (later files win).

    An entry registered from outside the package (lightning_gans/plugins.py) may have no YAML; its name is then all
    its base config says.
    """
    arguments: list[str] = []
    for flag, kind, name in (
        ("data.name", "data", settings.dataset),
        ("model.backbone", "backbones", settings.network),
        ("model.loss", "losses", settings.loss),
    ):
        path = CONFIGS / kind / f"{name}.yaml"
        arguments += ["--config", str(path)] if path.is_file() else [f"--{flag}={name}"]
    return arguments


def trial_directory(trial_number: int) -> str:
    return f"trial-{trial_number:04d}"


def run_trial(trial: optuna.Trial, settings: SweepSettings, protocol: TrialProtocol) -> float:
    """Trains the trial's GAN and returns its objective's best value; the other scores become trial attributes.

    Divergence ends training, not the trial (see the module docstring).
    """
    cli, schedule = trial_cli(trial, settings, protocol)
    trainer = cli.trainer
    trainer.callbacks.append(ReportEvaluations(trial, schedule))  # after the schedule, whose scores it reads
    trainer.callbacks.append(MeasureStepRate(trial))
    divergence = None
    try:
        trainer.fit(cli.model, datamodule=cli.datamodule)
    except DivergedError as diverged:
        divergence = diverged
    finally:
        finish_wandb(trainer.loggers)
    run_dir = Path(trainer.log_dir or protocol.root)
    return trial_result(
        trial, settings, protocol, TrialOutcome(schedule, run_dir, trainer.callback_metrics, divergence)
    )


def trial_cli(
    trial: optuna.Trial, settings: SweepSettings, protocol: TrialProtocol
) -> tuple[GANCLI, EvaluationSchedule]:
    """The trial's run, built as `fit` builds it from the trial's config (its draws, its seed), not yet trained."""
    arguments = trial_arguments(trial, settings.loss, settings.space)
    seed = trial.user_attrs.get("rerun_seed", derived_seed(settings.seed, "trial", draw_number(trial)))
    cli = run(
        trial_run_arguments(settings, protocol, trial.number, arguments, seed),
        cli_class=partial(TrialCLI, trial_loggers(settings, protocol, trial, arguments)),
        run=False,
    )
    return cli, cli.config_init["evaluation"]


def finish_wandb(loggers: list[Logger]) -> None:
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()


@dataclass(frozen=True)
class TrialOutcome:
    """What a trained trial left: its schedule (best score and step), its folder, its latest scores, its divergence."""

    schedule: EvaluationSchedule
    run_dir: Path
    metrics: dict[str, Any]
    divergence: DivergedError | None


def trial_result(trial: optuna.Trial, settings: SweepSettings, protocol: TrialProtocol, outcome: TrialOutcome) -> float:
    """The trial's value (its best score; a diverged trial keeps its best before divergence), its attributes set."""
    schedule, run_dir = outcome.schedule, outcome.run_dir
    if outcome.divergence is not None:
        trial.set_user_attr(DIVERGED_AT_ATTR, outcome.divergence.step)
        trial.set_user_attr(DIVERGENCE_ATTR, f"{outcome.divergence.what} is not finite")
    keep_what_a_finished_trial_needs(run_dir / "checkpoints")
    if schedule.best_score is None and outcome.divergence is not None:
        return unscored_value(protocol.direction)
    if schedule.best_score is None:
        raise RuntimeError(
            f"trial {trial.number} produced no score: no evaluation ran (extractor {schedule.extractor!r})"
        )
    best = run_dir / "checkpoints" / "best.ckpt"
    trial.set_user_attr("best_step", schedule.best_step)
    trial.set_user_attr("best_checkpoint", stored_path(settings.storage, best))
    if has_point_samples(settings.dataset):
        trial.set_user_attr(SAMPLE_POINTS_ATTR, point_preview(best))
    trial.set_user_attr("run_dir", stored_path(settings.storage, run_dir))
    for key, value in outcome.metrics.items():
        if key.startswith("eval/") and not key.startswith("eval/best_"):
            trial.set_user_attr(key, float(value))
    return schedule.best_score


RESUME_ONLY = ("optimizer_states", "lr_schedulers", "loops", "callbacks")
"""Checkpoint entries only a resume reads; a finished trial is never resumed (`fit --config` re-trains it)."""


def keep_what_a_finished_trial_needs(checkpoints: Path) -> None:
    """best.ckpt without its optimiser and loop state, and no last.ckpt.

    A trial of the paper's network kept two checkpoints with Adam's state, about 300 MB, 30 GB per study of 100
    trials; the best networks are what sample figures and scoring need, and they load with GAN.load_from_checkpoint.
    """
    best = checkpoints / "best.ckpt"
    if best.is_file():
        state = torch.load(best, map_location="cpu", weights_only=False)
        with atomic_path(best, suffix=".ckpt") as partial_file:
            torch.save({key: value for key, value in state.items() if key not in RESUME_ONLY}, partial_file)
    (checkpoints / "last.ckpt").unlink(missing_ok=True)


def open_reruns(
    settings: SweepSettings, protocol: TrialProtocol, storage: StudyStorage, source_name: str, seeds: int
) -> optuna.Study:
    """The paper's third phase: the source study's best parameters, once per seed 0..seeds-1, in a study of its own."""
    try:
        source = optuna.load_study(study_name=source_name, storage=storage.storage)
    except KeyError:
        raise ValueError(f"no study {source_name!r} in {storage.url}: run the sweep first") from None
    complete = source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ValueError(f"study {source_name!r} has no complete trial to re-run")
    best = source.best_trial  # Optuna picks by the study's direction (polygon F1 and mixture modes are maximised)
    if not math.isfinite(best.value):
        raise ValueError(
            f"every complete trial of {source_name!r} diverged before its first evaluation: nothing to re-run"
        )
    with storage.claim_lock(settings.study_name):
        study = optuna.create_study(
            study_name=settings.study_name,
            storage=storage.storage,
            direction=protocol.direction,
            load_if_exists=True,
        )
        record = {**study_record(settings, protocol), RERUN_OF_ATTR: source_name, "best_trial": best.number}
        if study.get_trials(deepcopy=False):
            check_same_protocol(study, record)
        else:
            for key, value in record.items():
                study.set_user_attr(key, value)
            carried = {"authors_setting": True} if best.user_attrs.get("authors_setting") else {}
            for seed in range(seeds):
                study.enqueue_trial(best.params, user_attrs={**carried, "rerun_seed": seed}, skip_if_exists=False)
    return study

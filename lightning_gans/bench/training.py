"""Training throughput: the project's Lightning path against a minimal hand-written PyTorch loop.

Both loops train the same networks (`build_networks`, same seed), with the same loss functions, Adam settings,
n_disc schedule, batch size and training split, so the ratio of their speeds is what Lightning and the module's
bookkeeping cost (per-step logging, the divergence watch, the step-indexed data stream) and nothing else. Each run
takes `warmup` untimed steps (Adam's lazy state, allocator growth, cuDNN's autotuner) and then `steps` timed ones.

Two cases (CASES), each a dataset on its registered backbone: the paper's network on Fashion-MNIST, where a step
is long and Lightning's fixed cost per step vanishes, and the 2-D mixtures' MLP on ring8, where a step is a few
milliseconds and that cost is all there is to see.
"""

from __future__ import annotations

import inspect
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor

from ..data import GANDataModule
from ..data.containers import as_samples
from ..defaults import TRAINER_DEFAULTS
from ..evaluation.standalone import accelerator_arguments
from ..search.spaces import authors_setting
from ..training.losses import LossHyperparameters, LossOutput, get_loss
from ..training.module import GAN, is_generator_step, kept_batch_norm_statistics, prior_noise
from ..training.nets import build_networks, frozen
from .clock import clock

DATASET = "fashion_mnist"
"""The paper's case: the dataset the evaluation and sweep parts measure too."""
CASES = {DATASET: 100, "ring8": 1500}
"""Datasets trained, each on its registered backbone (the paper's network; the mixtures' MLP), with their timed D
steps per run unless told: about 17 s of the paper's network on a 2-core CPU (170 ms a step), and about 4 s of the
MLP (2.6 ms a step), whose rate needs that many steps to settle."""
LOOPS = ("plain", "lightning")

LIGHTNING_PATH = (
    "GAN LightningModule fitted by pl.Trainer(**TRAINER_DEFAULTS, devices=1, enable_progress_bar=False, "
    "enable_model_summary=False, logger=CSVLogger) on GANDataModule (the split held in memory: blocks of steps "
    "per Lightning batch): a sweep trial's trainer (with --no-wandb) "
    "without its EvaluationSchedule and ReportEvaluations callbacks; `lightning-gans fit` adds a progress bar "
    "and an offline W&B logger on top"
)
PLAIN_PATH = (
    "hand-written loop: build_networks, get_loss's loss functions, the module's Adam settings and n_disc "
    "schedule, cuDNN autotuning as TRAINER_DEFAULTS sets it; batches index the training split (uint8 images, "
    "scaled to [0, 1], or 2-D points), loaded onto the device once, by a fresh random permutation per epoch; no "
    "logging, no divergence check"
)
IMAGES_PER_SECOND = "real samples (images, or 2-D points) consumed per second: batch size x D steps/s"
TARGET_RATIO = 0.95
"""The bar for the Lightning path: at least 95% of the plain loop's speed, for every loss."""


@dataclass(frozen=True)
class TrainingSettings:
    """What every run of either loop uses."""

    warmup: int
    steps: int
    repeats: int
    batch_size: int
    device: torch.device
    threads: int
    seed: int


@dataclass(frozen=True)
class LoopRun:
    """One timed run: `steps` D steps in `seconds`, and the Adam step counts at the end (warm-up included)."""

    loop: str
    seconds: float
    steps: int
    d_optimizer_steps: int
    g_optimizer_steps: int

    @property
    def d_steps_per_second(self) -> float:
        return self.steps / self.seconds


def model_arguments(loss: str, data: GANDataModule) -> dict[str, Any]:
    """The GAN's constructor arguments for `loss` on `data`'s dataset and backbone: the GAN's defaults overlaid with
    lightning_gans/configs/losses/<loss>.yaml.

    Both loops read their settings from this one dict, so the plain loop cannot drift from what the module trains.
    """
    parameters = inspect.signature(GAN.__init__).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    case = {"loss": loss, "backbone": data.spec.backbone, "sample_shape": data.sample_shape}
    return {**defaults, **authors_setting(loss), **case}


def adam_steps(optimizer: torch.optim.Optimizer) -> int:
    """How many times the optimizer has updated its parameters (0 before the first update)."""
    return max((int(state["step"]) for state in optimizer.state.values()), default=0)


class PlainLoop:
    """The paper's training step written out by hand: the baseline a Lightning run is measured against.

    Minimal but correct, with the module's default rules: one D update per step on a fresh real batch, a G update by
    the reference's schedule with D's weights frozen (their gradients would be thrown away) on the D step's z unless
    the loss draws a fresh one, WGAN's clipping, BEGAN's k from errors recomputed after the updates, and the VAE's
    joint update of both networks. The data sits on the device, as a hand-written loop
    over a small dataset would keep it, so no batch waits for a host-to-device copy.
    """

    def __init__(self, arguments: dict[str, Any], images: Tensor, batch_size: int, device: torch.device, seed: int):
        self.gan_loss = get_loss(arguments["loss"])
        networks = build_networks(
            arguments["backbone"],
            tuple(arguments["sample_shape"]),
            arguments["z_dim"],
            arguments["d_batch_norm"],
            self.gan_loss.autoencoder_discriminator,
            self.gan_loss.joint_loss is not None,
        )
        self.generator = networks.generator.to(device)
        self.discriminator = networks.discriminator.to(device)
        betas = (arguments["beta1"], arguments["beta2"])
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=arguments["lr"], betas=betas)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=arguments["lr"], betas=betas)
        self.hp = LossHyperparameters(**{field.name: arguments[field.name] for field in fields(LossHyperparameters)})
        self.n_disc = arguments["n_disc"]
        self.z_dim = arguments["z_dim"]
        self.k = torch.zeros((), device=device)
        self.images = images.to(device)
        self.batch_size = batch_size
        self.device = device
        self.noise = torch.Generator(device=device).manual_seed(seed)
        self.shuffle = torch.Generator(device=device).manual_seed(seed)
        self.order = torch.empty(0, dtype=torch.long, device=device)
        self.position = 0
        self.d_step = 0

    def next_batch(self) -> Tensor:
        """The next `batch_size` images of this epoch's permutation; a new permutation when too few are left."""
        if self.position + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.images), generator=self.shuffle, device=self.device)
            self.position = 0
        indices = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return as_samples(self.images[indices])

    def step(self) -> LossOutput:
        """One paper step; returns the discriminator's loss (the joint loss for the VAE)."""
        real = self.next_batch()
        output = self._gan_step(real) if self.gan_loss.joint_loss is None else self._joint_step(real)
        self.d_step += 1
        return output

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def _noise(self, count: int) -> Tensor:
        return prior_noise(self.gan_loss.prior, count, self.z_dim, self.noise, self.device)

    def _gan_step(self, real: Tensor) -> LossOutput:
        z = self._noise(real.shape[0])
        with torch.no_grad():
            fake = self.generator(z)
        d_out = self.gan_loss.discriminator_loss(self.discriminator, real, fake, self.hp, self.k, self.noise)
        self.d_optimizer.zero_grad(set_to_none=True)
        d_out.total.backward()
        self.d_optimizer.step()
        with torch.no_grad():
            self.gan_loss.after_discriminator_step(self.discriminator, self.hp)
        if is_generator_step(self.d_step, self.n_disc):
            if self.gan_loss.fresh_generator_noise:
                z = self._noise(real.shape[0])
            fake = self.generator(z)
            with frozen(self.discriminator):
                g_out = self.gan_loss.generator_loss(self.discriminator, fake, self.hp)
            self.g_optimizer.zero_grad(set_to_none=True)
            g_out.total.backward()
            self.g_optimizer.step()
        if self.gan_loss.next_k is not None:
            with torch.no_grad(), kept_batch_norm_statistics(self.generator, self.discriminator):
                errors = self.gan_loss.discriminator_loss(
                    self.discriminator, real, self.generator(z), self.hp, self.k, self.noise
                )
                self.k = self.gan_loss.next_k(self.k, errors, self.hp)
        return d_out

    def _joint_step(self, real: Tensor) -> LossOutput:
        assert self.gan_loss.joint_loss is not None
        out = self.gan_loss.joint_loss(self.discriminator, self.generator, real, self.noise)
        self.d_optimizer.zero_grad(set_to_none=True)
        self.g_optimizer.zero_grad(set_to_none=True)
        out.total.backward()
        self.d_optimizer.step()
        self.g_optimizer.step()
        return out


def time_plain(arguments: dict[str, Any], data: GANDataModule, settings: TrainingSettings) -> LoopRun:
    torch.manual_seed(settings.seed)  # the same initial weights as the Lightning run, seeded the same way
    torch.backends.cudnn.benchmark = bool(TRAINER_DEFAULTS.get("benchmark", False))  # what the Trainer sets
    images = data.split("train").data
    loop = PlainLoop(arguments, images, settings.batch_size, settings.device, settings.seed)
    loop.run(settings.warmup)
    started = clock(settings.device)
    loop.run(settings.steps)
    seconds = clock(settings.device) - started
    return LoopRun("plain", seconds, settings.steps, adam_steps(loop.d_optimizer), adam_steps(loop.g_optimizer))


class StepClock(pl.Callback):
    """Reads the clock after the warm-up's last step and after the run's last step.

    Both readings sit at the same point of Lightning's batch loop, so the interval is exactly `steps` whole
    iterations: data fetch, hooks, logging and the step itself, as the plain loop's interval covers its own.
    """

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup = warmup
        self.device = device
        self.started: float | None = None
        self.stopped: float | None = None

    def watches_step(self, d_step: int, pl_module: Any) -> bool:
        """The two steps it reads the clock after (training/stepping.py: blocks of steps end there)."""
        return d_step in (self.warmup, pl_module.hparams.steps)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if pl_module.d_step == self.warmup:
            self.started = clock(self.device)
        elif pl_module.d_step == pl_module.hparams.steps:
            self.stopped = clock(self.device)

    @property
    def seconds(self) -> float:
        if self.started is None or self.stopped is None:
            raise RuntimeError("the run ended before its timed steps were taken")
        return self.stopped - self.started


def time_lightning(arguments: dict[str, Any], data: GANDataModule, settings: TrainingSettings) -> LoopRun:
    pl.seed_everything(settings.seed, verbose=False)
    model = GAN(**{**arguments, "steps": settings.warmup + settings.steps})
    step_clock = StepClock(settings.warmup, settings.device)
    with tempfile.TemporaryDirectory(prefix="bench-lightning-") as root:
        trainer = pl.Trainer(
            **TRAINER_DEFAULTS,
            **accelerator_arguments(settings.device),
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root,
            logger=CSVLogger(save_dir=root, name="bench"),
            callbacks=[step_clock],
        )
        trainer.fit(model, datamodule=data)
    d_optimizer, g_optimizer = trainer.optimizers
    return LoopRun("lightning", step_clock.seconds, settings.steps, adam_steps(d_optimizer), adam_steps(g_optimizer))


RUNNERS: dict[str, Callable[[dict[str, Any], GANDataModule, TrainingSettings], LoopRun]] = {
    "plain": time_plain,
    "lightning": time_lightning,
}


def compare_loops(loss: str, data: GANDataModule, settings: TrainingSettings) -> dict[str, Any]:
    """Both loops on one loss, interleaved, with the medians of their speeds and the ratio lightning / plain.

    The order alternates between repeats (plain, lightning, lightning, plain, ...), so a change of background load
    or clock speed during the benchmark falls on both loops alike. The ratio is the median over repeats of each
    repeat's own ratio: the two runs of a repeat follow each other, so they share the machine's state of the moment
    (on a shared 2-core VM, single runs drift by +-5%), and the median ignores a single disturbed repeat. The
    range of the per-repeat ratios goes beside it, so a reader sees how much the figure can be trusted.
    """
    arguments = model_arguments(loss, data)
    runs: dict[str, list[LoopRun]] = {name: [] for name in LOOPS}
    for repeat in range(settings.repeats):
        for name in LOOPS if repeat % 2 == 0 else LOOPS[::-1]:
            torch.set_num_threads(settings.threads)
            runs[name].append(RUNNERS[name](arguments, data, settings))
    result: dict[str, Any] = {"n_disc": arguments["n_disc"]}
    for name, loop_runs in runs.items():
        speed = statistics.median(run.d_steps_per_second for run in loop_runs)
        result[name] = {
            "d_steps_per_second": speed,
            "images_per_second": speed * settings.batch_size,
            "runs": [{**asdict(run), "d_steps_per_second": run.d_steps_per_second} for run in loop_runs],
        }
    ratios = [
        lightning.d_steps_per_second / plain.d_steps_per_second
        for plain, lightning in zip(runs["plain"], runs["lightning"], strict=True)
    ]
    result["ratio"] = statistics.median(ratios)
    result["ratio_range"] = [min(ratios), max(ratios)]
    return result


def benchmark_case(
    losses: list[str],
    data: GANDataModule,
    settings: TrainingSettings,
    finished: Callable[[str, str, dict[str, Any]], None],
) -> dict[str, Any]:
    """Every loss in turn on one dataset; `finished(dataset, loss, result)` is told as each completes."""
    results = {}
    for loss in losses:
        results[loss] = compare_loops(loss, data, settings)
        finished(data.spec.name, loss, results[loss])
    return {
        "backbone": data.spec.backbone,
        "steps": settings.steps,
        "below_target": [loss for loss, result in results.items() if result["ratio"] < TARGET_RATIO],
        "losses": results,
    }


def benchmark_training(
    losses: list[str],
    cases: list[tuple[GANDataModule, TrainingSettings]],
    finished: Callable[[str, str, dict[str, Any]], None],
) -> dict[str, Any]:
    """Every case in turn (a dataset and its settings), each under its dataset's name; the whole takes minutes."""
    return {
        "lightning_path": LIGHTNING_PATH,
        "plain_path": PLAIN_PATH,
        "images_per_second": IMAGES_PER_SECOND,
        "target_ratio": TARGET_RATIO,
        "cases": {data.spec.name: benchmark_case(losses, data, settings, finished) for data, settings in cases},
    }

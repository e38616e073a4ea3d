"""Fast paths change how a step runs, never what it computes: layouts, bf16 autocast, compilation, logging."""

import csv
import math
import shutil

import lightning.pytorch as pl
import pytest
import torch
import yaml
from test_cli import CONFIGS, ring8_fit
from test_evaluation import domain_scores_by_hand
from test_module import make_trainer

from lightning_gans.data import GANDataModule
from lightning_gans.evaluation.features import Evaluator
from lightning_gans.evaluation.schedule import EvaluationSchedule, trainer_outputs
from lightning_gans.metrics.extractors import build_extractor
from lightning_gans.metrics.reference import load_or_compute_reference
from lightning_gans.metrics.scores import GenerativeScores
from lightning_gans.runs import parsed_config, run
from lightning_gans.search.launcher import parse_sweep, sweep_parser
from lightning_gans.search.sweep import SweepSettings, study_record, trial_protocol, trial_run_arguments
from lightning_gans.training.module import GAN
from lightning_gans.training.progress import StepProgressBar


class RecordLosses(pl.Callback):
    """The logged losses of every step, as numbers (tests may sync the host; training does not); the trainer must
    log every step (`log_every_n_steps=1`), since the GAN hands Lightning its losses at logging steps only."""

    def __init__(self) -> None:
        self.losses: list[tuple[float, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        metrics = trainer.callback_metrics
        self.losses.append((float(metrics["d_loss"]), float(metrics["g_loss"])))


def train_fashion(root, *callbacks, steps=4, trainer_kwargs=None, **model_kwargs) -> tuple[GAN, list]:
    """A few steps of the paper's network on real Fashion-MNIST (batch 16), from the same seed every time."""
    pl.seed_everything(0)
    model = GAN(steps=steps, **model_kwargs)
    record = RecordLosses()
    trainer = make_trainer(root, *callbacks, record, **{"log_every_n_steps": 1, **(trainer_kwargs or {})})
    trainer.fit(model, datamodule=GANDataModule("fashion_mnist", batch_size=16))
    return model, record.losses


@pytest.mark.parametrize("loss", ["ns_gan", "wgan_gp", "began"])
def test_channels_last_trains_like_the_default_layout(tmp_path, loss):
    """The first discriminator loss, a forward pass of untrained networks, agrees to float32 rounding (the layouts
    only sum in another order). Every later loss follows an Adam step, whose first updates move each weight by about
    lr * sign(gradient): the rounding of near-zero gradients flips some of those signs, so losses drift apart by a few
    percent within three steps (measured: up to 5.5% for WGAN-GP with the reference's truncated-normal conv init),
    far below what a wrong layout would give."""
    default, default_losses = train_fashion(tmp_path / "default", steps=3, loss=loss, n_disc=1)
    fast, fast_losses = train_fashion(tmp_path / "channels_last", steps=3, loss=loss, n_disc=1, channels_last=True)
    assert fast.state_dict().keys() == default.state_dict().keys()
    assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) for p in fast.parameters())
    expected, actual = torch.tensor(default_losses), torch.tensor(fast_losses)
    torch.testing.assert_close(actual[0, 0], expected[0, 0], rtol=1e-5, atol=0)
    torch.testing.assert_close(actual, expected, rtol=0.1, atol=1e-3)


def domain_evaluator(samples: int) -> Evaluator:
    """FD, IS and KID of `samples` samples in the domain classifier's features, as a run computes them."""
    extractor = build_extractor("domain", "fashion_mnist")
    test_images = GANDataModule("fashion_mnist").split("test")
    reference = load_or_compute_reference("fashion_mnist", "test", test_images, extractor, samples)
    return Evaluator(extractor, reference, samples, 500, GenerativeScores(reference, kid_subset_size=100))


def test_bf16_autocast_trains_and_is_scored_in_float32(tmp_path, quick_domain_classifier):
    schedule = EvaluationSchedule(every_n_steps=4, samples=600, extractor="domain", kid_subset_size=100)
    model, bf16 = train_fashion(tmp_path, schedule, trainer_kwargs={"precision": "bf16-mixed"})
    _, float32 = train_fashion(tmp_path / "float32")
    losses = torch.tensor(bf16)
    assert torch.isfinite(losses).all()
    assert not torch.equal(losses, torch.tensor(float32)), "the step did not run under bf16 autocast"
    torch.testing.assert_close(losses, torch.tensor(float32), rtol=0.05, atol=0.05)

    # The run's scores are the float32 scores of its checkpoint, computed by numpy/scipy from its samples' features
    # (extracted in one batch here, hence agreement to float32's batch-size rounding rather than bitwise).
    logged = {key: float(value) for key, value in model.trainer.callback_metrics.items() if key.startswith("eval/")}
    checkpoint = GAN.load_from_checkpoint(tmp_path / "run" / "version_0" / "checkpoints" / "last.ckpt")
    expected = domain_scores_by_hand(checkpoint, 600)
    keys = ("eval/fd_domain_n600", "eval/is_domain_n600", "eval/kid_domain_n600")
    for key in keys:
        assert logged[key] == pytest.approx(expected[key], rel=1e-5), key

    # Scoring switches autocast off itself: inside an active bf16 autocast the schedule still scores in float32,
    # while an evaluator left to autocast would not.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        schedule.score(model, trainer_outputs(model.trainer, save=lambda path: None))
        under_autocast = domain_evaluator(600).score(checkpoint, rank=0, world_size=1, progress=False)
    for key in keys:
        assert schedule.last_scores[key] == pytest.approx(expected[key], rel=1e-5), key
    assert under_autocast["eval/fd_domain_n600"] != pytest.approx(expected["eval/fd_domain_n600"], rel=1e-5)


@pytest.mark.parametrize("precision", ["bf16-true", "16-true"])
def test_unsupported_precisions_are_refused_before_training(tmp_path, precision):
    model = GAN(backbone="mlp", sample_shape=(2,), steps=2)
    with pytest.raises(ValueError, match=f"trainer precision '{precision}' is not supported; use one of 32-true"):
        make_trainer(tmp_path, precision=precision).fit(model, datamodule=GANDataModule("ring8"))
    assert model.d_step == 0


def test_losses_reach_the_logger_and_the_bar_without_a_per_step_sync(tmp_path):
    """Lightning converts progress-bar values to numbers after every batch; the GAN logs none, the bar reads the
    losses itself at the logging steps."""
    cli = run(ring8_fit(tmp_path, "bar", "--model.steps", "6", "--trainer.log_every_n_steps", "3"))
    bar = cli.trainer.progress_bar_callback
    assert isinstance(bar, StepProgressBar)
    assert cli.trainer.progress_bar_metrics == {}
    shown = dict(item.split("=") for item in bar.train_progress_bar.postfix.split(", "))
    assert {"d_loss", "g_loss"} <= shown.keys()
    header = (tmp_path / "bar" / "version_0" / "metrics.csv").read_text().splitlines()[0]
    assert {"d_loss", "g_loss"} <= set(header.split(","))


class LogsEveryStep(GAN):
    """The GAN as it was before it skipped the steps Lightning's loggers do not write."""

    def _logs_this_step(self) -> bool:
        return True


def logged_rows(model: GAN, root, every: int) -> list[dict[str, str]]:
    pl.seed_everything(0)
    trainer = make_trainer(root, log_every_n_steps=every)
    trainer.fit(model, datamodule=GANDataModule("ring8", batch_size=16))
    with open(root / "run" / "version_0" / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("loss", "n_disc", "every", "steps"), [("wgan", 5, 3, 14), ("ns_gan", 1, 4, 10), ("vae", 1, 5, 7)]
)
def test_loggers_write_what_they_wrote_when_every_step_was_logged(tmp_path, loss, n_disc, every, steps):
    """Logging only at the steps Lightning writes changes nothing it writes: the same rows, steps and values, the
    generator's losses included when its updates fall between logging steps (n_disc 5, every 3 steps)."""
    arguments = {"loss": loss, "n_disc": n_disc, "backbone": "mlp", "sample_shape": (2,), "steps": steps}
    pl.seed_everything(0)
    every_step = logged_rows(LogsEveryStep(**arguments), tmp_path / "every_step", every)
    pl.seed_everything(0)
    logging_steps = logged_rows(GAN(**arguments), tmp_path / "logging_steps", every)
    assert logging_steps == every_step
    loss_rows = [row for row in logging_steps if row["d_loss"]]
    assert len(loss_rows) == steps // every + (steps % every > 0)
    if loss != "vae":
        assert all(row["g_loss"] for row in loss_rows)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None, reason="torch.compile's CPU code generation needs a C++ compiler")
@pytest.mark.parametrize("loss", ["ns_gan", "wgan_gp"])
def test_compiled_networks_train_and_checkpoint_with_eager_keys(tmp_path, loss):
    schedule = EvaluationSchedule(every_n_steps=3, extractor="none")
    model, losses = train_fashion(tmp_path, schedule, steps=3, loss=loss, n_disc=1, compile=True)
    assert model.d_step == 3 and all(math.isfinite(value) for pair in losses for value in pair)
    assert model.generator._compiled_call_impl is not None
    # torch.compile cannot differentiate twice, so a gradient penalty keeps its discriminator eager.
    assert (model.discriminator._compiled_call_impl is None) == (loss == "wgan_gp")
    saved = torch.load(tmp_path / "run" / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)
    eager = GAN(loss=loss, n_disc=1)
    assert saved["state_dict"].keys() == eager.state_dict().keys()
    eager.load_state_dict(saved["state_dict"])


def test_cli_records_the_fast_paths_in_the_run_config(tmp_path):
    cli = run(
        [
            "fit",
            "--config", str(CONFIGS / "data" / "fashion_mnist.yaml"),
            "--config", str(CONFIGS / "losses" / "ns_gan.yaml"),
            "--model.steps", "2",
            "--model.channels_last", "true",
            "--trainer.precision", "bf16-mixed",
            "--data.on_device", "true",
            "--data.batch_size", "16",
            "--evaluation.extractor", "none",
            "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false",
            "--run.root", str(tmp_path),
            "--run.wandb", "false",
        ]
    )  # fmt: skip
    assert cli.model.d_step == 2
    assert torch.backends.cudnn.benchmark, "TRAINER_DEFAULTS turns cudnn.benchmark on"
    config = yaml.safe_load((tmp_path / "gan" / "version_0" / "config.yaml").read_text())
    assert config["model"]["channels_last"] is True and config["model"]["compile"] is False
    assert config["data"]["on_device"] is True
    assert (config["trainer"]["precision"], config["trainer"]["benchmark"]) == ("bf16-mixed", True)


def test_trial_arguments_of_a_sweep_reach_every_trial_and_the_study_record():
    fast = ("--trainer.precision=bf16-mixed", "--model.channels_last=true", "--model.compile=true")
    _, settings = parse_sweep(sweep_parser(), ["--loss", "ns_gan", *fast, "--run.wandb", "false"])
    assert settings.trial == (*fast, "--run.wandb=false")
    protocol = trial_protocol(settings)
    assert study_record(settings, protocol)["precision"] == "bf16-mixed" and protocol.run.wandb is False
    config = parsed_config(trial_run_arguments(settings, protocol, 3, {"lr": 1e-4}, seed=5))
    assert (config.trainer.precision, config.model.channels_last, config.model.compile) == ("bf16-mixed", True, True)
    assert (config.model.lr, config.seed_everything, config.run.name) == (1e-4, 5, "trial-0003")
    _, defaults = parse_sweep(sweep_parser(), ["--loss", "ns_gan"])
    assert trial_protocol(defaults).precision == "32-true"
    with pytest.raises(ValueError, match="trainer precision '16-mixed' is not supported; use one of 32-true, bf16"):
        trial_protocol(SweepSettings(loss="ns_gan", trial=("--trainer.precision=16-mixed",)))

"""The training step's semantics: step counting, the n_disc schedule, divergence, exact resume, grids."""

import csv
from types import SimpleNamespace
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from lightning_gans.bench.training import StepClock
from lightning_gans.data import GANDataModule
from lightning_gans.data.sampling import StepBatchSampler
from lightning_gans.evaluation.schedule import EvaluationSchedule, is_evaluation_step
from lightning_gans.search.projection import MeasureStepRate
from lightning_gans.search.sweep import ReportEvaluations
from lightning_gans.training.module import (
    GAN,
    DivergedError,
    generator_updates,
    is_generator_step,
    lightning_optimizer_steps,
)
from lightning_gans.training.progress import StepProgressBar
from lightning_gans.training.stepping import step_watchers


def make_trainer(root, *callbacks, **kwargs) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=-1,
        use_distributed_sampler=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=pl.loggers.CSVLogger(root, name="run"),
        callbacks=list(callbacks),
        **kwargs,
    )


def ring8_gan(**kwargs) -> GAN:
    return GAN(backbone="mlp", sample_shape=(2,), **kwargs)


@pytest.mark.parametrize(("d_steps", "n_disc", "expected"), [(1, 1, 2), (7, 3, 10), (10, 5, 13), (15_625, 5, 18_751)])
def test_lightning_counts_both_optimizers(d_steps, n_disc, expected):
    # (10, 5): G at steps 0, 1 and 6; (15,625, 5): step 0 plus the 3,125 steps 1, 6, ..., 15,621.
    assert lightning_optimizer_steps(d_steps, n_disc) == expected


@pytest.mark.parametrize(
    ("n_disc", "steps"), [(1, [0, 1, 2, 3, 4, 5, 6]), (3, [0, 1, 4, 7, 10]), (5, [0, 1, 6, 11, 16, 21])]
)
def test_generator_steps_follow_the_reference(n_disc, steps):
    # The reference updates G when `(counter - 1) % disc_iters == 0 or g_loss is None` (None before the first update).
    assert [step for step in range(steps[-1] + 1) if is_generator_step(step, n_disc)] == steps
    assert all(generator_updates(d, n_disc) == sum(s < d for s in steps) for d in range(steps[-1] + 2))


@pytest.mark.parametrize(("n_disc", "g_updates"), [(1, 7), (3, 3), (5, 3)])
def test_steps_are_the_papers_discriminator_steps(tmp_path, n_disc, g_updates):
    pl.seed_everything(0)
    model = ring8_gan(loss="wgan", n_disc=n_disc, steps=7)
    make_trainer(tmp_path).fit(model, datamodule=GANDataModule("ring8"))
    d_optimizer, g_optimizer = model.trainer.optimizers
    d_updates = {int(state["step"]) for state in d_optimizer.state.values()}
    assert model.d_step == 7
    assert d_updates == {7}
    # n_disc 3: G at steps 0, 1, 4; n_disc 5: at steps 0, 1, 6
    assert {int(state["step"]) for state in g_optimizer.state.values()} == {g_updates}
    assert model.trainer.global_step == 7 + g_updates  # Lightning counts the steps of both optimizers


class PoisonedStream(torch.utils.data.IterableDataset):
    """Real-looking 2-D batches with NaN from `bad_step` on: what a broken preprocessing step produces."""

    def __init__(self, bad_step: int) -> None:
        self.bad_step = bad_step

    def __iter__(self):
        generator = torch.Generator().manual_seed(0)
        for step in range(100):
            batch = torch.randn(16, 2, generator=generator)
            yield batch if step < self.bad_step else batch * float("nan")


@pytest.mark.parametrize("check_every", [1, 5])
def test_nan_loss_stops_the_run_naming_the_exact_step(tmp_path, check_every):
    pl.seed_everything(0)
    model = ring8_gan(loss="ns_gan", steps=50, check_finite_every=check_every)
    with pytest.raises(DivergedError, match="diverged at step 3: the discriminator loss is not finite") as caught:
        make_trainer(tmp_path).fit(model, train_dataloaders=DataLoader(PoisonedStream(3), batch_size=None))
    assert caught.value.step == 3
    # The host reads the device-side flag every `check_every` steps, yet the reported step is exact.
    assert model.d_step == {1: 4, 5: 5}[check_every]


def train_with_checkpoints(root, steps, every, loss, ckpt_path=None, keep_step_checkpoints=False, **model_kwargs):
    pl.seed_everything(0)
    model = ring8_gan(loss=loss, steps=steps, **model_kwargs)
    schedule = EvaluationSchedule(every_n_steps=every, keep_step_checkpoints=keep_step_checkpoints)
    trainer = make_trainer(root, schedule)
    trainer.fit(model, datamodule=GANDataModule("ring8"), ckpt_path=ckpt_path)
    return model, trainer


# n_disc 2 exercises the G schedule across the resume for the GANs; the VAE updates both networks every step.
@pytest.mark.parametrize(("loss", "n_disc"), [("wgan_gp", 2), ("dragan", 2), ("began", 2), ("wgan", 2), ("vae", 1)])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, loss, n_disc):
    reference, _ = train_with_checkpoints(tmp_path / "whole", 12, 6, loss, n_disc=n_disc)
    train_with_checkpoints(tmp_path / "half", 6, 6, loss, n_disc=n_disc)
    checkpoint = tmp_path / "half" / "run" / "version_0" / "checkpoints" / "last.ckpt"
    assert checkpoint.exists()
    resumed, trainer = train_with_checkpoints(
        tmp_path / "resumed", 12, 6, loss, ckpt_path=str(checkpoint), n_disc=n_disc
    )
    assert resumed.d_step == reference.d_step == 12
    expected, actual = reference.state_dict(), resumed.state_dict()
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=f"{name} differs")
    for expected_opt, actual_opt in zip(reference.trainer.optimizers, trainer.optimizers, strict=True):
        for p_expected, p_actual in zip(expected_opt.state.values(), actual_opt.state.values(), strict=True):
            torch.testing.assert_close(p_actual["exp_avg"], p_expected["exp_avg"], rtol=0, atol=0)
    if loss == "began":
        assert reference.began_k.item() != 0.0


def test_evaluation_points_write_grids_and_checkpoints(tmp_path):
    train_with_checkpoints(tmp_path, 10, 4, "ns_gan", keep_step_checkpoints=True)
    run = tmp_path / "run" / "version_0"
    # Step 8 is closer than 4 steps to the end: merged into step 10.
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-00000004.png", "step-00000010.png"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "best.ckpt",  # ring8 runs are scored by the modes they cover
        "last.ckpt",
        "step-00000004.ckpt",
        "step-00000010.ckpt",
    ]
    with Image.open(run / "samples" / "step-00000010.png") as picture:
        assert picture.size == (256, 256)
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["d_step"] == 10
    assert not list(run.rglob("*.partial"))


@pytest.mark.parametrize(
    ("step", "every", "last", "expected"),
    [
        (0, 4, 10, False),
        (4, 4, 10, True),
        (5, 4, 10, False),
        (8, 4, 10, False),  # 2 steps before the end: merged into it
        (10, 4, 10, True),
        (8, 4, 12, True),  # exactly one interval before the end: kept
        (15_624, 3_906, 15_625, False),
        (11_718, 3_906, 15_625, True),
    ],
)
def test_evaluation_steps(step, every, last, expected):
    assert is_evaluation_step(step, every, last) is expected


def test_fixed_noise_is_the_same_for_every_run():
    """The sample grid's 64 latents: U[-1, 1] draws from seed 2018, whatever the run's own seed."""
    expected = torch.rand(64, 64, generator=torch.Generator().manual_seed(2018)) * 2 - 1
    for seed in (1, 2):
        pl.seed_everything(seed)
        torch.testing.assert_close(ring8_gan().fixed_noise, expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps=0 is not allowed; steps must be an integer >= 1"),
        ({"n_disc": 0}, "n_disc=0 is not allowed"),
        ({"lr": -1.0}, r"lr=-1.0 is not allowed; lr must be > 0"),
        ({"beta1": 1.0}, r"beta1=1.0 is not allowed; beta1 must be in \[0, 1\)"),
        ({"loss": "hinge"}, "unknown loss 'hinge'; valid loss names: mm_gan, ns_gan, lsgan, wgan, wgan_gp"),
        ({"loss": "vae", "n_disc": 2}, "n_disc=2 is not allowed; n_disc must be 1 for loss 'vae'"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ring8_gan(**kwargs)


class WatchEveryStep(pl.Callback):
    """May look at any step and listens to the optimizer step: with it, a run takes one step per Lightning batch and
    goes through manual_backward and LightningOptimizer.step (training/stepping.py), as every run did before."""

    def __init__(self) -> None:
        self.batch_ends: list[int] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batch_ends.append(pl_module.d_step)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        pass


class WatchNoStep(WatchEveryStep):
    """Says it watches no step, so it sees only where Lightning's batches (blocks of steps) end."""

    def watches_step(self, d_step: int, pl_module: Any) -> bool:
        return False

    on_before_optimizer_step = pl.Callback.on_before_optimizer_step


def fit_with_checkpoints(root, loss, n_disc, watcher) -> GAN:
    """30 steps logged every 4, evaluated and checkpointed at steps 12 and 30 (24 is merged into the end)."""
    pl.seed_everything(0)
    model = ring8_gan(loss=loss, n_disc=n_disc, steps=30)
    schedule = EvaluationSchedule(every_n_steps=12, samples=500, keep_step_checkpoints=True)
    make_trainer(root, schedule, watcher, log_every_n_steps=4).fit(model, datamodule=GANDataModule("ring8"))
    return model


def logged_rows(run) -> list[dict[str, str]]:
    """metrics.csv's rows, but for how long each evaluation took (`eval/seconds_*`: wall time)."""
    with open(run / "metrics.csv") as handle:
        return [{key: value for key, value in row.items() if "/seconds_" not in key} for row in csv.DictReader(handle)]


def assert_same(actual: Any, expected: Any, where: str) -> None:
    """Equal to the bit, through nested checkpoints (tensors, dicts, lists, numbers)."""
    if isinstance(expected, torch.Tensor):
        torch.testing.assert_close(actual, expected, rtol=0, atol=0, msg=where)
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys(), where
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), where
        for index, (mine, theirs) in enumerate(zip(actual, expected, strict=True)):
            assert_same(mine, theirs, f"{where}/{index}")
    else:
        assert actual == expected, where


@pytest.mark.parametrize(("loss", "n_disc"), [("wgan_gp", 2), ("vae", 1)])
def test_blocks_of_steps_and_direct_calls_change_nothing_a_run_writes(tmp_path, monkeypatch, loss, n_disc):
    """The same weights, Adam states, step counts, loop state and logged rows as one step per batch through
    Lightning's wrappers: in every checkpoint (evaluation points) and in metrics.csv."""
    backward_calls = []
    manual_backward = GAN.manual_backward
    monkeypatch.setattr(GAN, "manual_backward", lambda self, loss: backward_calls.append(manual_backward(self, loss)))
    every_step, no_step = WatchEveryStep(), WatchNoStep()
    fit_with_checkpoints(tmp_path / "single", loss, n_disc, every_step)
    single_backward_calls = len(backward_calls)
    fit_with_checkpoints(tmp_path / "blocks", loss, n_disc, no_step)

    assert every_step.batch_ends == list(range(1, 31))
    assert no_step.batch_ends == [4, 8, 12, 16, 20, 24, 28, 30]  # logging steps, evaluations at 12 and 30
    assert single_backward_calls > 0 and len(backward_calls) == single_backward_calls  # none in blocks: direct
    single, blocks = (tmp_path / name / "run" / "version_0" for name in ("single", "blocks"))
    assert logged_rows(blocks) == logged_rows(single)
    names = sorted(path.name for path in (single / "checkpoints").iterdir())
    assert names == sorted(path.name for path in (blocks / "checkpoints").iterdir())
    assert {"step-00000012.ckpt", "step-00000030.ckpt"} <= set(names)
    for name in names:
        expected, actual = (torch.load(run / "checkpoints" / name, weights_only=False) for run in (single, blocks))
        assert expected["global_step"] == lightning_optimizer_steps(expected["d_step"], n_disc)
        assert_same(actual, expected, name)


def test_a_run_in_blocks_of_steps_reports_the_exact_divergence_step(tmp_path):
    data = GANDataModule("ring8", batch_size=16)
    stored = data.split("train").data
    stored[StepBatchSampler(len(stored), 16, data.seed).batch_at(3)] = float("nan")  # step 3's batch only
    pl.seed_everything(0)
    model = ring8_gan(loss="ns_gan", steps=50, check_finite_every=5)
    watcher = WatchNoStep()
    with pytest.raises(DivergedError, match="diverged at step 3: the discriminator loss is not finite"):
        make_trainer(tmp_path, watcher).fit(model, datamodule=data)
    assert model.d_step == 5  # the check after step 5, inside the first block (steps 0-49): it never ended
    assert watcher.batch_ends == []


def test_the_projects_callbacks_say_which_steps_they_watch():
    """A per-batch hook without `watches_step` would make every block one step: each callback says its steps."""
    schedule = EvaluationSchedule(every_n_steps=4)
    watched = {
        schedule: [4, 10],  # 8 is merged into the last step
        ReportEvaluations(None, schedule): [4, 10],
        MeasureStepRate(None): [5],  # and 25, past this run's end
        StepProgressBar(refresh_rate=3): [3, 6, 9, 10],
        StepClock(2, torch.device("cpu")): [2, 10],
    }
    module = SimpleNamespace(hparams=SimpleNamespace(steps=10))
    for callback, steps in watched.items():
        assert [step for step in range(1, 11) if callback.watches_step(step, module)] == steps, callback
    trainer = SimpleNamespace(callbacks=list(watched), max_steps=-1, fast_dev_run=False, limit_train_batches=1.0)
    assert step_watchers(trainer) is not None
    assert step_watchers(SimpleNamespace(**{**vars(trainer), "callbacks": [WatchEveryStep()]})) is None

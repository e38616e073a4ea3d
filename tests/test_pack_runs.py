"""Each member of a pack as its own run (evaluation/packs.py): what a packed member leaves is what its run alone leaves.

Members are built as search/packs.train_one_pack builds them: GAN modules under their own seeds, each with its own
CSVLogger and EvaluationSchedule, trained by one Trainer through PackedGAN, PackedDataModule and PackRuns. Each is
compared with the same GAN trained alone by the ordinary GAN + EvaluationSchedule + CSVLogger, in float32, where the
two differ in summation order only (within 1e-5; float64 would be near-exact, but a GAN cannot evaluate under 64-true
yet); a resumed pack is compared bitwise with the same pack trained in one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import pandas as pd
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from PIL import Image

from lightning_gans.data import GANDataModule
from lightning_gans.data.packs import PackedDataModule
from lightning_gans.defaults import TRAINER_DEFAULTS
from lightning_gans.evaluation.packs import PackMember, PackRuns
from lightning_gans.evaluation.schedule import EvaluationSchedule
from lightning_gans.training.module import GAN, DivergedError, is_generator_step, lightning_optimizer_steps
from lightning_gans.training.packed_module import PackedGAN

DATASET = "grid25"  # 2-D, the MLP pair; its centre mode makes the scores non-zero from the first evaluation
STEPS, EVERY = 30, 10
SEEDS = (11, 22, 33)
VARIANTS = (  # one structure (loss, backbone, d_batch_norm, ...), everything else of their own
    {"lr": 1e-3, "beta1": 0.5, "n_disc": 1},
    {"lr": 3e-4, "beta1": 0.9, "beta2": 0.99, "n_disc": 5},
    {"lr": 2e-3, "beta1": 0.0, "n_disc": 2},
)
PRECISION = "32-true"  # 64-true: GAN.sample meets float32 evaluation noise with float64 weights and fails
CLOSE = {"rtol": 1e-5, "atol": 1e-5}  # float32: the packed and lone sums differ in order only
LOSS_COLUMNS = r"^(d|g)[_/]|^step$"
EVAL_STEPS = [10, 20, 30]


def member(index: int, steps: int) -> tuple[GAN, GANDataModule]:
    """Member `index` as its trial builds it: seeded first (its initial weights, its noise), its data by its seed."""
    pl.seed_everything(SEEDS[index], verbose=False)
    module = GAN(loss="ns_gan", backbone="mlp", sample_shape=(2,), steps=steps, z_dim=8, **VARIANTS[index])
    return module, GANDataModule(DATASET, seed=SEEDS[index])


def trainer(precision: str, callbacks: list[pl.Callback], **settings: object) -> pl.Trainer:
    options = {**TRAINER_DEFAULTS, "log_every_n_steps": 1, "accelerator": "cpu", "devices": 1}
    options |= {"precision": precision, "enable_progress_bar": False, "enable_model_summary": False}
    return pl.Trainer(**options, callbacks=callbacks, **settings)


def schedule() -> EvaluationSchedule:
    return EvaluationSchedule(every_n_steps=EVERY, samples=1000)


@dataclass
class Lone:
    module: GAN
    schedule: EvaluationSchedule
    directory: Path
    trainer: pl.Trainer


def train_alone(root: Path, index: int, steps: int, precision: str, ckpt_path: Path | None = None) -> Lone:
    module, data = member(index, steps)
    run_schedule = schedule()
    logger = CSVLogger(str(root), name=f"member-{index}")
    run = trainer(precision, [run_schedule], logger=[logger])
    run.fit(module, datamodule=data, ckpt_path=ckpt_path)
    return Lone(module, run_schedule, Path(logger.log_dir), run)


@dataclass
class Pack:
    module: PackedGAN
    runs: PackRuns
    trainer: pl.Trainer

    def directory(self, index: int) -> Path:
        return self.runs.members[index].directory


def train_pack(
    root: Path, steps: int, precision: str, ckpt_path: Path | None = None, before: tuple[pl.Callback, ...] = ()
) -> Pack:
    """The members as one pack, each with its own folder, loggers and schedule (search/packs.train_one_pack)."""
    built = [member(index, steps) for index in range(len(SEEDS))]
    members = []
    for index in range(len(SEEDS)):
        logger = CSVLogger(str(root), name=f"member-{index}")
        members.append(PackMember(Path(logger.log_dir), [logger], schedule()))
    pack = PackedGAN([module for module, _ in built])
    runs = PackRuns(members)
    run = trainer(precision, [*before, runs], logger=False, default_root_dir=str(root / "pack"))
    run.fit(pack, datamodule=PackedDataModule.of_members([data for _, data in built]), ckpt_path=ckpt_path)
    return Pack(pack, runs, run)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> list[Lone]:
    """Every member trained alone, STEPS long."""
    root = tmp_path_factory.mktemp("alone")
    return [train_alone(root, index, STEPS, PRECISION) for index in range(len(SEEDS))]


def metrics(directory: Path) -> pd.DataFrame:
    return pd.read_csv(directory / "metrics.csv")


def loss_rows(directory: Path) -> pd.DataFrame:
    frame = metrics(directory)
    losses = frame.filter(regex=LOSS_COLUMNS)
    return losses[losses.drop(columns="step").notna().any(axis=1)].reset_index(drop=True)


def eval_rows(directory: Path) -> pd.DataFrame:
    frame = metrics(directory)
    scores = frame.filter(regex=r"^eval/|^step$").drop(columns=[c for c in frame if "seconds" in c])
    return scores[scores.drop(columns="step").notna().any(axis=1)].reset_index(drop=True)


def assert_states_close(actual: dict, expected: dict, **tolerance: float) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], **tolerance, msg=lambda m, n=name: f"{n}: {m}")


def assert_checkpoints_alike(packed: dict, lone: dict) -> None:
    """A member's checkpoint is the lone run's, in the GAN module's format: every entry, values near-exact."""
    assert packed.keys() == lone.keys()
    for key in ("epoch", "global_step", "d_step", "hparams_name", "hyper_parameters", "loops", "callbacks"):
        assert packed[key] == lone[key], key
    assert torch.equal(packed["noise_state"], lone["noise_state"])  # the member drew exactly the lone run's noise
    assert_states_close(packed["state_dict"], lone["state_dict"], **CLOSE)
    for own, expected in zip(packed["optimizer_states"], lone["optimizer_states"], strict=True):
        assert own["param_groups"] == expected["param_groups"]
        assert own["state"].keys() == expected["state"].keys()
        for index, state in expected["state"].items():
            assert_states_close(own["state"][index], state, **CLOSE)


def test_each_member_leaves_what_its_run_alone_leaves(tmp_path, alone):
    pack = train_pack(tmp_path, STEPS, PRECISION)
    assert pack.module.stopped == {} and pack.module.d_step == STEPS
    for index, lone in enumerate(alone):
        directory = pack.directory(index)
        files = sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))
        assert files == sorted(str(path.relative_to(lone.directory)) for path in lone.directory.rglob("*"))
        assert "checkpoints/best.ckpt" in files and "checkpoints/last.ckpt" in files
        expected_losses = loss_rows(lone.directory)
        assert list(expected_losses["step"]) == list(range(STEPS))  # every step's row, with log_every_n_steps=1
        pd.testing.assert_frame_equal(loss_rows(directory), expected_losses, **CLOSE)
        scores = eval_rows(lone.directory)
        assert list(scores["step"]) == EVAL_STEPS and scores["eval/high_quality_points_n1000"].gt(0).all()
        pd.testing.assert_frame_equal(eval_rows(directory), scores, rtol=0, atol=1e-12)
        assert list(metrics(directory).columns) == list(metrics(lone.directory).columns)
        assert (directory / "hparams.yaml").read_text() == (lone.directory / "hparams.yaml").read_text()
        for step in EVAL_STEPS:
            grid = f"samples/step-{step:08d}.png"
            with Image.open(directory / grid) as packed, Image.open(lone.directory / grid) as own:
                assert list(packed.getdata()) == list(own.getdata()), grid
        for name in ("best.ckpt", "last.ckpt"):
            packed, own = (
                torch.load(d / "checkpoints" / name, weights_only=False) for d in (directory, lone.directory)
            )
            assert_checkpoints_alike(packed, own)
        runs = pack.runs.members[index]
        assert (runs.schedule.best_score, runs.schedule.best_step) == (
            lone.schedule.best_score,
            lone.schedule.best_step,
        )


def test_a_members_last_checkpoint_resumes_in_the_gan_module(tmp_path, alone):
    short = train_pack(tmp_path / "pack", 20, PRECISION)
    index = 1  # n_disc 5: Lightning's count of optimizer steps is not twice the paper's
    checkpoint = short.directory(index) / "checkpoints" / "last.ckpt"
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["d_step"] == 20
    n_disc = VARIANTS[index]["n_disc"]
    assert saved["global_step"] == lightning_optimizer_steps(20, n_disc) == 20 + 5  # G at 0, 1, 6, 11, 16
    assert GAN.load_from_checkpoint(checkpoint).hparams.n_disc == n_disc
    resumed = train_alone(tmp_path / "resumed", index, STEPS, PRECISION, ckpt_path=checkpoint)
    lone = alone[index]
    assert resumed.module.d_step == STEPS
    assert resumed.trainer.global_step == lone.trainer.global_step == lightning_optimizer_steps(STEPS, n_disc)
    assert_states_close(resumed.module.state_dict(), lone.module.state_dict(), **CLOSE)
    for own, expected in zip(resumed.trainer.optimizers, lone.trainer.optimizers, strict=True):
        for state, expected_state in zip(own.state.values(), expected.state.values(), strict=True):
            assert_states_close(state, expected_state, **CLOSE)
    # The best score of the packed steps came along: the resumed run's best is the lone run's over all of them.
    assert (resumed.schedule.best_score, resumed.schedule.best_step) == (
        lone.schedule.best_score,
        lone.schedule.best_step,
    )


class StopAt(pl.Callback):
    """Ends a pack's fit at `step`, after its runs evaluated that step, as an interrupted run ends."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.d_step == self.step:
            trainer.should_stop = True


def pack_state(pack: Pack) -> dict[str, torch.Tensor]:
    state = dict(pack.module.state_dict())
    for which, optimizer in zip(("d", "g"), pack.trainer.optimizers, strict=True):
        for number, parameter_state in enumerate(optimizer.state.values()):
            state |= {f"{which}-adam-{number}-{key}": value for key, value in parameter_state.items()}
    return state


def test_a_pack_resumes_exactly_from_its_own_checkpoint(tmp_path):
    whole = train_pack(tmp_path / "whole", 20, PRECISION)
    half = train_pack(tmp_path / "half", 20, PRECISION, before=(StopAt(10),))
    assert half.module.d_step == 10
    checkpoint = tmp_path / "pack.ckpt"
    half.trainer.save_checkpoint(checkpoint)
    kept = [(member.schedule.best_score, member.schedule.best_step) for member in half.runs.members]
    # Every member's best is its step-10 evaluation and stays so: a resume that lost it would make it step 20's.
    assert [step for _, step in kept] == [10] * len(SEEDS)
    resumed = train_pack(tmp_path / "resumed", 20, PRECISION, ckpt_path=checkpoint)  # fresh members and runs
    assert resumed.module.d_step == whole.module.d_step == 20
    assert_states_close(pack_state(resumed), pack_state(whole), rtol=0, atol=0)  # bitwise, float32
    for index, (run, expected) in enumerate(zip(resumed.runs.members, whole.runs.members, strict=True)):
        best = (run.schedule.best_score, run.schedule.best_step)
        assert best == (expected.schedule.best_score, expected.schedule.best_step) == kept[index]
        assert run.metrics.keys() == expected.metrics.keys()
        for key, value in expected.metrics.items():
            assert torch.equal(run.metrics[key], value) or "seconds" in key, key
        last = [torch.load(r.directory / "checkpoints" / "last.ckpt", weights_only=False) for r in (run, expected)]
        assert_states_close(last[0]["state_dict"], last[1]["state_dict"], rtol=0, atol=0)
        assert last[0]["global_step"] == last[1]["global_step"] and last[0]["callbacks"] == last[1]["callbacks"]
        # The resumed run logs the steps after the checkpoint as the uninterrupted run logged them. The generator's
        # losses of a member that skips G at the first resumed steps are left out: they repeat its latest update's,
        # which a checkpoint does not keep (the GAN module alike; see the report).
        whole_losses = loss_rows(expected.directory)
        whole_losses = whole_losses[whole_losses["step"] >= 10].reset_index(drop=True)
        losses = loss_rows(run.directory)
        first_update = next(step for step in range(10, 20) if is_generator_step(step, VARIANTS[index]["n_disc"]))
        unknown = (losses["step"] < first_update).to_numpy()[:, None] & losses.columns.str.startswith("g")
        pd.testing.assert_frame_equal(losses.mask(unknown), whole_losses.mask(unknown), rtol=0, atol=0)


class PoisonGenerator(pl.Callback):
    """Makes member `index`'s generator output NaN right after the step that ends at `step`, before its evaluation."""

    def __init__(self, index: int, step: int) -> None:
        self.index, self.step = index, step

    @torch.no_grad()
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.d_step == self.step:
            last_bias = list(pl_module.generator.parameters())[-1]  # (members, 2): its output layer's bias
            last_bias[self.index] = float("nan")


def test_a_member_with_non_finite_samples_stops_alone_and_keeps_its_best(tmp_path, alone):
    bad = 2
    pack = train_pack(tmp_path, STEPS, PRECISION, before=(PoisonGenerator(bad, 20),))
    assert pack.module.running == [True, True, False] and pack.module.d_step == STEPS
    stopped = pack.module.stopped[bad]
    assert isinstance(stopped, DivergedError) and (stopped.step, stopped.what) == (20, "a generated sample")
    assert pack.module.divergences == {bad: stopped}
    lone_scores = eval_rows(alone[bad].directory)
    run = pack.runs.members[bad]
    directory = run.directory
    # Its evaluation at step 10 is all it has: the lone run's, best included, and its checkpoints stay there.
    pd.testing.assert_frame_equal(eval_rows(directory), lone_scores.iloc[:1], rtol=0, atol=1e-12)
    assert (run.schedule.best_score, run.schedule.best_step) == (lone_scores["eval/modes_points_n1000"][0], 10)
    for name in ("best.ckpt", "last.ckpt"):
        assert torch.load(directory / "checkpoints" / name, weights_only=False)["d_step"] == 10
    expected_losses = loss_rows(alone[bad].directory)
    # Rows up to step 18: the step-19 row would be written after the evaluation that stopped it, as a GAN raises.
    pd.testing.assert_frame_equal(loss_rows(directory), expected_losses[expected_losses["step"] < 19], **CLOSE)
    for index in (0, 1):
        lone, run = alone[index], pack.runs.members[index]
        assert_states_close(pack.module.member(index).state_dict(), lone.module.state_dict(), **CLOSE)
        pd.testing.assert_frame_equal(eval_rows(run.directory), eval_rows(lone.directory), rtol=0, atol=1e-12)
        pd.testing.assert_frame_equal(loss_rows(run.directory), loss_rows(lone.directory), **CLOSE)
        assert (run.schedule.best_score, run.schedule.best_step) == (lone.schedule.best_score, lone.schedule.best_step)

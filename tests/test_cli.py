"""The front door: fast_dev_run of every loss on every backbone through the CLI, configs, name errors."""

import pickle
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import yaml

from lightning_gans.data import DATASETS
from lightning_gans.evaluation.schedule import EvaluationSchedule
from lightning_gans.resources import CONFIGS
from lightning_gans.runs import run
from lightning_gans.training.losses import LOSSES
from lightning_gans.training.module import GAN
from lightning_gans.training.nets import BACKBONES

ROOT = Path(__file__).resolve().parents[1]
REGISTERED_LOSSES = LOSSES.names()


def config_names(kind: str) -> list[str]:
    return sorted(path.stem for path in (CONFIGS / kind).glob("*.yaml"))


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory) -> Path:
    """A small CIFAR-10 in torchvision's on-disk format (python pickles of uint8 rows)."""
    root = tmp_path_factory.mktemp("cifar")
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {b"data": rng.integers(0, 256, (32, 3072), dtype=np.uint8), b"labels": [0] * 32}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)
    return root


BACKBONE_DATA = {
    "infogan": ("fashion_mnist", []),
    "dcgan": ("cifar10", ["--data.download", "false"]),
    "mlp": ("ring8", []),
}


def fit_args(loss: str, backbone: str, root: Path, extra: list[str]) -> list[str]:
    dataset, data_args = BACKBONE_DATA[backbone]
    return [
        "fit",
        "--config", str(CONFIGS / "data" / f"{dataset}.yaml"),
        "--config", str(CONFIGS / "backbones" / f"{backbone}.yaml"),
        "--config", str(CONFIGS / "losses" / f"{loss}.yaml"),
        "--trainer.fast_dev_run", "1",
        "--trainer.accelerator", "cpu",
        "--trainer.default_root_dir", str(root),
        "--evaluation.extractor", "none",
        "--run.wandb", "false",
        *data_args,
        *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("backbone", list(BACKBONE_DATA))
@pytest.mark.parametrize("loss", REGISTERED_LOSSES)
def test_fast_dev_run(loss, backbone, tmp_path, cifar_dir):
    extra = ["--data.data_dir", str(cifar_dir)] if backbone == "dcgan" else []
    cli = run(fit_args(loss, backbone, tmp_path, extra))
    model = cli.model
    assert model.hparams.loss == loss and model.hparams.backbone == backbone
    assert model.d_step == 1
    pl.seed_everything(0)  # the CLI seeds 0 before building the model: rebuild the same initial weights
    initial = GAN(**{key: value for key, value in model.hparams.items() if key != "_instantiator"})
    for network in ("generator", "discriminator"):
        before = getattr(initial, network).state_dict()
        after = getattr(model, network).state_dict()
        assert any(not torch.equal(before[name], after[name]) for name in before), f"{network} did not train"


def test_configs_cover_every_registered_name():
    assert config_names("losses") == sorted(LOSSES.names())
    assert config_names("data") == sorted(DATASETS.names())
    assert config_names("backbones") == sorted(BACKBONES.names())


# The authors' settings, docs/protocol.md: loss -> (lr, beta1, n_disc, D batch norm).
AUTHORS = {
    "ns_gan": (5e-5, 0.0, 1, True),
    "mm_gan": (5e-5, 0.0, 1, True),
    "lsgan": (2e-4, 0.5, 1, True),
    "wgan": (5e-5, 0.5, 5, True),
    "wgan_gp": (1e-4, 0.5, 5, False),
    "dragan": (1e-4, 0.5, 1, True),
    "began": (1e-4, 0.5, 5, False),
    "vae": (5e-5, 0.5, 1, True),  # the paper publishes none: configs/losses/vae.yaml holds the reference's defaults
}


@pytest.mark.parametrize("loss", REGISTERED_LOSSES)
def test_loss_configs_hold_the_authors_settings(loss):
    model = yaml.safe_load((CONFIGS / "losses" / f"{loss}.yaml").read_text())["model"]
    assert model["loss"] == loss
    assert (model["lr"], model["beta1"], model["n_disc"], model["d_batch_norm"]) == AUTHORS[loss]


@pytest.mark.parametrize(
    ("dataset", "steps", "every"),
    [("fashion_mnist", 15625, 3906), ("cifar10", 78125, 3906), ("celeba", 101250, 12656), ("polygons", 15625, 3906)],
)
def test_the_dataset_table_holds_the_references_length_and_interval(dataset, steps, every):
    # The reference: 20 / 100 / 40 epochs of 50,000 / 50,000 / 162,000 images at batch 64, evaluated every 5 epochs.
    spec = DATASETS.get(dataset)
    assert (spec.paper_steps, spec.paper_eval_every) == (steps, every)
    config = yaml.safe_load((CONFIGS / "data" / f"{dataset}.yaml").read_text())
    assert "steps" not in config.get("model", {}) and "evaluation" not in config  # one table, not two


def test_fit_takes_length_and_interval_from_the_dataset_table(tmp_path):
    cli = run(
        [
            "fit", "--config", str(CONFIGS / "data" / "ring8.yaml"),
            "--config", str(CONFIGS / "backbones" / "mlp.yaml"), "--config", str(CONFIGS / "losses" / "ns_gan.yaml"),
            "--trainer.fast_dev_run", "true",
            "--run.root", str(tmp_path), "--run.wandb", "false",
        ]
    )  # fmt: skip
    schedule = next(callback for callback in cli.trainer.callbacks if isinstance(callback, EvaluationSchedule))
    assert (cli.model.hparams.steps, schedule.every_n_steps) == (25_000, 5_000)


@pytest.mark.parametrize(
    ("flag", "value", "listing"),
    [
        ("--model.loss", "hinge", "valid loss names: mm_gan, ns_gan, lsgan, wgan, wgan_gp, dragan, began"),
        ("--model.backbone", "resnet", "valid backbone names: infogan, dcgan, mlp"),
        ("--data.name", "imagenet", "valid dataset names: mnist, fashion_mnist, cifar10, celeba"),
        ("--evaluation.extractor", "clip", "valid extractor names: auto, none, inception, domain"),
    ],
)
def test_unknown_names_fail_before_training_listing_valid_ones(flag, value, listing, tmp_path, capsys):
    args = [
        "fit",
        "--trainer.default_root_dir",
        str(tmp_path),
        "--data.data_dir",
        str(tmp_path),  # empty: a run that got as far as loading would fail differently
        flag,
        value,
    ]
    with pytest.raises(SystemExit) as exit_info:
        run(args)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"{value!r}" in error and listing in error
    assert not list(tmp_path.rglob("*.ckpt"))


def test_make_train_rejects_an_unknown_loss_before_doing_anything():
    result = subprocess.run(
        ["make", "-C", str(ROOT), "train", "LOSS=hinge"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "unknown LOSS=hinge; valid: began dragan lsgan mm_gan ns_gan vae wgan wgan_gp" in result.stderr


def test_console_script_trains_and_leaves_a_run_behind(tmp_path):
    """The real entry point in a real process: exit status 0, metrics, a final grid and a checkpoint."""
    script = Path(sys.executable).with_name("lightning-gans")
    result = subprocess.run(
        [
            str(script), "fit",
            "--config", str(CONFIGS / "data" / "ring8.yaml"),
            "--config", str(CONFIGS / "backbones" / "mlp.yaml"),
            "--config", str(CONFIGS / "losses" / "began.yaml"),
            "--model.steps", "12",
            "--run.root", str(tmp_path),
            "--run.name", "began-ring8",
            "--run.wandb", "false",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "began-ring8" / "version_0"
    assert (run_dir / "samples" / "step-00000012.png").exists()
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["d_step"] == 12
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"d_loss", "g_loss", "d/k", "d/convergence", "d/recon_real", "d/penalty"} - set(header) == {"d/penalty"}


def ring8_fit(root: Path, name: str, *extra: str) -> list[str]:
    return [
        "fit",
        "--config", str(CONFIGS / "data" / "ring8.yaml"),
        "--config", str(CONFIGS / "backbones" / "mlp.yaml"),
        "--config", str(CONFIGS / "losses" / "wgan_gp.yaml"),
        "--evaluation.every_n_steps", "5",
        "--run.root", str(root),
        "--run.name", name,
        "--run.wandb", "false",
        *extra,
    ]  # fmt: skip


def test_readme_resume_extends_a_run_exactly(tmp_path):
    """Resume as the README says (saved config.yaml + --ckpt_path) with more steps: equal to one long run."""
    run(ring8_fit(tmp_path, "whole", "--model.steps", "20"))
    run(ring8_fit(tmp_path, "split", "--model.steps", "10"))
    first = tmp_path / "split" / "version_0"
    resumed = run(
        [
            "fit",
            "--config", str(first / "config.yaml"),
            "--model.steps", "20",
            "--ckpt_path", str(first / "checkpoints" / "last.ckpt"),
        ]
    )  # fmt: skip
    assert resumed.model.d_step == 20
    whole = torch.load(tmp_path / "whole" / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)
    split = torch.load(tmp_path / "split" / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert split["d_step"] == whole["d_step"] == 20
    for name, tensor in whole["state_dict"].items():
        torch.testing.assert_close(split["state_dict"][name], tensor, rtol=0, atol=0, msg=name)


def test_progress_bars_can_be_switched_off(tmp_path):
    cli = run(ring8_fit(tmp_path, "quiet", "--model.steps", "3", "--trainer.enable_progress_bar", "false"))
    assert cli.model.d_step == 3
    assert cli.trainer.progress_bar_callback is None


def test_a_diverged_fit_says_what_it_kept_and_exits_with_status_1(tmp_path):
    """WGAN-GP with lr 1e6: the step-1 evaluation scores, then a loss of step 1 is not finite."""
    arguments = ring8_fit(tmp_path, "diverged", "--model.steps", "20", "--model.lr", "1e6", "--model.n_disc", "1")
    arguments[arguments.index("--evaluation.every_n_steps") + 1] = "1"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lightning-gans")), *arguments], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stderr[-2000:]
    best = tmp_path / "diverged" / "version_0" / "checkpoints" / "best.ckpt"
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("training stopped:")]
    assert line.startswith("training stopped: diverged at step 1: the ")  # the first non-finite loss, named exactly
    (state,) = [v for k, v in torch.load(best, weights_only=False)["callbacks"].items() if "EvaluationSchedule" in k]
    assert state["best_step"] == 1
    assert line.endswith(f"; best eval/modes_points_n10000 = {state['best_score']:.6g} at step 1, kept in {best}")
    assert "Traceback" not in result.stderr

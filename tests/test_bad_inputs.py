"""Files and values a user gets wrong are refused before anything runs: one line naming them, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lightning_gans.search.sweep import SweepSettings

SCRIPT = Path(sys.executable).with_name("lightning-gans")
QUICK = ("--data.name", "ring8", "--model.steps", "2", "--run.wandb", "false", "--trainer.enable_progress_bar", "false")


def fit(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), "fit", *arguments], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def wgan_checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wgan")
    result = fit(*QUICK, "--model.loss", "wgan", "--run.root", str(root), cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "gan" / "version_0" / "checkpoints" / "last.ckpt"


def assert_refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stderr[-3000:]
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_binary_config_file_is_named(tmp_path):
    (tmp_path / "model.yaml").write_bytes(bytes(range(256)) * 20)
    assert_refused(fit("--config", "model.yaml", cwd=tmp_path), "config model.yaml is not a text file (not UTF-8)")


def test_a_config_that_is_not_a_mapping_is_named(tmp_path):
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    assert_refused(fit("--config=list.yaml", cwd=tmp_path), "config list.yaml holds a list, not a mapping of settings")


@pytest.mark.slow  # two trainings and three refusals, each a process
def test_random_bytes_and_a_truncated_checkpoint_are_not_resumed(tmp_path, wgan_checkpoint):
    (tmp_path / "random.ckpt").write_bytes(bytes(range(256)) * 40)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(wgan_checkpoint.read_bytes()[: wgan_checkpoint.stat().st_size // 2])
    for name in ("random.ckpt", "cut.ckpt"):
        result = fit(*QUICK, "--model.loss", "wgan", "--ckpt_path", name, cwd=tmp_path)
        assert_refused(result, f"ckpt_path {name} is not a checkpoint: not a file torch.save wrote, or one cut short")
    assert not (tmp_path / "runs").exists()  # nothing started, nothing left behind


@pytest.mark.slow
def test_a_checkpoint_of_another_loss_is_not_resumed(tmp_path, wgan_checkpoint):
    result = fit(*QUICK, "--model.loss", "ns_gan", "--ckpt_path", str(wgan_checkpoint), cwd=tmp_path)
    assert_refused(
        result,
        f"ckpt_path {wgan_checkpoint} is a checkpoint of loss 'wgan' on backbone 'mlp', but this run is loss "
        "'ns_gan' on backbone 'mlp'",
    )
    again = fit(*QUICK, "--model.loss", "wgan", "--model.steps", "3", "--ckpt_path", str(wgan_checkpoint), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]  # its own loss resumes


def test_a_data_dir_that_does_not_exist_is_an_error_not_a_silent_fallback(tmp_path):
    result = fit(*QUICK, "--data.data_dir", str(tmp_path / "missing"), cwd=tmp_path)
    assert_refused(result, f"data_dir '{tmp_path / 'missing'}' is not a directory")


def test_a_grace_period_shorter_than_two_heartbeats_is_refused():
    with pytest.raises(ValueError, match="grace_seconds=15 is too short for heartbeat_seconds=10"):
        SweepSettings(loss="wgan", heartbeat_seconds=10, grace_seconds=15)
    SweepSettings(loss="wgan", heartbeat_seconds=10, grace_seconds=20)


def test_more_evaluation_samples_than_test_images_fail_before_anything_starts(tmp_path):
    message = "evaluation samples 20000 is more than the 10,000 test images of fashion_mnist"
    assert_refused(fit("--evaluation.samples", "20000", cwd=tmp_path), message)
    storage = tmp_path / "optuna.journal"
    sweep = subprocess.run(
        [str(SCRIPT), "sweep", "--loss", "wgan", "--storage", str(storage), "--evaluation.samples=20000"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert_refused(sweep, message)
    assert not storage.exists() or storage.stat().st_size == 0  # no study, so no trial 0 burned as FAIL


def test_a_missing_dataset_is_one_line_and_leaves_no_run_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no cached copy of CIFAR-10 anywhere
    monkeypatch.delenv("LIGHTNING_GANS_DATA", raising=False)
    result = fit(
        "--data.name", "cifar10", "--data.download", "false", "--model.steps", "2", "--run.wandb", "true", cwd=tmp_path
    )  # fmt: skip
    assert_refused(result, "cannot start: cifar10 not found.")
    assert "allow the download (--data.download true)" in result.stderr
    assert not list(tmp_path.rglob("version_*")) and not list(tmp_path.rglob("offline-run-*"))

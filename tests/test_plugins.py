"""A new loss and a new dataset, registered by a module outside the package, through fit, a sweep and the report."""

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("lightning-gans")
TESTS = Path(__file__).resolve().parent


def lightning_gans(*arguments: str, plugins: str = "toy_plugin", cwd: Path) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "LIGHTNING_GANS_PLUGINS": plugins, "PYTHONPATH": path}
    return subprocess.run(
        [str(SCRIPT), *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=600
    )


def test_a_registered_loss_and_dataset_train_sweep_and_report(tmp_path):
    fit = lightning_gans(
        "fit", "--data.name", "ring4", "--model.loss", "toy_gan",
        "--evaluation.samples", "200", "--run.root", "runs", "--run.wandb", "false",
        "--trainer.enable_progress_bar", "false", cwd=tmp_path,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr[-3000:]
    metrics = (tmp_path / "runs" / "gan" / "version_0" / "metrics.csv").read_text()
    assert "eval/modes_points_n200" in metrics  # the dataset's objective, evaluated at its own steps (20 and 40)
    sweep = lightning_gans(
        "sweep", "--loss", "toy_gan", "--dataset", "ring4", "--trials", "2",
        "--evaluation.samples=200", "--run.wandb=false", "--storage", "optuna.journal", "--run.root=runs", cwd=tmp_path,
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stdout[-2000:] + sweep.stderr[-3000:]
    assert "study 'toy_gan-ring4-wide': 2 complete (0 of them diverged), 0 failed, 0 pruned" in sweep.stdout
    config = tmp_path / "runs" / "sweeps" / "toy_gan-ring4-wide" / "trial-0000" / "version_0" / "config.yaml"
    assert "loss: toy_gan" in config.read_text() and "name: ring4" in config.read_text()
    report = lightning_gans("report", "--storage", "optuna.journal", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "| toy_gan-ring4-wide | 2 | 0 | 0 | 0 |" in report.stdout


def test_without_the_plugin_the_names_are_unknown_and_a_missing_plugin_is_named(tmp_path):
    unknown = lightning_gans("sweep", "--loss", "toy_gan", "--dataset", "ring4", plugins="", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown loss 'toy_gan'; valid loss names: mm_gan" in unknown.stderr
    missing = lightning_gans("report", plugins="no_such_plugin", cwd=tmp_path)
    assert missing.returncode == 1
    assert "LIGHTNING_GANS_PLUGINS names 'no_such_plugin', which cannot be imported" in missing.stderr

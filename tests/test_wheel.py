"""The package as a user installs it: a wheel, installed non-editable into a fresh virtual environment, run from a
folder outside the checkout, so nothing can be found by accident in the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = (
    "lightning_gans/configs/spaces.yaml",
    "lightning_gans/configs/paper_scores.yaml",
    "lightning_gans/configs/losses/wgan_gp.yaml",
)


# The shared dependencies' data files (nbconvert's HTML templates) sit under this environment's prefix.
ENVIRONMENT = {**os.environ, "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter")}


def run(command: list[str], cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENVIRONMENT
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def source(tmp_path: Path) -> Path:
    """A copy of what the wheel is built from: setuptools writes its build/ folder beside the sources, and one left
    in the checkout would leak files deleted since into later wheels."""
    copy = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "lightning_gans", copy / "lightning_gans", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    return copy


def fresh_environment(root: Path) -> Path:
    """A new virtual environment whose dependencies are this environment's (no download): a .pth line adds our
    site-packages after its own, as a plain path, so the editable install of the checkout there is never loaded."""
    run([sys.executable, "-m", "venv", root])
    python = root / "bin" / "python"
    own = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(own) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_a_wheel_installed_elsewhere_runs_a_sweep_the_report_and_the_analysis(tmp_path):
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            tmp_path / "dist",
            source(tmp_path),
        ]
    )
    (wheel,) = (tmp_path / "dist").glob("lightning_gans-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert all(name in names for name in SHIPPED)
    source_notebooks = Path(__file__).parents[1] / "lightning_gans" / "notebooks"
    shipped = sorted(name.removeprefix("lightning_gans/notebooks/") for name in names if name.endswith(".ipynb"))
    assert shipped == sorted(path.name for path in source_notebooks.glob("*.ipynb"))  # every notebook, none else

    python = fresh_environment(tmp_path / "venv")
    # --ignore-installed: the checkout's editable install is visible through the .pth line and must not count.
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "--quiet", wheel])
    work = tmp_path / "work"
    work.mkdir()
    located = run([python, "-c", "import lightning_gans; print(lightning_gans.__file__)"], cwd=work).stdout
    assert Path(located.strip()).is_relative_to(tmp_path / "venv")  # the wheel's copy, not the checkout's

    command = tmp_path / "venv" / "bin" / "lightning-gans"
    sweep = ("--loss", "ns_gan", "--dataset", "ring8", "--trials", "2", "--storage", "optuna.journal")
    trial = ("--model.steps=4", "--evaluation.every_n_steps=2", "--evaluation.samples=200", "--run.wandb=false")
    result = run([command, "sweep", *sweep, *trial, "--run.root", "runs"], cwd=work)
    assert "study 'ns_gan-ring8-wide': 2 complete (0 of them diverged), 0 failed, 0 pruned" in result.stdout
    report = run([command, "report", "--storage", "optuna.journal"], cwd=work)
    assert "| ns_gan-ring8-wide | 2 | 0 | 0 | 0 |" in report.stdout
    # One notebook shows the packaged notebooks are found and run; test_analysis_reports runs all of them.
    notebook = ("--notebook", "[06_mode_collapse]")
    analysis = run([command, "analysis", "--storage", "optuna.journal", "--output", "reports", *notebook], cwd=work)
    assert "06_mode_collapse" in analysis.stdout
    assert (work / "reports" / "figures" / "mode_collapse_ring8.png").is_file()
    assert (work / "reports" / "figures" / "mixture_samples_ring8.png").is_file()  # the trials' previews, no checkpoint

"""The files the package ships beside its code: run configs, the search spaces, the paper's reported scores and the
analysis notebooks.

They are read through importlib.resources, so they are found the same way in a checkout, an editable install and a
wheel installed anywhere (pyproject.toml lists them as package data).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_path(*parts: str) -> Path:
    """A shipped file or folder as a filesystem path (LightningCLI configs and papermill notebooks need paths)."""
    location = files("lightning_gans").joinpath(*parts)
    if not isinstance(location, Path):
        kind = type(location).__name__
        raise RuntimeError(f"lightning_gans is installed as {kind}; its shipped files need to be on the filesystem")
    return location


CONFIGS = package_path("configs")
"""One YAML per dataset, backbone and loss (`configs/<kind>/<name>.yaml`), as `fit --config` reads them."""
SPACES_FILE = CONFIGS / "spaces.yaml"
"""The paper's search spaces, one entry per row of its table."""
PAPER_SCORES_FILE = CONFIGS / "paper_scores.yaml"
"""The numbers the paper reports, each with what it measured and how (analysis/literature.py reads them)."""
NOTEBOOKS = package_path("notebooks")
"""The analysis notebooks `lightning-gans analysis` executes."""

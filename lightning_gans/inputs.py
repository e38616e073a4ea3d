"""Files a user hands to the commands (config files, checkpoints), checked before anything runs.

A wrong file is then one line that names it and says what is wrong, with exit status 2, instead of a traceback from
deep inside YAML, pickle or a half-loaded model.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml


def config_files(arguments: Sequence[str]) -> list[str]:
    """The files given by `--config F`, `--config=F` or `-c F`."""
    files = []
    for index, argument in enumerate(arguments):
        if argument in ("--config", "-c") and index + 1 < len(arguments):
            files.append(arguments[index + 1])
        elif argument.startswith("--config="):
            files.append(argument.removeprefix("--config="))
    return files


def check_config_file(path: str) -> None:
    try:
        text = Path(path).read_text(encoding="utf-8")
        content = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise ValueError(f"config {path} is not a text file (not UTF-8): give a YAML config") from None
    except yaml.YAMLError as error:
        raise ValueError(f"config {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    except OSError as error:
        raise ValueError(f"config {path} cannot be read: {error.strerror}") from None
    if content is not None and not isinstance(content, dict):
        raise ValueError(f"config {path} holds a {type(content).__name__}, not a mapping of settings")


def checkpoint_hyperparameters(path: str) -> dict[str, Any]:
    """The GAN's arguments saved in the checkpoint at `path`, read without building anything.

    `fit --ckpt_path` (resuming), `evaluate` and `sample` read a checkpoint through here, so a wrong file gets the
    same one line everywhere.
    """
    if not Path(path).is_file():
        raise ValueError(f"ckpt_path {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"ckpt_path {path} is not a checkpoint: not a file torch.save wrote, or one cut short")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a damaged archive fails in zipfile, pickle or torch, each with its own class
        raise ValueError(f"ckpt_path {path} cannot be read as a checkpoint: {type(error).__name__}") from None
    saved = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not isinstance(saved, dict) or "loss" not in saved or "state_dict" not in checkpoint:
        raise ValueError(f"ckpt_path {path} is not a checkpoint of a GAN: it holds no GAN hyperparameters and weights")
    return saved


def check_resumable(path: str, loss: str, backbone: str) -> None:
    """`path` is a checkpoint of a model with this loss and backbone (another would load, or fail, half-way)."""
    saved = checkpoint_hyperparameters(path)
    was = (saved.get("loss"), saved.get("backbone"))
    if was != (loss, backbone):
        raise ValueError(
            f"ckpt_path {path} is a checkpoint of loss {was[0]!r} on backbone {was[1]!r}, but this run is loss "
            f"{loss!r} on backbone {backbone!r}: resume with the config.yaml saved beside that checkpoint's run"
        )

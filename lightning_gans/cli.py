"""`lightning-gans`: `fit` (LightningCLI, lightning_gans/runs.py) and the other commands, dispatched by name."""

from __future__ import annotations

import os
import sys

from .commands import COMMANDS
from .plugins import load_plugins
from .runs import run


def main() -> None:
    """Console-script entry point: the evaluation and sweep commands, or LightningCLI's fit/validate/test."""
    os.environ.setdefault("WANDB_MODE", "offline")  # never needs an account unless the user asks for online
    load_plugins()

    arguments = sys.argv[1:]
    if arguments and arguments[0] in COMMANDS:
        sys.exit(COMMANDS[arguments[0]](arguments[1:]))
    sys.exit(1 if run().divergence is not None else 0)


if __name__ == "__main__":
    main()

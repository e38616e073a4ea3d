"""`lightning-gans`: `fit` (LightningCLI, lightning_gans/runs.py) and the other commands, dispatched by name."""

from __future__ import annotations

import os
import sys

from .commands import COMMANDS, SUMMARIES
from .plugins import load_plugins
from .quiet import quiet_defaults
from .runs import run


def main() -> None:
    """Console-script entry point: the evaluation and sweep commands, or LightningCLI's `fit`."""
    os.environ.setdefault("WANDB_MODE", "offline")  # never needs an account unless the user asks for online
    quiet_defaults()
    load_plugins()

    arguments = sys.argv[1:]
    if not arguments or arguments[0] in ("-h", "--help"):
        print(overview())
        sys.exit(0)
    if arguments[0] in COMMANDS:
        sys.exit(COMMANDS[arguments[0]](arguments[1:]))
    if arguments[0] != "fit" and not arguments[0].startswith("-"):
        print(f"unknown command {arguments[0]!r}\n\n{overview()}", file=sys.stderr)
        sys.exit(2)
    cli = run()
    sys.exit(2 if cli.refusal is not None else 1 if cli.divergence is not None else 0)


def overview() -> str:
    width = max(map(len, SUMMARIES))
    lines = [f"  {name:<{width}}  {summary}" for name, summary in SUMMARIES.items()]
    return "\n".join(
        [
            "usage: lightning-gans COMMAND [ARGUMENTS]",
            "",
            "commands:",
            *lines,
            "",
            "lightning-gans COMMAND --help: its arguments",
        ]
    )


if __name__ == "__main__":
    main()

"""Registry entries from outside the package: modules named in $LIGHTNING_GANS_PLUGINS, imported before any command.

A loss, a dataset, a backbone or a mixture is one registry entry; a module that registers its own (say a research
loss kept in its own repository) is listed here, comma-separated, and every command sees it, the sweep's worker
processes too, since they inherit the environment.
"""

from __future__ import annotations

import importlib
import os

PLUGINS_VARIABLE = "LIGHTNING_GANS_PLUGINS"


def load_plugins() -> list[str]:
    """Imports every module $LIGHTNING_GANS_PLUGINS names, once; a module that cannot be imported is an error."""
    names = [name.strip() for name in os.environ.get(PLUGINS_VARIABLE, "").split(",") if name.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise SystemExit(f"{PLUGINS_VARIABLE} names {name!r}, which cannot be imported: {error}") from None
    return names

"""Keeps a default run's output to what a user can act on.

Libraries print notices nobody running this project can do anything about: Lightning's advertisement for its cloud
logger, its own use of a torch API that torch deprecated, W&B's four-line banner for an offline run (the run's
summary says where that run is and how to upload it). Each is dropped by its exact text, so any other warning from
the same library still shows; notices this project owns (falling back from Inception to domain features, training
the domain classifier) are not touched.
"""

from __future__ import annotations

import logging
import os
import warnings

LIGHTNING_TIPS = ("💡 Tip:",)
"""Lightning's info-level advertisements (litlogger, litmodels) start with this."""


class DropLightningTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(LIGHTNING_TIPS)


def quiet_defaults() -> None:
    """Called once per process, before Lightning or W&B prints anything."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(DropLightningTips())
    if os.environ.get("WANDB_MODE") == "offline":
        # An online run keeps W&B's output: its run page's address is in it.
        os.environ.setdefault("WANDB_SILENT", "true")

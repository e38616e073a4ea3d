"""A loss and a dataset the package has never heard of, registered from outside it (LIGHTNING_GANS_PLUGINS).

Imported by the commands that tests/test_plugins.py runs, never by pytest itself, so the suite's registries stay
the package's own.
"""

from dataclasses import replace

from lightning_gans.data.datasets import DATASETS, DatasetSpec
from lightning_gans.data.mixtures import MIXTURES, load_mixture, ring
from lightning_gans.training.losses import LOSSES

# NS GAN's losses under a new name: a registered objective is all a loss needs (no YAML: no published setting).
LOSSES.register("toy_gan", replace(LOSSES.get("ns_gan"), name="toy_gan", label="Toy GAN"))

# A ring of 4 Gaussians: its mixture (what the modes are counted against) and its dataset row.
MIXTURES["ring4"] = ring(modes=4)
DATASETS.register(
    "ring4",
    DatasetSpec(
        "ring4",
        (2,),
        paper_steps=40,
        paper_eval_every=20,
        splits=("train", "test"),
        load=lambda data_dir, split, download: load_mixture("ring4", split),
        label="Ring of 4 Gaussians",
        objective="modes",
        backbone="mlp",
        evaluators=("mixture",),
    ),
)


def broken_discriminator_loss(*arguments: object) -> None:
    raise RuntimeError("the toy loss breaks on purpose")


# A loss whose every trial fails the same way: what the sweep's retry rule must not retry for ever.
LOSSES.register(
    "broken_gan", replace(LOSSES.get("ns_gan"), name="broken_gan", discriminator_loss=broken_discriminator_loss)
)

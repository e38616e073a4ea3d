"""A loss or a dataset is one registry entry: search spaces, objectives, labels and order follow from its record."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from lightning_gans.analysis import style
from lightning_gans.data.datasets import DATASETS
from lightning_gans.evaluation.objectives import resolve_objective
from lightning_gans.search.spaces import search_space
from lightning_gans.training.losses import LOSSES


@pytest.fixture
def toy_loss(monkeypatch):
    """A joint objective like the VAE's, under a new name and label, registered for this test only."""
    toy = dataclasses.replace(LOSSES.get("vae"), name="toy_vae", label="Toy VAE")
    monkeypatch.setitem(LOSSES._entries, "toy_vae", toy)
    return toy


@pytest.fixture
def toy_dataset(monkeypatch):
    toy = dataclasses.replace(DATASETS.get("ring8"), name="ring4", label="Ring of 4 Gaussians")
    monkeypatch.setitem(DATASETS._entries, "ring4", toy)
    return toy


def test_a_new_loss_is_searched_named_and_ordered_by_its_record(toy_loss):
    names = [parameter.name for parameter in search_space("toy_vae", "wide")]
    assert names == ["beta1", "lr", "d_batch_norm"]  # n_disc: its record leaves it unsearched, as the VAE's
    assert "n_disc" in [parameter.name for parameter in search_space("ns_gan", "wide")]
    assert style.loss_label("toy_vae") == "Toy VAE"
    frame = pd.DataFrame({"loss": ["toy_vae", "ns_gan", "vae"]})
    assert style.losses_in(frame) == ["ns_gan", "vae", "toy_vae"]  # registered later, drawn after the paper's


def test_a_new_dataset_is_judged_and_named_by_its_record(toy_dataset):
    assert resolve_objective("auto", "ring4") == "modes"
    assert resolve_objective("auto", "fashion_mnist") == "fd"
    assert style.dataset_label("ring4") == "Ring of 4 Gaussians"


def test_the_papers_losses_and_datasets_keep_their_names_and_order():
    assert style.LOSS_ORDER == ("mm_gan", "ns_gan", "lsgan", "wgan", "wgan_gp", "dragan", "began", "vae")
    assert [style.loss_label(loss) for loss in style.LOSS_ORDER] == [
        "MM GAN", "NS GAN", "LSGAN", "WGAN", "WGAN GP", "DRAGAN", "BEGAN", "VAE"
    ]  # fmt: skip
    assert style.dataset_label("polygons") == "Convex polygons" and style.dataset_label("celeba") == "CelebA"
    assert [resolve_objective("auto", name) for name in ("polygons", "ring8", "grid25", "cifar10")] == [
        "f1", "modes", "modes", "fd"
    ]  # fmt: skip


def test_every_dataset_names_registered_evaluators_and_backbone():
    from lightning_gans.evaluation.schedule import EVALUATORS
    from lightning_gans.training.nets import BACKBONES

    for spec in map(DATASETS.get, DATASETS.names()):
        assert spec.evaluators and all(name in EVALUATORS for name in spec.evaluators), spec.name
        assert spec.backbone in BACKBONES, spec.name
    assert [DATASETS.get(name).evaluators for name in ("fashion_mnist", "polygons", "ring8")] == [
        ("features",), ("features", "polygons"), ("mixture",)
    ]  # fmt: skip
    assert [DATASETS.get(name).backbone for name in ("celeba", "ring8", "grid25")] == ["infogan", "mlp", "mlp"]

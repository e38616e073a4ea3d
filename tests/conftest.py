"""Test-wide isolation: every cache (datasets, classifiers, reference statistics) lives in a session folder."""

import os

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Keeps tests off the user's ~/.cache and makes them start from nothing, like a fresh machine."""
    root = tmp_path_factory.mktemp("xdg-cache")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(root)
    os.environ["WANDB_MODE"] = os.environ.get("WANDB_MODE", "offline")
    yield root
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(scope="session")
def quick_domain_classifier(isolated_cache):
    """A domain classifier trained briefly on real Fashion-MNIST, in the session cache where runs look for it."""
    from lightning_gans.metrics.classifier import train_domain_classifier

    return train_domain_classifier("fashion_mnist", epochs=1, train_limit=6000, seed=0, progress=False)


@pytest.fixture(scope="module")
def one_thread():
    """Two cores shared with other jobs: one intra-op thread per process is several times faster than two for the
    small packs the packing tests train."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

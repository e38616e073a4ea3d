"""The 2-D Gaussian mixtures: the modes the metrics will count against, and samples drawn from them."""

import itertools
import math

import pytest
import torch

from lightning_gans.data import DATASETS, MIXTURES

EXPECTED_CENTRES = {
    "ring8": [(2 * math.cos(k * math.pi / 4), 2 * math.sin(k * math.pi / 4)) for k in range(8)],
    "grid25": list(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2)),
}
EXPECTED_STD = {"ring8": 0.02, "grid25": 0.05}


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_modes_are_the_papers(name):
    mixture = MIXTURES[name]
    torch.testing.assert_close(mixture.centres, torch.tensor(EXPECTED_CENTRES[name]))
    assert mixture.std == EXPECTED_STD[name]


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_samples_populate_every_mode_equally_around_its_centre(name):
    spec = DATASETS.get(name)
    train, test = spec.load(None, "train", False), spec.load(None, "test", False)
    assert (len(train), len(test)) == (100_000, 10_000) and spec.sample_shape == (2,)
    points = train.__getitems__(range(len(train)))
    assert points.dtype == torch.float32 and points.shape == (100_000, 2)
    mixture = MIXTURES[name]
    modes = torch.cdist(points, mixture.centres).argmin(dim=1)
    share = torch.bincount(modes, minlength=len(mixture.centres)) / len(points)
    assert share.min() > 0.9 / len(mixture.centres) and share.max() < 1.1 / len(mixture.centres)
    for mode, centre in enumerate(mixture.centres):
        members = points[modes == mode]
        assert (members.mean(dim=0) - centre).abs().max() < 0.01
        assert members.std(dim=0).sub(mixture.std).abs().max() < 0.1 * mixture.std


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_splits_are_fixed_and_independent(name):
    spec = DATASETS.get(name)
    first, again = spec.load(None, "train", False), spec.load(None, "train", False)
    assert torch.equal(first.data, again.data)
    assert not torch.equal(first.data[:10_000], spec.load(None, "test", False).data)

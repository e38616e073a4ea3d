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
    """Each split has its own fixed generator (seed 2018 for train, 2019 for test): a mode index per point, uniformly,
    then the point's isotropic Gaussian offset from that mode's centre."""
    spec = DATASETS.get(name)
    centres = torch.tensor(EXPECTED_CENTRES[name])
    loaded = {}
    for split, seed, count in (("train", 2018, 100_000), ("test", 2019, 10_000)):
        generator = torch.Generator().manual_seed(seed)
        modes = torch.randint(len(centres), (count,), generator=generator)
        expected = centres[modes] + EXPECTED_STD[name] * torch.randn(count, 2, generator=generator)
        loaded[split] = spec.load(None, split, False).data
        torch.testing.assert_close(loaded[split], expected, rtol=0, atol=1e-6)
    assert not torch.equal(loaded["train"][:10_000], loaded["test"])

"""Polygon precision, recall and F1: the distance, the threshold, and generator inversion on known answers.

The polygon sets are rendered here from their own seeded generators (a 20k reference, 2k calibration, 2k hold-out)
rather than loaded, so the module builds in about a second and the sets are disjoint by construction.
"""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from torch import Tensor, nn

from lightning_gans.data.polygons import polygon_vertices, render_polygons
from lightning_gans.evaluation.synthetic import polygon_threshold
from lightning_gans.metrics.polygon_scores import (
    InversionBudget,
    calibrate_threshold,
    f1_score,
    fit_latents,
    invert_generator,
    nearest_reference_distances,
    polygon_precision_recall,
)

Z_DIM = 8
PIXELS = 28 * 28


def rendered_polygons(count: int, seed: int) -> Tensor:
    """uint8 (count, 1, 28, 28) polygons, quantised as the dataset stores them."""
    images = render_polygons(polygon_vertices(count, torch.Generator().manual_seed(seed)))
    return (images * 255).round().to(torch.uint8).unsqueeze(1)


@pytest.fixture(scope="module")
def reference() -> Tensor:
    return rendered_polygons(20_000, seed=1)


@pytest.fixture(scope="module")
def calibration() -> Tensor:
    return rendered_polygons(2_000, seed=2)


@pytest.fixture(scope="module")
def holdout() -> Tensor:
    return rendered_polygons(2_000, seed=3)


@pytest.fixture(scope="module")
def threshold(calibration: Tensor, reference: Tensor) -> float:
    return calibrate_threshold(calibration, reference)


class ConstantGenerator(nn.Module):
    """One fixed image whatever z is: the extreme of mode collapse. z enters with weight 0 so it has a gradient."""

    def __init__(self, image: Tensor) -> None:
        super().__init__()
        self.register_buffer("image", image.float() / 255)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, z: Tensor) -> Tensor:
        return self.image.expand(len(z), *self.image.shape) + self.dummy + 0 * z.sum(dim=1).view(-1, 1, 1, 1)


class SigmoidDecoder(nn.Module):
    """G(z) = sigmoid(A z + b): images that vary strongly with z, so a random z is far from a given G(z*)."""

    def __init__(self, seed: int, batch_norm: bool = False) -> None:
        super().__init__()
        random = torch.Generator().manual_seed(seed)
        self.linear = nn.Linear(Z_DIM, PIXELS)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(PIXELS, Z_DIM, generator=random))
            self.linear.bias.copy_(0.5 * torch.randn(PIXELS, generator=random))
        self.norm = nn.BatchNorm1d(PIXELS, affine=False) if batch_norm else nn.Identity()

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.norm(self.linear(z))).view(-1, 1, 28, 28)


def decoded(generator: nn.Module, z: Tensor) -> Tensor:
    with torch.no_grad():
        return generator(z)


def test_distances_are_rms_to_the_nearest_reference_image_in_any_block_layout() -> None:
    random = torch.Generator().manual_seed(0)
    images = torch.rand(7, 1, 4, 4, generator=random)
    reference = torch.rand(11, 1, 4, 4, generator=random)
    expected = torch.cdist(images.double().view(7, -1), reference.double().view(11, -1)).amin(dim=1) / 4
    for chunk in (1, 3, 2048):
        assert torch.allclose(nearest_reference_distances(images, reference, chunk), expected, atol=1e-12)
    white, black = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    half = torch.tensor([[[[0.0, 0.0], [1.0, 1.0]]]])
    assert nearest_reference_distances(black, white).item() == 1.0
    assert nearest_reference_distances(half, white).item() == pytest.approx(math.sqrt(0.5))


def rms_to_nearest(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each row's root-mean-square pixel distance to its nearest reference row, by scipy in float64."""
    return np.sqrt(cdist(images, reference, "sqeuclidean").min(axis=1) / images.shape[1])


def test_uint8_images_are_read_on_the_unit_scale() -> None:
    pixels = torch.randint(0, 256, (5, 1, 3, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    reference = torch.rand(4, 9, generator=torch.Generator().manual_seed(1))
    expected = rms_to_nearest(pixels.numpy().reshape(5, 9) / 255, reference.double().numpy())
    np.testing.assert_allclose(nearest_reference_distances(pixels, reference).numpy(), expected, rtol=0, atol=1e-12)


def test_distance_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="pixels"):
        nearest_reference_distances(torch.rand(2, 4), torch.rand(3, 5))
    with pytest.raises(TypeError, match="int64"):
        nearest_reference_distances(torch.ones(2, 4, dtype=torch.int64), torch.rand(3, 4))
    with pytest.raises(ValueError, match="at least one"):
        nearest_reference_distances(torch.rand(2, 4), torch.rand(0, 4))
    with pytest.raises(ValueError, match="quantile"):
        calibrate_threshold(torch.rand(2, 4), torch.rand(3, 4), quantile=0.0)


def test_threshold_covers_its_quantile_of_the_calibration_set(
    calibration: Tensor, reference: Tensor, threshold: float
) -> None:
    distances = nearest_reference_distances(calibration, reference)
    assert (distances <= threshold).double().mean().item() == pytest.approx(0.99, abs=1e-3)
    assert 0 < threshold < 0.5


def test_thresholds_are_cached_per_vertex_counts(
    calibration: Tensor, reference: Tensor, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def quantile_by_hand(calibration: Tensor, reference: Tensor) -> float:
        """The 0.99 quantile (numpy's default, linear) of the calibration polygons' distances to the reference."""
        rows = (images.numpy().reshape(len(images), -1) / 255 for images in (calibration, reference))
        return float(np.quantile(rms_to_nearest(*rows), 0.99))

    triangles = polygon_threshold(reference[:300], calibration[:50], [3])
    mixed = polygon_threshold(reference[300:600], calibration[50:100], [7, 6, 5, 4, 3])
    assert triangles == pytest.approx(quantile_by_hand(calibration[:50], reference[:300]), abs=1e-12)
    assert mixed == pytest.approx(quantile_by_hand(calibration[50:100], reference[300:600]), abs=1e-12)
    assert mixed != triangles
    names = sorted(path.name for path in (tmp_path / "lightning_gans" / "reference").iterdir())
    assert names == ["polygons-threshold-v1-sides3-4-5-6-7-q0.99.npz", "polygons-threshold-v1-sides3-q0.99.npz"]
    assert polygon_threshold(calibration[:1], calibration[:1], [3]) == triangles  # read back, not recalibrated


def test_unseen_real_polygons_are_precise_and_noise_is_not(
    holdout: Tensor, reference: Tensor, threshold: float
) -> None:
    assert (nearest_reference_distances(holdout, reference) <= threshold).double().mean() >= 0.95
    noise = torch.rand(1_000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert (nearest_reference_distances(noise, reference) <= threshold).double().mean() <= 0.01


def test_a_collapsed_generator_is_precise_but_recalls_almost_nothing(
    reference: Tensor, calibration: Tensor, threshold: float
) -> None:
    generator = ConstantGenerator(reference[0])
    samples = decoded(generator, torch.zeros(500, Z_DIM))
    budget = InversionBudget(restarts=2, steps=3)
    scores = polygon_precision_recall(
        samples, generator, Z_DIM, "uniform", reference, calibration[:500], threshold, budget
    )
    assert scores.precision == 1.0
    assert scores.recall <= 0.05
    assert scores.f1 == pytest.approx(2 * scores.recall / (1 + scores.recall))  # 2 p r / (p + r) with p = 1
    assert (scores.threshold, scores.samples, scores.targets) == (threshold, 500, 500)
    assert generator.dummy.requires_grad and generator.dummy.grad is None


def test_inversion_finds_latents_that_reproduce_the_targets() -> None:
    generator = SigmoidDecoder(seed=0)
    truth = torch.rand(50, Z_DIM, generator=torch.Generator().manual_seed(1)) * 2 - 1
    targets = decoded(generator, truth)
    found = invert_generator(generator, targets, Z_DIM, "uniform", InversionBudget(restarts=4, steps=150), seed=0)
    assert found.dtype == torch.float64 and found.shape == (50,)
    assert (found <= 0.01).double().mean() >= 0.9
    starts_only = invert_generator(generator, targets, Z_DIM, "uniform", InversionBudget(restarts=4, steps=1), seed=0)
    assert (starts_only <= 0.01).double().mean() <= 0.1  # a random z does not already reproduce a target


def test_uniform_latents_stay_in_the_prior_box_and_normal_ones_do_not() -> None:
    generator = SigmoidDecoder(seed=0)
    outside = torch.full((20, Z_DIM), 3.0) * torch.randn(20, Z_DIM, generator=torch.Generator().manual_seed(1)).sign()
    targets = decoded(generator, outside)
    budget = InversionBudget(restarts=2, steps=60, lr=0.2)
    uniform = fit_latents(generator, targets, Z_DIM, "uniform", budget, seed=0).latents
    assert uniform.abs().max() <= 1.0
    assert (uniform.abs() == 1.0).any()  # the projection was active: the optimum lies outside the box
    normal = fit_latents(generator, targets, Z_DIM, "normal", budget, seed=0).latents
    assert normal.abs().max() > 1.0
    with pytest.raises(ValueError, match="unknown prior 'gaussian'; valid prior names: uniform, normal"):
        fit_latents(generator, targets, Z_DIM, "gaussian", budget, seed=0)


def test_inversion_uses_eval_mode_and_frozen_parameters_and_restores_both() -> None:
    generator = SigmoidDecoder(seed=0, batch_norm=True)
    generator.train()
    generator.linear.eval()  # a mixed state, restored module by module
    generator.linear.bias.requires_grad_(False)
    running_mean = generator.norm.running_mean.clone()
    targets = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    invert_generator(generator, targets, Z_DIM, "normal", InversionBudget(restarts=3, steps=5), seed=0)
    assert torch.equal(generator.norm.running_mean, running_mean)  # eval mode: moving averages read, not updated
    assert generator.training and generator.norm.training and not generator.linear.training
    assert generator.linear.weight.requires_grad and not generator.linear.bias.requires_grad
    assert generator.linear.weight.grad is None


def one_step_inversion(generator: nn.Module, targets: Tensor, restarts: int, lr: float, seed: int) -> Tensor:
    """Recall's distances under a one-step budget, by hand: the starts are U[-1, 1] draws from `seed`, all at once and
    target by target; Adam's first step moves each coordinate by lr * g / (|g| + 1e-8), then the uniform prior's box
    clamps it; each target keeps the smallest RMS error among its starts and their steps."""
    z = torch.rand(len(targets) * restarts, Z_DIM, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    wanted = targets.flatten(start_dim=1).double().repeat_interleave(restarts, dim=0)

    def errors(latents: Tensor) -> Tensor:
        return (generator(latents).flatten(start_dim=1).double() - wanted).pow(2).mean(dim=1)

    start = z.clone().requires_grad_(True)
    before = errors(start)
    (gradient,) = torch.autograd.grad(before.sum(), start)
    with torch.no_grad():
        after = errors((z - lr * gradient / (gradient.abs() + 1e-8)).clamp(-1, 1))
    return torch.minimum(before.detach(), after).view(len(targets), restarts).amin(dim=1).sqrt()


def test_recall_is_reproducible_from_its_seed_and_independent_of_chunking() -> None:
    generator = SigmoidDecoder(seed=0)
    targets = torch.rand(9, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    expected = {seed: one_step_inversion(generator, targets, restarts=3, lr=0.05, seed=seed) for seed in (5, 6)}
    for seed, distances in expected.items():
        for chunk in (2048, 1):  # all 27 rows in one batch; one target's 3 restarts per batch
            budget = InversionBudget(restarts=3, steps=1, lr=0.05, chunk=chunk)
            found = invert_generator(generator, targets, Z_DIM, "uniform", budget, seed=seed)
            assert torch.allclose(found, distances, rtol=0, atol=1e-6), (seed, chunk)
    assert not torch.allclose(expected[5], expected[6], rtol=0, atol=1e-3)


def test_f1_is_the_harmonic_mean_and_zero_when_both_are_zero() -> None:
    assert f1_score(1.0, 1.0) == 1.0
    assert f1_score(0.5, 1.0) == pytest.approx(2 / 3)
    assert f1_score(0.0, 1.0) == 0.0
    assert f1_score(0.0, 0.0) == 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("restarts", 0), ("steps", 0), ("chunk", 0), ("restarts", 2.5), ("lr", 0.0), ("lr", -1.0), ("lr", math.nan)],
)
def test_budget_rejects_values_that_cannot_run(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"InversionBudget\.{field} .*{value!r}"):
        InversionBudget(**{field: value})


def test_scores_reject_a_negative_threshold_and_empty_inputs(reference: Tensor) -> None:
    generator = ConstantGenerator(reference[0])
    with pytest.raises(ValueError, match="threshold"):
        polygon_precision_recall(reference[:2], generator, Z_DIM, "uniform", reference[:5], reference[:2], -0.1)
    with pytest.raises(ValueError, match="samples"):
        polygon_precision_recall(reference[:0], generator, Z_DIM, "uniform", reference[:5], reference[:2], 0.1)
    with pytest.raises(ValueError, match="targets"):
        invert_generator(generator, reference[:0], Z_DIM, "uniform", InversionBudget(), seed=0)

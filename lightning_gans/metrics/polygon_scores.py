"""Precision, recall and F1 of a generator on the convex polygons, where the data manifold is known.

On natural images "is this sample realistic" has no ground truth; on the synthetic polygons it has one, so quality
and coverage can be scored in pixel space without a feature network (Lucic et al. 2018):

- distance: root-mean-square pixel difference on the [0, 1] scale, so a threshold reads as an average pixel error;
- manifold: approximated by a reference set of real polygons (the train split); an image's distance to the manifold
  is its RMS distance to the nearest reference polygon;
- threshold tau: the `quantile` (0.99) of the nearest-reference distances of real polygons outside the reference (the
  test split), so 99% of unseen real polygons count as on the manifold;
- precision: share of generated samples within tau of the manifold;
- recall: share of target real polygons that G can reproduce within tau, min over z of RMS(G(z), x), with z found by
  optimising it with Adam from several random starts drawn from the prior.

Images are (N, ...) tensors flattened per row: float in [0, 1], or uint8 as stored by the dataset, which is divided by
255 here so a split's tensor can be passed as loaded. docs/metrics.md gives the reasoning and the cost of the scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lightning_gans.training.module import prior_noise
from lightning_gans.training.nets import frozen

QUANTILE = 0.99
"""Share of unseen real polygons that count as on the manifold: the threshold's calibration quantile."""

TARGETS = 1_000
"""Recall targets: the first TARGETS polygons of the test split, a fixed subset so that runs are comparable."""

DISTANCE_CHUNK = 2048
"""Rows per side of a block of distances: 2048 x 2048 float64 is 32 MB, however large the two sets are."""


@dataclass(frozen=True)
class InversionBudget:
    """How hard recall looks for a z reproducing each target: Adam `steps` from `restarts` prior draws per target.

    `chunk` bounds memory, not the result: rows (targets x restarts) optimised in one batch, at least one target's
    restarts. Rows never interact (batch norm uses its moving averages), so the chunking does not change the result.
    """

    restarts: int = 4
    steps: int = 300
    lr: float = 0.05
    chunk: int = 2048

    def __post_init__(self) -> None:
        for name in ("restarts", "steps", "chunk"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"InversionBudget.{name} must be an integer >= 1, got {value!r}")
        if not self.lr > 0:  # also rejects NaN
            raise ValueError(f"InversionBudget.lr must be > 0, got {self.lr!r}")


DEFAULT_BUDGET = InversionBudget()


@dataclass(frozen=True)
class Inversion:
    """Per target, the best reconstruction found: its float64 RMS distance and the latent that produced it."""

    distances: Tensor  # (targets,) float64
    latents: Tensor  # (targets, z_dim), on the generator's device


@dataclass(frozen=True)
class PolygonScores:
    """Precision and recall against the same threshold, their F1, and the counts they are shares of."""

    precision: float
    recall: float
    f1: float
    threshold: float
    samples: int
    targets: int


def f1_score(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall; 0 when both are 0, the limit as either goes to 0."""
    total = precision + recall
    return 2 * precision * recall / total if total > 0 else 0.0


def flat_pixels(images: Tensor, name: str) -> Tensor:
    """(N, ...) images as (N, pixels) float64 on the [0, 1] scale; uint8 is taken as stored, divided by 255."""
    if images.ndim < 2:
        raise ValueError(f"{name} must be shaped (N, ...) with one image per row, got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.flatten(start_dim=1).to(torch.float64) / 255
    if not images.is_floating_point():
        raise TypeError(f"{name} must be float in [0, 1] or uint8 in [0, 255], got {images.dtype}")
    return images.flatten(start_dim=1).to(torch.float64)


def nearest_reference_distances(images: Tensor, reference: Tensor, chunk: int = DISTANCE_CHUNK) -> Tensor:
    """Float64 RMS pixel distance from each of the (N, ...) images to its nearest (M, ...) reference image.

    Squared distances are ||a||^2 + ||b||^2 - 2 a.b over blocks of chunk x chunk pairs, keeping a running minimum,
    so 10k x 60k images never hold more than one block; the expansion's round-off can go slightly below 0, hence
    the clamp, and only the N minima are square-rooted.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    y = flat_pixels(reference, "reference")
    x = flat_pixels(images, "images").to(y.device)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"images have {x.shape[1]} pixels but reference images have {y.shape[1]}")
    if len(y) == 0:
        raise ValueError("reference must hold at least one image")
    y_squared = y.square().sum(dim=1)
    minima = []
    for block in x.split(chunk):
        block_squared = block.square().sum(dim=1, keepdim=True)
        nearest = torch.full((len(block),), math.inf, dtype=torch.float64, device=y.device)
        for start in range(0, len(y), chunk):
            others = y[start : start + chunk]
            squared = torch.addmm(block_squared + y_squared[start : start + chunk], block, others.T, alpha=-2)
            nearest = torch.minimum(nearest, squared.amin(dim=1))
        minima.append(nearest)
    return torch.cat(minima).clamp_(min=0).div_(y.shape[1]).sqrt_()


def calibrate_threshold(
    calibration: Tensor, reference: Tensor, quantile: float = QUANTILE, chunk: int = DISTANCE_CHUNK
) -> float:
    """The `quantile` of the nearest-reference distances of real `calibration` images that are not in `reference`.

    Calibrating on unseen real data, not on the reference itself (where every distance is 0), makes the threshold
    the distance at which the finite reference still "contains" that share of real polygons.
    """
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile!r}")
    if len(calibration) == 0:
        raise ValueError("calibration must hold at least one image")
    distances = nearest_reference_distances(calibration, reference, chunk)
    return float(torch.quantile(distances, quantile))


def _device_of(module: nn.Module, fallback: torch.device) -> torch.device:
    parameter = next(module.parameters(), None)
    return fallback if parameter is None else parameter.device


def _squared_errors(generator: nn.Module, z: Tensor, targets: Tensor) -> Tensor:
    """(rows,) float64 mean squared pixel error of G(z) against (n, pixels) targets, z rows grouped by target."""
    images = generator(z).reshape(len(z), -1)
    if images.shape[1] != targets.shape[1]:
        raise ValueError(f"the generator makes images of {images.shape[1]} pixels, targets have {targets.shape[1]}")
    grouped = images.to(torch.float64).reshape(len(targets), -1, targets.shape[1])
    return (grouped - targets[:, None, :]).square().mean(dim=2).reshape(-1)


def _invert_chunk(
    generator: nn.Module, targets: Tensor, starts: Tensor, box: bool, budget: InversionBudget
) -> Inversion:
    """Best z per target for (n, pixels) float64 targets from (n, restarts, z_dim) starts, as one Adam batch.

    The loss is the sum of the rows' errors, so each row's gradient is its own error's; the best z visited (the start,
    every step, the end) is kept, so a step that overshoots never loses a closer point.
    """
    count, restarts, z_dim = starts.shape
    z = starts.reshape(count * restarts, z_dim).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=budget.lr)
    best_error = torch.full((len(z),), math.inf, dtype=torch.float64, device=z.device)
    best_z = z.detach().clone()
    for step in range(budget.steps + 1):
        error = _squared_errors(generator, z, targets)
        with torch.no_grad():
            closer = error < best_error
            best_error = torch.where(closer, error, best_error)
            best_z = torch.where(closer[:, None], z, best_z)
        if step == budget.steps:
            break
        optimizer.zero_grad(set_to_none=True)
        error.sum().backward()
        optimizer.step()
        if box:
            with torch.no_grad():
                z.clamp_(-1, 1)  # G never saw z outside its prior's support
    best_error, restart = best_error.reshape(count, restarts).min(dim=1)
    latents = best_z.reshape(count, restarts, z_dim)[torch.arange(count, device=z.device), restart]
    return Inversion(distances=best_error.sqrt(), latents=latents)


def fit_latents(
    generator: nn.Module, targets: Tensor, z_dim: int, prior: str, budget: InversionBudget, seed: int
) -> Inversion:
    """Inverts `generator` on each of the (N, ...) `targets`: the closest G(z) found, in RMS, and its z.

    G runs in eval mode (batch norm moving averages, so rows do not interact) with its parameters frozen, and every
    module's train/eval mode and every parameter's requires_grad are restored afterwards. The starts are drawn on
    the CPU from a generator seeded with `seed`, all at once before chunking, so they do not depend on the device
    or the chunk size, and neither does the result beyond float round-off. For the uniform prior z is projected
    back into [-1, 1] after every step; a normal prior has unbounded support and is not constrained.
    """
    if len(targets) == 0:
        raise ValueError("targets must hold at least one image")
    if z_dim < 1:
        raise ValueError(f"z_dim must be >= 1, got {z_dim}")
    random = torch.Generator().manual_seed(seed)
    starts = prior_noise(prior, len(targets) * budget.restarts, z_dim, random, torch.device("cpu"))
    device = _device_of(generator, targets.device)
    pixels = flat_pixels(targets, "targets").to(device)
    starts = starts.reshape(len(targets), budget.restarts, z_dim).to(device)
    per_chunk = max(1, budget.chunk // budget.restarts)
    box = prior == "uniform"
    modes = [module.training for module in generator.modules()]
    generator.eval()
    try:
        with frozen(generator), torch.enable_grad():
            parts = [
                _invert_chunk(generator, pixels[s : s + per_chunk], starts[s : s + per_chunk], box, budget)
                for s in range(0, len(pixels), per_chunk)
            ]
    finally:
        for module, mode in zip(generator.modules(), modes, strict=True):
            module.training = mode
    return Inversion(
        distances=torch.cat([part.distances for part in parts]),
        latents=torch.cat([part.latents for part in parts]),
    )


def invert_generator(
    generator: nn.Module, targets: Tensor, z_dim: int, prior: str, budget: InversionBudget, seed: int
) -> Tensor:
    """Float64 RMS distance from each target to the closest G(z) found (see `fit_latents`)."""
    return fit_latents(generator, targets, z_dim, prior, budget, seed).distances


def polygon_precision_recall(
    samples: Tensor,
    generator: nn.Module,
    z_dim: int,
    prior: str,
    reference: Tensor,
    targets: Tensor,
    threshold: float,
    budget: InversionBudget = DEFAULT_BUDGET,
    seed: int = 0,
) -> PolygonScores:
    """Precision of the generated `samples` and recall of `generator` on `targets`, both at RMS `threshold`.

    `samples` should be drawn from `generator` by the caller (e.g. the 10,000 evaluation samples FID uses), so the
    costly inversion is the only extra use of G here. `threshold` comes from `calibrate_threshold`, `reference` is
    the train split and `targets` the first TARGETS polygons of the test split.
    """
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}")
    if len(samples) == 0:
        raise ValueError("samples must hold at least one image")
    precision = float((nearest_reference_distances(samples, reference) <= threshold).double().mean())
    recall = float((invert_generator(generator, targets, z_dim, prior, budget, seed) <= threshold).double().mean())
    return PolygonScores(
        precision=precision,
        recall=recall,
        f1=f1_score(precision, recall),
        threshold=threshold,
        samples=len(samples),
        targets=len(targets),
    )

"""The Kernel Inception Distance (Binkowski et al. 2018): an unbiased MMD^2 with a cubic polynomial kernel.

Unlike the Fréchet distance it has an unbiased estimator, so it is comparable across sample sizes; it is averaged
over random subsets to bound the cost, which is quadratic in the subset size.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_gans.metrics.frechet import InsufficientSamplesError

_ORDER_SEED = 0
"""Seeds the fixed projection that orders rows before subsets are drawn (see `_canonical_order`)."""


def check_subset_size(count: int, subset_size: int, what: str) -> None:
    """Subsets are drawn without replacement, so each set needs at least `subset_size` rows."""
    if count < subset_size:
        raise InsufficientSamplesError(
            f"{what}: {count} samples are too few for KID subsets of {subset_size} drawn without replacement; "
            f"provide at least {subset_size} samples or lower the subset size"
        )


def polynomial_kernel(x: Tensor, y: Tensor) -> Tensor:
    """k(x, y) = (x.y / d + 1)^3, the kernel KID is defined with: scaling by d keeps it comparable across dims."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def unbiased_mmd2(real: Tensor, fake: Tensor) -> Tensor:
    """MMD^2 estimate whose expectation is the population MMD^2: within-set sums leave out the diagonal."""
    m, n = real.shape[0], fake.shape[0]
    k_real = polynomial_kernel(real, real)
    k_fake = polynomial_kernel(fake, fake)
    within_real = (k_real.sum() - k_real.diagonal().sum()) / (m * (m - 1))
    within_fake = (k_fake.sum() - k_fake.diagonal().sum()) / (n * (n - 1))
    return within_real + within_fake - 2 * polynomial_kernel(real, fake).mean()


def _canonical_order(features: Tensor) -> Tensor:
    """Sorts rows by a fixed random projection, so that subsets drawn by index depend on the rows, not their order.

    Features gathered from several processes arrive in an order that depends on the world size and the sampler;
    without this the same samples would give a different KID under DDP. Only rows with exactly equal projections
    (in practice identical rows, whose order does not matter) keep their input order.
    """
    generator = torch.Generator().manual_seed(_ORDER_SEED)
    direction = torch.randn(features.shape[1], generator=generator, dtype=torch.float64).to(features.device)
    keys = (features.to(torch.float64) * direction).sum(dim=1)
    return features[torch.argsort(keys, stable=True)]


def kernel_inception_distance(
    real: Tensor,
    fake: Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Mean and population std of the unbiased MMD^2 over random subsets (float64).

    Each subset takes `subset_size` distinct rows from each set, with indices drawn from `generator` over the
    canonical row order, so a seeded generator makes the result reproducible and independent of row order.
    """
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected (N, d) and (M, d) features, got shapes {tuple(real.shape)}, {tuple(fake.shape)}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    if subset_size < 2:
        raise ValueError(f"subset_size must be >= 2 for the unbiased estimate, got {subset_size}")
    check_subset_size(real.shape[0], subset_size, "real features")
    check_subset_size(fake.shape[0], subset_size, "generated features")
    index_device = generator.device if generator is not None else torch.device("cpu")
    real = _canonical_order(real.to(torch.float64))
    fake = _canonical_order(fake.to(device=real.device, dtype=torch.float64))

    def draw(count: int) -> Tensor:
        return torch.randperm(count, generator=generator, device=index_device)[:subset_size].to(real.device)

    estimates = [unbiased_mmd2(real[draw(real.shape[0])], fake[draw(fake.shape[0])]) for _ in range(subsets)]
    stacked = torch.stack(estimates)
    return stacked.mean(), stacked.std(correction=0)

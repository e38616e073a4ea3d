"""GenerativeScores: the numbers of an independent numpy/scipy computation, whatever the batching or process split."""

from __future__ import annotations

import math

import pytest
import torch
from numpy_metrics import numpy_inception_score, numpy_kid, scipy_frechet
from torch import Tensor

from lightning_gans.metrics import GenerativeScores, InsufficientSamplesError, ReferenceStatistics

DIM, CLASSES = 16, 10
KID = {"kid_subsets": 4, "kid_subset_size": 100, "kid_seed": 3}
KEYS = ("fd", "is", "is_std", "kid", "kid_std")


def features(count: int, seed: int, shift: float = 0.0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(DIM, DIM, generator=generator) / math.sqrt(DIM)
    return torch.randn(count, DIM, generator=generator) @ mixing + shift


def logits(count: int, seed: int) -> Tensor:
    return 3 * torch.randn(count, CLASSES, generator=torch.Generator().manual_seed(seed))


def real_features() -> Tensor:
    return features(1200, seed=0)


@pytest.fixture(scope="module")
def reference() -> ReferenceStatistics:
    return ReferenceStatistics.from_features(real_features())


@pytest.fixture(scope="module")
def fake() -> tuple[Tensor, Tensor]:
    return features(1000, seed=1, shift=0.3), logits(1000, seed=2)


def scores(reference: ReferenceStatistics, batches: list[tuple[Tensor, Tensor]], **options: int) -> dict[str, float]:
    metric = GenerativeScores(reference, **{**KID, **options})
    for batch in batches:
        metric.update(*batch)
    return {key: value.item() for key, value in metric.compute().items()}


def batched(data: tuple[Tensor, Tensor], size: int) -> list[tuple[Tensor, Tensor]]:
    return list(zip(data[0].split(size), data[1].split(size), strict=True))


def independent_scores(fake: tuple[Tensor, Tensor], is_splits: int = 1) -> dict[str, float]:
    """The five scores in numpy/scipy float64, from the real features and the generated features and logits."""
    real, generated, generated_logits = (t.double().numpy() for t in (real_features(), *fake))
    is_mean, is_std = numpy_inception_score(generated_logits, is_splits)
    kid, kid_std = numpy_kid(real, generated, KID["kid_subsets"], KID["kid_subset_size"], KID["kid_seed"])
    return {"fd": scipy_frechet(generated, real), "is": is_mean, "is_std": is_std, "kid": kid, "kid_std": kid_std}


def assert_scores_close(actual: dict[str, float], expected: dict[str, float]) -> None:
    """FD to the round-off of scipy's iterative sqrtm, the others to float64's."""
    assert actual.keys() == expected.keys()
    for key in actual:
        assert actual[key] == pytest.approx(expected[key], rel=1e-6 if key == "fd" else 1e-9, abs=1e-12), key


def test_reference_statistics_from_features(reference: ReferenceStatistics) -> None:
    assert reference.count == 1200 and reference.dim == DIM
    assert reference.mean.dtype == reference.cov.dtype == torch.float64
    assert reference.bank.dtype == torch.float32 and reference.bank.shape == (1200, DIM)
    with pytest.raises(ValueError, match="one d"):
        ReferenceStatistics(reference.mean, reference.cov, reference.bank[:, :3], reference.count)


def test_scores_equal_an_independent_float64_computation(
    reference: ReferenceStatistics, fake: tuple[Tensor, Tensor]
) -> None:
    result = scores(reference, [fake], is_splits=4)
    assert_scores_close(result, independent_scores(fake, is_splits=4))
    assert result["fd"] > 0.5 and result["kid"] > 0 and result["is_std"] > 0


def test_compute_returns_float64_scalars(reference: ReferenceStatistics, fake: tuple[Tensor, Tensor]) -> None:
    metric = GenerativeScores(reference, **KID)
    metric.update(*fake)
    computed = metric.compute()
    assert tuple(computed) == KEYS
    assert all(value.dtype == torch.float64 and value.ndim == 0 for value in computed.values())


def test_scores_do_not_depend_on_batch_size(reference: ReferenceStatistics, fake: tuple[Tensor, Tensor]) -> None:
    expected = independent_scores(fake, is_splits=3)
    for size in (1000, 100, 37):
        assert_scores_close(scores(reference, batched(fake, size), is_splits=3), expected)


def test_fd_against_the_reference_itself_is_zero(reference: ReferenceStatistics) -> None:
    same = real_features()
    result = scores(reference, [(same, logits(1200, seed=4))])
    assert result["fd"] == pytest.approx(0.0, abs=1e-8)


def test_merged_halves_give_the_scores_of_all_the_samples(
    reference: ReferenceStatistics, fake: tuple[Tensor, Tensor]
) -> None:
    # What DDP's sum/cat sync does, with DistributedSampler's interleaving: rank r gets samples r, r + 2, ...
    # merge_state concatenates the incoming state first, so the merged order differs from the sample order too.
    ranks = [GenerativeScores(reference, **KID) for _ in range(2)]
    for rank, metric in enumerate(ranks):
        for batch in batched((fake[0][rank::2], fake[1][rank::2]), 50):
            metric.update(*batch)
    ranks[0].merge_state(ranks[1])
    merged = {key: value.item() for key, value in ranks[0].compute().items()}
    assert_scores_close(merged, independent_scores(fake))


# Setting the states by hand, as a sync does, skips update(), which torchmetrics warns about.
@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric GenerativeScores was called before")
def test_summed_states_give_the_scores_of_all_the_samples(
    reference: ReferenceStatistics, fake: tuple[Tensor, Tensor]
) -> None:
    halves = [GenerativeScores(reference, **KID) for _ in range(2)]
    halves[0].update(fake[0][:500], fake[1][:500])
    halves[1].update(fake[0][500:], fake[1][500:])
    synced = GenerativeScores(reference, **KID)
    synced.feature_sum = halves[0].feature_sum + halves[1].feature_sum
    synced.outer_sum = halves[0].outer_sum + halves[1].outer_sum
    synced.count = halves[0].count + halves[1].count
    synced.features = torch.cat(halves[0].features + halves[1].features)
    synced.logits = torch.cat(halves[0].logits + halves[1].logits)
    result = {key: value.item() for key, value in synced.compute().items()}
    assert_scores_close(result, independent_scores(fake))


def test_too_few_generated_samples_are_refused_clearly(reference: ReferenceStatistics) -> None:
    metric = GenerativeScores(reference, **KID)
    metric.update(features(DIM, seed=5), logits(DIM, seed=5))
    with pytest.raises(InsufficientSamplesError, match=rf"generated samples: {DIM} samples.*at least {DIM + 1}"):
        metric.compute()
    metric.update(features(50, seed=6), logits(50, seed=6))
    with pytest.raises(InsufficientSamplesError, match=rf"generated samples: {DIM + 50} samples.*subsets of 100"):
        metric.compute()


def test_a_too_small_reference_is_refused_at_construction(reference: ReferenceStatistics) -> None:
    with pytest.raises(InsufficientSamplesError, match=rf"reference statistics: {DIM} samples"):
        GenerativeScores(ReferenceStatistics.from_features(features(DIM, seed=7)), **KID)
    with pytest.raises(InsufficientSamplesError, match=r"reference feature bank: 1200 samples.*subsets of 2000"):
        GenerativeScores(reference, kid_subset_size=2000)


def test_reset_clears_every_state(reference: ReferenceStatistics, fake: tuple[Tensor, Tensor]) -> None:
    metric = GenerativeScores(reference, **KID)
    metric.update(features(300, seed=8), logits(300, seed=8))
    metric.reset()
    assert metric.count.item() == 0 and metric.features == [] and metric.logits == []
    assert not metric.feature_sum.any() and not metric.outer_sum.any()
    metric.update(*fake)
    result = {key: value.item() for key, value in metric.compute().items()}
    assert_scores_close(result, independent_scores(fake))


def test_calling_the_metric_only_accumulates(reference: ReferenceStatistics, fake: tuple[Tensor, Tensor]) -> None:
    metric = GenerativeScores(reference, **KID)
    assert metric(fake[0][:10], fake[1][:10]) is None
    assert metric.count.item() == 10


def test_update_refuses_mismatched_shapes(reference: ReferenceStatistics) -> None:
    metric = GenerativeScores(reference, **KID)
    with pytest.raises(ValueError, match="like the reference"):
        metric.update(torch.zeros(4, DIM + 1), torch.zeros(4, CLASSES))
    with pytest.raises(ValueError, match="same B"):
        metric.update(torch.zeros(4, DIM), torch.zeros(3, CLASSES))

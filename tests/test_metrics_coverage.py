"""Class coverage and KL from uniform on constructed predictions, against hand arithmetic."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from lightning_gans.metrics.coverage import class_coverage
from lightning_gans.metrics.frechet import InsufficientSamplesError


def logits_for(classes: list[int], k: int = 10) -> Tensor:
    """Logits whose argmax is the given class of each row (with noise below the margin, so argmax is not trivial)."""
    noise = torch.rand(len(classes), k, generator=torch.Generator().manual_seed(0))
    return noise + 5 * torch.nn.functional.one_hot(torch.tensor(classes), k)


def test_balanced_predictions_cover_every_class_with_zero_kl() -> None:
    result = class_coverage(logits_for(list(range(10)) * 7))
    assert (result.classes_covered, result.classes) == (10, 10)
    assert result.kl_from_uniform == pytest.approx(0.0, abs=1e-15)
    assert result.histogram.dtype == torch.float64
    assert result.histogram.tolist() == [0.1] * 10


def test_a_single_class_covers_one_with_kl_log_classes() -> None:
    result = class_coverage(logits_for([3] * 50))
    assert result.classes_covered == 1
    assert result.kl_from_uniform == pytest.approx(math.log(10), rel=1e-15)


def test_kl_of_a_hand_computed_histogram() -> None:
    result = class_coverage(logits_for([0, 0, 1, 2]))
    assert result.histogram.tolist() == [0.5, 0.25, 0.25] + [0.0] * 7
    by_hand = 0.5 * math.log(0.5 * 10) + 2 * 0.25 * math.log(0.25 * 10)
    assert result.kl_from_uniform == pytest.approx(by_hand, rel=1e-15)
    assert result.classes_covered == 3


def test_min_share_boundary_is_inclusive() -> None:
    predictions = [0] * 6 + [1] * 2  # shares 0.75 and 0.25
    assert class_coverage(logits_for(predictions), min_share=0.25).classes_covered == 2
    assert class_coverage(logits_for(predictions), min_share=0.375).classes_covered == 1


def test_default_min_share_is_a_fifth_of_uniform() -> None:
    one_each = list(range(1, 10))  # classes 1..9 once; 0.2 / 10 of 50 samples is exactly 1 sample
    covered = class_coverage(logits_for([0] * 41 + one_each))
    assert covered.min_share == pytest.approx(0.02)
    assert covered.classes_covered == 10
    # One sample short of 2% of 100 samples for classes 1..9.
    assert class_coverage(logits_for([0] * 91 + one_each)).classes_covered == 1


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InsufficientSamplesError):
        class_coverage(torch.zeros(0, 10))
    with pytest.raises(ValueError, match=r"\(10,\)"):
        class_coverage(torch.zeros(10))
    with pytest.raises(ValueError, match="min_share"):
        class_coverage(torch.zeros(5, 10), min_share=0.0)

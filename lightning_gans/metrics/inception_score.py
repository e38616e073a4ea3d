"""The Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) from classifier logits."""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import Tensor


def _split_score(log_probs: Tensor) -> Tensor:
    # p(y) is the split's mean of p(y|x); taking it in log space keeps confident classes (log p ~ -1e4) finite.
    log_marginal = torch.logsumexp(log_probs, dim=0) - math.log(log_probs.shape[0])
    kl = (log_probs.exp() * (log_probs - log_marginal)).sum(dim=1)
    return kl.mean().exp()


def inception_score(logits: Tensor, splits: int = 1) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of the score over `splits` consecutive parts of the samples (float64).

    The parts follow the sample order, with the boundaries i * N // splits of the original implementation, so a
    score is reproducible from the same samples without a random split. splits=1 is the paper's single score; the
    std is the population std over splits (as in the original code), hence 0 there. When the logits were gathered
    from several processes their order is the gather order, so only splits=1 is independent of how the samples
    were distributed.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, classes), got shape {tuple(logits.shape)}")
    count = logits.shape[0]
    if splits < 1 or count < splits:
        raise ValueError(f"splits must be in [1, N] = [1, {count}], got {splits}")
    log_probs = torch.log_softmax(logits.to(torch.float64), dim=1)
    bounds = [i * count // splits for i in range(splits + 1)]
    scores = torch.stack([_split_score(log_probs[start:stop]) for start, stop in pairwise(bounds)])
    return scores.mean(), scores.std(correction=0)

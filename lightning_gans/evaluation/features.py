"""Scoring a generator the way the paper does: FD (FID with Inception), IS and KID of fixed-noise samples.

Every evaluation draws the same `samples` noise vectors (fixed seed), so two checkpoints, or two trials, are
scored on identical inputs. Under DDP each rank generates and embeds a contiguous share of those vectors and
torchmetrics merges the metric states (sums and concatenations) before computing, so the score equals the
single-process score of the same samples and no rank works alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..metrics.diagnostics import finite_or_expected
from ..metrics.features import FeatureExtractor
from ..metrics.scores import GenerativeScores, ReferenceStatistics
from ..training.distributed import broadcast_buffers
from ..training.module import GAN, DivergedError, prior_noise

# A different seed from the sample grid's, so the 64 pictured samples are not a subset of the scored ones.
SCORE_NOISE_SEED = 2019


def evaluation_noise(samples: int, z_dim: int, prior: str = "uniform", seed: int = SCORE_NOISE_SEED) -> Tensor:
    """The fixed noise every evaluation of every run scores (on the CPU, so it is the same on any device).

    It is drawn from the model's own prior (GANLoss.prior): a generator is only scored fairly on the latents it
    was trained on. The default is the GANs' U[-1, 1]. Runs always use SCORE_NOISE_SEED; another `seed` is for
    scoring or exporting a checkpoint on other samples (`lightning-gans evaluate --seed`, `sample --seed`).
    """
    return prior_noise(prior, samples, z_dim, torch.Generator().manual_seed(seed), torch.device("cpu"))


def shard(count: int, rank: int, world_size: int) -> range:
    """Rank `rank`'s contiguous share of `count` items; shares differ in size by at most one."""
    start = count * rank // world_size
    return range(start, count * (rank + 1) // world_size)


def score_key(score: str, extractor: str, samples: int) -> str:
    """Metric names carry the extractor and the sample count, so scores that are not comparable never share a key.

    Frechet distance in Inception features is the FID of the literature; in any other features it is called FD.
    """
    name = "fid" if (score == "fd" and extractor == "inception") else score
    return f"eval/{name}_{extractor}_n{samples}"


@dataclass
class Evaluator:
    extractor: FeatureExtractor
    reference: ReferenceStatistics
    samples: int
    batch_size: int
    metric: GenerativeScores
    noise_seed: int = SCORE_NOISE_SEED

    @property
    def objectives(self) -> dict[str, str]:
        """Scores a run can be judged by, and their keys; the paper's is the lowest FD over its evaluations."""
        return {name: score_key(name, self.extractor.name, self.samples) for name in ("fd", "kid")}

    @torch.no_grad()
    def score(self, module: GAN, rank: int, world_size: int, progress: bool) -> dict[str, float]:
        started = time.perf_counter()
        broadcast_buffers(module.generator)
        noise = evaluation_noise(self.samples, module.hparams.z_dim, module.gan_loss.prior, self.noise_seed)[
            list(shard(self.samples, rank, world_size))
        ]
        self.metric.to(module.device)
        self.metric.reset()
        for batch in tqdm(noise.split(self.batch_size), desc="evaluation", disable=not progress, leave=False):
            images = module.sample(batch)
            if not torch.isfinite(images).all():
                raise DivergedError(module.d_step, "a generated sample")
            features, logits = self.extractor(images)
            self.metric.update(features, logits)
        computed = self.metric.compute()
        self.metric.reset()
        scores = {score_key(name, self.extractor.name, self.samples): float(value) for name, value in computed.items()}
        bad = [name for name, value in computed.items() if not finite_or_expected(name, float(value))]
        if bad:
            raise DivergedError(module.d_step, f"the score {score_key(bad[0], self.extractor.name, self.samples)}")
        scores[score_key("seconds", self.extractor.name, self.samples)] = time.perf_counter() - started
        return scores

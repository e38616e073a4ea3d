"""Scoring a generator the way the paper does: FD (FID with Inception), IS and KID of fixed-noise samples.

Every evaluation draws the same `samples` noise vectors (fixed seed), so two checkpoints, or two trials, are
scored on identical inputs. Under DDP each rank generates and embeds a contiguous share of those vectors and
torchmetrics merges the metric states (sums and concatenations) before computing, so the score equals the
single-process score of the same samples and no rank works alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
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


def evaluation_labels(samples: int, num_classes: int) -> Tensor | None:
    """The class of each evaluation sample of a conditional model: 0, 1, ..., C-1, 0, 1, ..., so that every class
    has samples / C of them (one more for the first classes when C does not divide the count), fixed like the noise.
    None for an unconditional model."""
    return torch.arange(samples) % num_classes if num_classes else None


def evaluation_inputs(
    module: GAN, samples: int, batch_size: int, seed: int = SCORE_NOISE_SEED, part: range | None = None
) -> Iterator[tuple[Tensor, Tensor | None]]:
    """(noise, labels) batches of the fixed evaluation samples: all of them, or the `part` one rank scores."""
    noise = evaluation_noise(samples, module.hparams.z_dim, module.gan_loss.prior, seed)
    labels = evaluation_labels(samples, module.hparams.num_classes)
    if part is not None:
        noise = noise[list(part)]
        labels = None if labels is None else labels[list(part)]
    noise_batches = noise.split(batch_size)
    label_batches = (None,) * len(noise_batches) if labels is None else labels.split(batch_size)
    return zip(noise_batches, label_batches, strict=True)


def generated_samples(module: GAN, noise: Tensor, labels: Tensor | None) -> Tensor:
    """`module`'s samples of one evaluation batch, on its device; a non-finite sample is a divergence."""
    images = module.sample(noise, labels)
    if not torch.isfinite(images).all():
        raise DivergedError(module.d_step, "a generated sample")
    return images


def shard(count: int, rank: int, world_size: int) -> range:
    """Rank `rank`'s contiguous share of `count` items; shares differ in size by at most one."""
    start = count * rank // world_size
    return range(start, count * (rank + 1) // world_size)


def scored_batches(
    module: GAN, samples: int, batch_size: int, seed: int, rank: int, world_size: int, progress: bool
) -> Iterator[tuple[Tensor, Tensor | None]]:
    """(samples, labels) of this rank's share of the evaluation samples, generated batch by batch.

    The generator's batch norm statistics are rank 0's first, so every rank generates with the same network.
    """
    broadcast_buffers(module.generator)
    inputs = list(evaluation_inputs(module, samples, batch_size, seed, shard(samples, rank, world_size)))
    for noise, labels in tqdm(inputs, desc="evaluation", disable=not progress, leave=False):
        yield generated_samples(module, noise, labels), labels


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
        self.metric.to(module.device)
        self.metric.reset()
        batches = scored_batches(module, self.samples, self.batch_size, self.noise_seed, rank, world_size, progress)
        for images, _ in batches:
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

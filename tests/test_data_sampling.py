"""The training stream: a pure function of (seed, step, rank, world_size), so resume and DDP are exact."""

import itertools

import pytest
import torch

from lightning_gans.data import StepBatchSampler


def take(sampler: StepBatchSampler, count: int) -> list[list[int]]:
    return list(itertools.islice(iter(sampler), count))


def documented_batch(n: int, batch_size: int, seed: int, step: int, rank: int = 0, world_size: int = 1) -> list[int]:
    """Rank `rank`'s batch at `step` by the documented formula: the epoch's permutation, seeded from
    seed * 1_000_003 + epoch, cut into global batches of B * W, of which the rank takes its B-sized part."""
    per_epoch = n // (batch_size * world_size)
    epoch, position = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    global_batch = perm[position * batch_size * world_size : (position + 1) * batch_size * world_size]
    return global_batch[rank * batch_size : (rank + 1) * batch_size].tolist()


def test_batches_follow_the_documented_formula():
    n, batch_size, world_size, seed = 103, 5, 2, 11
    for rank in range(world_size):
        batches = take(StepBatchSampler(n, batch_size, seed, rank=rank, world_size=world_size), 25)
        assert batches == [documented_batch(n, batch_size, seed, step, rank, world_size) for step in range(25)]


def test_stream_is_deterministic_and_seeded():
    expected = {seed: [documented_batch(100, 8, seed, step) for step in range(40)] for seed in (0, 1)}
    for seed, batches in expected.items():
        assert take(StepBatchSampler(100, 8, seed=seed), 40) == batches
    assert expected[0] != expected[1]


def test_an_epoch_is_disjoint_batches_covering_all_whole_batches():
    sampler = StepBatchSampler(103, 5, seed=3, world_size=2)
    assert sampler.per_epoch == 10
    for epoch in range(3):
        indices = [
            index
            for step in range(epoch * 10, (epoch + 1) * 10)
            for rank in range(2)
            for index in StepBatchSampler(103, 5, seed=3, rank=rank, world_size=2).batch_at(step)
        ]
        assert len(indices) == len(set(indices)) == 100 and set(indices) <= set(range(103))
    assert sampler.batch_at(0) != sampler.batch_at(10), "each epoch draws a new permutation"


@pytest.mark.parametrize("start_step", [0, 1, 9, 10, 11, 37])
def test_starting_at_a_step_continues_the_uninterrupted_stream(start_step):
    uninterrupted = [documented_batch(64, 6, 5, step) for step in range(start_step, start_step + 15)]
    assert take(StepBatchSampler(64, 6, seed=5, start_step=start_step), 15) == uninterrupted
    sampler = StepBatchSampler(64, 6, seed=5)
    assert [sampler.batch_at(step) for step in range(start_step, start_step + 15)] == uninterrupted


def test_ranks_split_the_single_process_global_batch():
    ranks = [take(StepBatchSampler(90, 4, seed=2, rank=rank, world_size=2), 30) for rank in range(2)]
    for step in range(30):
        assert not set(ranks[0][step]) & set(ranks[1][step])
        assert ranks[0][step] + ranks[1][step] == documented_batch(90, 8, 2, step)  # one process, batch 8


def test_a_dataset_smaller_than_a_global_batch_is_refused():
    with pytest.raises(ValueError, match=r"10 samples, fewer than one global batch of 12"):
        StepBatchSampler(10, 6, seed=0, world_size=2)
    StepBatchSampler(12, 6, seed=0, world_size=2)  # exactly one global batch is enough


@pytest.mark.parametrize(
    "arguments",
    [
        {"batch_size": 0},
        {"start_step": -1},
        {"world_size": 0},
        {"rank": 2, "world_size": 2},
        {"rank": -1},
    ],
)
def test_invalid_arguments_are_refused(arguments):
    with pytest.raises(ValueError):
        StepBatchSampler(**{"num_samples": 100, "batch_size": 4, "seed": 0, **arguments})


def test_large_and_negative_seeds_are_accepted():
    for seed in (2**62, -5):
        assert len(StepBatchSampler(100, 4, seed=seed).batch_at(0)) == 4

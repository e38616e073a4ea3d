"""Gradient averaging for alternating GAN updates under DDP.

DDP's reducer expects a gradient for every parameter after every backward. A GAN's discriminator step leaves the
generator without gradients, so the reducer either fails or needs `find_unused_parameters` (a graph walk per
backward). Instead the training step switches the reducer off and averages the gradients of the one network that is
about to step, in a single collective.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
import torch.distributed as dist
from torch import Tensor, nn


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@contextlib.contextmanager
def reducer_disabled(wrapper: nn.Module | None) -> Iterator[None]:
    """Keeps DDP's automatic gradient reduction off for the enclosed backward passes."""
    if isinstance(wrapper, nn.parallel.DistributedDataParallel):
        with wrapper.no_sync():
            yield
    else:
        yield


def average_gradients(parameters: Iterable[nn.Parameter]) -> None:
    """Replaces each gradient by its mean over all processes (one all-reduce over a flat buffer)."""
    if not is_distributed():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(dist.get_world_size())
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def average_tensor(value: Tensor) -> Tensor:
    """Mean over all processes of a small state tensor (BEGAN's k), so every replica keeps the same value."""
    if not is_distributed():
        return value
    total = value.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / dist.get_world_size()


def broadcast_buffers(module: nn.Module, source: int = 0) -> None:
    """Gives every replica rank `source`'s buffers (batch-norm running statistics).

    Replicas see different batches, so their running statistics drift apart; the checkpoint holds rank 0's, and
    an evaluation must sample with those on every rank for the merged score to be the checkpoint's score.
    """
    if not is_distributed():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=source)

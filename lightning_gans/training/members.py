"""What a loss needs to serve one network or a pack of K: a per-member map and per-member random streams.

A loss is written once, for one member: its math reduces over the batch (means, one batch std). A pack
(`training/packing.py`) trains K members stacked along dimension 1 of every tensor, (B, K, ...), so the same math must
reduce over each member's own slice, and each member must draw its randomness from its own stream, in the order it
would draw alone. `Members` is how a loss says "this is one member's math": `whole_batch` (one network: the batch is
the member) or `over_members` (a pack: torch.vmap over dimension 1, one kernel for all K). `random_like` draws from a
torch.Generator, or from each generator of a `MemberGenerators` and stacks the draws along dimension 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

MEMBER_DIM = 1
"""Where a pack stacks its members in every tensor: (batch, member, ...), so a (B, K, C, H, W) batch is a free view
of the (B, K * C, H, W) input that a grouped convolution takes."""

Members = Callable[[Callable[..., Any]], Callable[..., Any]]


def whole_batch(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One network: the batch is the only member, and its math applies as written."""
    return fn


class MemberGenerators(tuple):
    """The K random streams of a pack, one torch.Generator per member, in member order."""

    def __new__(cls, generators: Sequence[torch.Generator]) -> MemberGenerators:
        return super().__new__(cls, generators)


RandomSource = torch.Generator | MemberGenerators | None


def random_like(like: Tensor, generator: RandomSource, per_example: bool = False, normal: bool = False) -> Tensor:
    """U[0, 1) (or N(0, 1) when `normal`) draws shaped like `like`, or one per example broadcasting against it.

    From a pack's MemberGenerators each member draws its own slice of `like` from its own stream, so its numbers are
    those it would draw alone; the draws are stacked along MEMBER_DIM.
    """
    if isinstance(generator, MemberGenerators):
        slices = like.unbind(MEMBER_DIM)
        draws = [random_like(part, own, per_example, normal) for part, own in zip(slices, generator, strict=True)]
        return torch.stack(draws, dim=MEMBER_DIM)
    shape = (like.shape[0],) + (1,) * (like.ndim - 1) if per_example else like.shape
    draw = torch.randn if normal else torch.rand
    return draw(shape, generator=generator, device=like.device, dtype=like.dtype)

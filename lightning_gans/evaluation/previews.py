"""A few hundred of a trial's best samples, kept in its storage record, for the datasets whose samples are points.

On the 2-D mixtures people look at the samples first: whether a generator covers the ring or sits on three of its
modes shows at a glance. A sweep keeps each trial's best.ckpt in the trial's folder, but a folder of checkpoints does
not travel with a study: the storage does (a journal committed to a repository, a database a cluster shares). So a
finished trial also stores a preview of its best generator: the first PREVIEW_SIZE points of the run's fixed
evaluation noise, rounded to PREVIEW_DECIMALS, as text (about 4 KB a trial). The points are those the trial's best
evaluation scored, so a scatter of them is the sample the score describes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data import DATASETS
from ..training.module import GAN
from .synthetic import generate

SAMPLE_POINTS_ATTR = "sample_points"
PREVIEW_SIZE = 256
PREVIEW_DECIMALS = 3
"""Millimetre precision on mixtures whose modes are 0.02 (ring) or 0.05 (grid) wide: far below what a plot shows."""
POINT_SEPARATOR = ";"


def has_point_samples(dataset: str) -> bool:
    """Whether a dataset's samples are points in the plane, which a preview can show."""
    return DATASETS.get(dataset).sample_shape == (2,)


def encode_points(points: Tensor) -> str:
    """`x,y;x,y;...` at PREVIEW_DECIMALS: plain text, so any storage and any exported frame holds it as it is."""
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"a preview holds points in the plane, shape (n, 2); got {tuple(points.shape)}")
    pairs = points.detach().to("cpu", torch.float64).tolist()
    return POINT_SEPARATOR.join(f"{x:.{PREVIEW_DECIMALS}f},{y:.{PREVIEW_DECIMALS}f}" for x, y in pairs)


def decode_points(text: str) -> np.ndarray:
    """(n, 2) float64 points of `encode_points`."""
    try:
        return np.array([[float(v) for v in pair.split(",")] for pair in text.split(POINT_SEPARATOR)]).reshape(-1, 2)
    except ValueError:
        raise ValueError(f"not a sample preview (x,y;x,y;...): {text[:60]!r}") from None


def point_preview(checkpoint: Path, count: int = PREVIEW_SIZE) -> str:
    """The encoded first `count` evaluation samples of the generator in `checkpoint` (on the CPU: a few hundred
    points of an MLP are faster there than a device round trip)."""
    module = GAN.load_from_checkpoint(checkpoint, map_location="cpu")
    return encode_points(generate(module, count, count))

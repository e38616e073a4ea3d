"""Sample grids: what a person looks at first to see whether a GAN trains."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.utils import make_grid

SCATTER_PIXELS = 256
# The Gaussian mixtures live in [-4, 4]^2 (grid25) or on a radius-2 ring (ring8); this window shows both.
SCATTER_EXTENT = 5.0


def image_grid(images: Tensor, columns: int = 8) -> Tensor:
    """(N, C, H, W) images in [0, 1] -> one (C, H', W') grid with a 2-pixel white border between samples."""
    return make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=columns, padding=2, pad_value=1.0)


def scatter_image(points: Tensor, pixels: int = SCATTER_PIXELS, extent: float = SCATTER_EXTENT) -> Tensor:
    """(N, 2) points -> a (1, pixels, pixels) picture, dark where samples fall, so 2-D runs get a grid too."""
    points = points.detach().float().cpu()
    scaled = ((points + extent) / (2 * extent) * (pixels - 1)).round().long()
    inside = ((scaled >= 0) & (scaled < pixels)).all(dim=1)
    column, row = scaled[inside, 0], (pixels - 1) - scaled[inside, 1]
    canvas = torch.ones(pixels, pixels)
    canvas[row, column] = 0.0
    return canvas.unsqueeze(0)


def sample_picture(samples: Tensor) -> Tensor:
    """A picture of any kind of sample the project generates: images as a grid, 2-D points as a scatter."""
    if samples.dim() == 4:
        return image_grid(samples)
    if samples.dim() == 2 and samples.shape[1] == 2:
        return scatter_image(samples)
    raise ValueError(f"cannot draw samples of shape {tuple(samples.shape)}; expected (N, C, H, W) or (N, 2)")

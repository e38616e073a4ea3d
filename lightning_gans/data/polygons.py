"""The paper's synthetic convex polygons: 28x28 gray images of one black convex polygon on white.

By default every polygon is a triangle, as in the paper's reference code (google/compare_gan, whose
convex-polygon experiment runs on its "triangles" dataset). The vertex counts are an option (`sides`,
`--data.polygon_sides` on the CLI): each polygon draws its n uniformly from the given set, e.g. (3, ..., 7)
for a mix of triangles to heptagons (exactly the data of CACHE_VERSION 1, which had that mix built in), (4,)
for quadrilaterals.

Vertices: the circle around the image centre is cut into n equal arcs and one vertex is drawn uniformly
in each arc, keeping MIN_GAP radians from the arc's ends so that consecutive vertices are at least MIN_GAP
apart (no sliver edges). Points on a circle taken in angular order always form a convex polygon. The whole
polygon is rotated by U[-MAX_ROTATION, MAX_ROTATION], scaled to radius 0.75 * half the image width, and shifted
so that its bounding box is centred in the image.

Rendering is anti-aliased by 8x8 supersampling: a pixel's value is 1 minus the fraction of its 64
subpixel centres inside the polygon, so edges are gray. The dataset is a pure function of POLYGONS_SEED
and the vertex counts, and is cached on disk after the first build, in one file per set of vertex counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from numbers import Integral
from pathlib import Path

import numpy as np
import torch

from lightning_gans.data import locations
from lightning_gans.data.cache import load_or_build_npz
from lightning_gans.data.containers import InMemorySamples
from lightning_gans.data.errors import DatasetFileError

POLYGONS_SEED = 2018
SPLIT_SIZES = {"train": 60_000, "test": 10_000, "holdout": 10_000}
MIN_GAP = 0.2
DEFAULT_SIDES = (3,)
"""Triangles: the reference code's experiment."""
MIN_SIDES = 3
MAX_SIDES = int(math.pi / MIN_GAP)
"""15: up to here each vertex still ranges over at least MIN_GAP of its arc (the arc is at least 2 MIN_GAP), so
polygons stay random shapes rather than nearly regular ones; past 31 the arcs would be shorter than MIN_GAP."""
MAX_ROTATION = math.pi / 12
RADIUS_FRACTION = 0.75
IMAGE_SIZE = 28
SUPERSAMPLE = 8
CACHE_VERSION = 2  # bump when the geometry or rendering changes, so stale caches are not reused
_RENDER_CHUNK = 2048  # polygons per vectorised pass: bounds memory to tens of MB


def checked_sides(sides: Sequence[int]) -> tuple[int, ...]:
    """`sides` validated and sorted: the canonical form that draws and names the data, so [4, 3] equals [3, 4].

    A count listed twice is refused rather than merged: it would read as a request to draw it twice as often.
    """
    allowed = f"vertex counts are integers from {MIN_SIDES} to {MAX_SIDES}, each listed once"
    if isinstance(sides, str) or len(sides) == 0:
        raise ValueError(f"polygon_sides must be a non-empty list of vertex counts, got {sides!r}; {allowed}")
    for value in sides:
        if isinstance(value, bool) or not isinstance(value, Integral) or not MIN_SIDES <= value <= MAX_SIDES:
            raise ValueError(f"polygon_sides: {value!r} is not an allowed vertex count; {allowed}")
    if len(set(sides)) < len(sides):
        raise ValueError(f"polygon_sides {list(sides)} lists a vertex count more than once; {allowed}")
    return tuple(sorted(int(value) for value in sides))


def sides_tag(sides: Sequence[int]) -> str:
    """The vertex counts as they appear in cache file names, e.g. "sides3" or "sides3-4-5-6-7"."""
    return "sides" + "-".join(str(value) for value in checked_sides(sides))


def polygon_vertices(
    count: int, generator: torch.Generator, size: int = IMAGE_SIZE, sides: Sequence[int] = DEFAULT_SIDES
) -> torch.Tensor:
    """Random convex polygons as (count, max(sides), 2) float64 (x, y) in pixel units, counter-clockwise.

    Each polygon's vertex count is drawn uniformly from `sides`. The image spans [0, size] on both axes, x to
    the right and y down. A polygon with fewer than max(sides) corners repeats its last corner; the zero-length
    edges this adds do not change its shape, and the fixed width lets a batch of polygons be rendered as one
    tensor. With sides (3, ..., 7) the draws are those of CACHE_VERSION 1, which had that range built in.
    """
    choices = checked_sides(sides)
    width = choices[-1]
    corners = torch.tensor(choices)[torch.randint(len(choices), (count, 1), generator=generator)]
    offsets = torch.rand(count, width, generator=generator, dtype=torch.float64)
    rotation = (2 * torch.rand(count, 1, generator=generator, dtype=torch.float64) - 1) * MAX_ROTATION
    arc = 2 * math.pi / corners
    slot = torch.arange(width)
    angles = slot * arc + MIN_GAP / 2 + offsets * (arc - MIN_GAP) + rotation
    angles = torch.where(slot < corners, angles, angles.gather(1, corners - 1))
    radius = RADIUS_FRACTION * size / 2
    points = radius * torch.stack((angles.cos(), angles.sin()), dim=-1)
    box_centre = (points.amax(dim=1) + points.amin(dim=1)) / 2
    return points - box_centre[:, None, :] + size / 2


def render_polygons(vertices: torch.Tensor, size: int = IMAGE_SIZE, supersample: int = SUPERSAMPLE) -> torch.Tensor:
    """Render (count, corners, 2) counter-clockwise convex polygons as (count, size, size) float in [0, 1].

    White background (1), black polygon (0), edges gray by subpixel coverage. The result equals testing
    every subpixel centre against every edge's half-plane, computed per subpixel row: a convex polygon
    cuts a horizontal line in one interval, the half-planes give that interval's ends, and the subpixel
    centres of each pixel inside it are counted in closed form. That is size * supersample values per
    polygon row instead of (size * supersample)^2 tests, which makes the 80,000-image build take seconds.
    """
    if size * supersample >= 2**15:
        raise ValueError(f"size * supersample = {size * supersample} overflows the int16 subpixel indices")
    chunks = [_render_chunk(chunk, size, supersample) for chunk in vertices.split(_RENDER_CHUNK)]
    return torch.cat(chunks)


def _render_chunk(vertices: torch.Tensor, size: int, supersample: int) -> torch.Tensor:
    vertices = vertices.double()
    subpixels = size * supersample
    centres = (torch.arange(subpixels, dtype=torch.float64) + 0.5) / supersample
    start = vertices[:, None, :, :]  # (count, 1, corners, 2), broadcast over subpixel rows
    edge = vertices.roll(-1, dims=1)[:, None, :, :] - start
    x0, y0, dx, dy = start[..., 0], start[..., 1], edge[..., 0], edge[..., 1]
    y = centres[None, :, None]
    # A point is inside when it is left of every edge: dx * (y - y0) - dy * (x - x0) >= 0. On row y this
    # bounds x above where dy > 0 and below where dy < 0; a horizontal edge keeps the row or drops it.
    crossing = x0 + dx * (y - y0) / torch.where(dy == 0, 1.0, dy)
    upper = torch.where(dy > 0, crossing, math.inf)
    upper = torch.where((dy == 0) & (dx * (y - y0) < 0), -math.inf, upper)
    lower = torch.where(dy < 0, crossing, -math.inf)
    right, left = upper.amin(dim=-1), lower.amax(dim=-1)  # (count, subpixel rows)
    # Subpixel column m has centre (m + 0.5) / supersample; the ones inside are first <= m < end. int16
    # holds these small indices exactly and makes the largest tensors below 4x smaller than int64.
    first = (supersample * left - 0.5).ceil().clamp(-1, subpixels).to(torch.int16)
    end = (supersample * right + 0.5).floor().clamp(-1, subpixels).to(torch.int16)
    pixel_first = torch.arange(size, dtype=torch.int16) * supersample
    pixel_end = pixel_first + supersample
    overlap = torch.minimum(end[..., None], pixel_end) - torch.maximum(first[..., None], pixel_first)
    inside = overlap.clamp_(min=0)  # (count, subpixel rows, pixel columns)
    covered = inside.view(len(vertices), size, supersample, size).sum(dim=2)
    return 1 - covered.float() / supersample**2


def build_polygon_splits(seed: int = POLYGONS_SEED, sides: Sequence[int] = DEFAULT_SIDES) -> dict[str, np.ndarray]:
    """All splits from one generator, in a fixed order: uint8 images (N, 1, size, size) per split."""
    generator = torch.Generator().manual_seed(seed)
    total = sum(SPLIT_SIZES.values())
    images = render_polygons(polygon_vertices(total, generator, sides=sides))
    pixels = (images * 255).round().to(torch.uint8).unsqueeze(1).numpy()
    bounds = np.cumsum([0, *SPLIT_SIZES.values()])
    return {split: pixels[a:b] for split, a, b in zip(SPLIT_SIZES, bounds[:-1], bounds[1:], strict=True)}


def polygons_cache_path(data_dir: Path | None, seed: int = POLYGONS_SEED, sides: Sequence[int] = DEFAULT_SIDES) -> Path:
    """One file per (version, seed, vertex counts): data drawn with different vertex counts never share one."""
    name = f"polygons-v{CACHE_VERSION}-seed{seed}-{sides_tag(sides)}.npz"
    return locations.writable_data_dir(data_dir) / "polygons" / name


def load_polygons(
    data_dir: Path | None, split: str, download: bool, sides: Sequence[int] = DEFAULT_SIDES
) -> InMemorySamples:
    """Generated locally, so `download` has nothing to fetch.

    `sides` is a keyword beyond the registry's (data_dir, split, download) contract, defaulting to the paper's
    triangles: GANDataModule binds it (functools.partial) for polygons only, so the other loaders and
    DatasetSpec keep one signature.
    """
    sides = checked_sides(sides)
    path = polygons_cache_path(data_dir, sides=sides)
    arrays = load_or_build_npz(path, partial(build_polygon_splits, POLYGONS_SEED, sides))
    images = arrays.get(split)
    expected = (SPLIT_SIZES[split], 1, IMAGE_SIZE, IMAGE_SIZE)
    if images is None or images.dtype != np.uint8 or images.shape != expected:
        found = "missing" if images is None else f"{images.dtype} {images.shape}"
        raise DatasetFileError(
            f"{path}: split {split!r} is {found}, expected uint8 {expected}; delete the file to rebuild it"
        )
    return InMemorySamples(torch.from_numpy(images))

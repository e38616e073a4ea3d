"""Convex polygons: geometry, vertex counts, exact anti-aliased rendering, determinism and the on-disk cache."""

import math
import time

import numpy as np
import pytest
import torch

from lightning_gans.data import DATASETS, DatasetFileError, GANDataModule, polygon_vertices, render_polygons
from lightning_gans.data import polygons as polygons_module

SMALL_SPLITS = {"train": 40, "test": 8, "holdout": 8}
MIXED = (3, 4, 5, 6, 7)


def distinct_corners(polygon: torch.Tensor) -> torch.Tensor:
    """Drop the repeated corners that pad polygons with fewer than the maximum number of sides."""
    keep = (polygon - polygon.roll(-1, dims=0)).norm(dim=1) > 0
    return polygon[keep]


def reference_render(polygon: torch.Tensor, size: int = 28, supersample: int = 8) -> torch.Tensor:
    """The definition: the share of a pixel's subpixel centres left of every edge, tested point by point."""
    centres = (torch.arange(size * supersample, dtype=torch.float64) + 0.5) / supersample
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    inside = torch.ones_like(x, dtype=torch.bool)
    for start, end in zip(polygon, polygon.roll(-1, dims=0), strict=True):
        dx, dy = end - start
        inside &= dx * (y - start[1]) - dy * (x - start[0]) >= 0
    covered = inside.view(size, supersample, size, supersample).double().mean(dim=(1, 3))
    return (1 - covered).float()


def triangles_by_hand(count: int, seed: int) -> torch.Tensor:
    """The documented draws, for triangles: each polygon's vertex count first (one choice, still drawn), then one
    vertex uniformly in each third of the circle, 0.1 rad clear of its ends, and a rotation in [-pi/12, pi/12]; radius
    0.75 * 14 = 10.5, the bounding box centred at (14, 14)."""
    generator = torch.Generator().manual_seed(seed)
    torch.randint(1, (count, 1), generator=generator)
    offsets = torch.rand(count, 3, generator=generator, dtype=torch.float64)
    rotation = (2 * torch.rand(count, 1, generator=generator, dtype=torch.float64) - 1) * math.pi / 12
    arc = 2 * math.pi / 3
    angles = torch.arange(3) * arc + 0.1 + offsets * (arc - 0.2) + rotation
    points = 10.5 * torch.stack((angles.cos(), angles.sin()), dim=-1)
    return points - (points.amax(dim=1, keepdim=True) + points.amin(dim=1, keepdim=True)) / 2 + 14


def test_same_generator_seed_gives_the_same_polygons():
    for seed in (3, 4):
        vertices = polygon_vertices(50, torch.Generator().manual_seed(seed))
        # To 1e-6 px, not float64's round-off: the module takes 2 pi / n in float32 (a float over an int64 tensor).
        torch.testing.assert_close(vertices, triangles_by_hand(50, seed), rtol=0, atol=1e-6)
    assert not torch.allclose(triangles_by_hand(50, 3), triangles_by_hand(50, 4))


def test_default_polygons_are_triangles():
    vertices = polygon_vertices(500, torch.Generator().manual_seed(0))
    assert vertices.shape == (500, 3, 2)
    assert [len(distinct_corners(polygon)) for polygon in vertices] == [3] * 500


@pytest.mark.parametrize("sides", [(3,), MIXED, (4,), (15,)])
def test_polygons_are_convex_centred_and_have_the_asked_vertex_counts(sides):
    vertices = polygon_vertices(500, torch.Generator().manual_seed(0), sides=sides)
    assert vertices.shape == (500, max(sides), 2) and vertices.dtype == torch.float64
    counts = []
    for polygon in vertices:
        corners = distinct_corners(polygon)
        counts.append(len(corners))
        edges = corners.roll(-1, dims=0) - corners
        turns = edges[:, 0] * edges.roll(-1, dims=0)[:, 1] - edges[:, 1] * edges.roll(-1, dims=0)[:, 0]
        assert (turns > 0).all(), "every corner turns left: convex and counter-clockwise"
        # Corners at least 0.2 rad apart on a circle of radius 0.75 * 14 are at least this far apart.
        assert edges.norm(dim=1).min() >= 2 * 10.5 * math.sin(0.1) - 1e-9
        box_centre = (corners.amax(dim=0) + corners.amin(dim=0)) / 2
        torch.testing.assert_close(box_centre, torch.tensor([14.0, 14.0], dtype=torch.float64))
        assert corners.min() > 0 and corners.max() < 28
    assert set(counts) == set(sides)


def test_mixed_sides_are_drawn_uniformly_as_the_3_to_7_sided_data_of_cache_version_1():
    # Version 1 drew each polygon's vertex count first, as torch.randint(3, 8, ...) from the same generator.
    vertices = polygon_vertices(2000, torch.Generator().manual_seed(5), sides=[7, 3, 5, 4, 6])
    counts = torch.tensor([len(distinct_corners(polygon)) for polygon in vertices])
    version_1 = torch.randint(3, 8, (2000,), generator=torch.Generator().manual_seed(5))
    assert torch.equal(counts, version_1)
    assert torch.bincount(counts, minlength=8)[3:].min() >= 350  # 400 expected per count


@pytest.mark.parametrize(
    ("sides", "named"),
    [([2], "2"), ([3, 16], "16"), ([3.0], "3.0"), (["4"], "'4'"), ([True], "True"), ([], r"\[\]"), ([4, 3, 4], "more")],
)
def test_bad_vertex_counts_are_refused_naming_the_value_and_the_range(sides, named):
    with pytest.raises(ValueError, match=rf"{named}.*integers from 3 to 15"):
        polygon_vertices(1, torch.Generator(), sides=sides)


def test_axis_aligned_squares_render_exact_coverage():
    on_pixel_edges = torch.tensor([[7.0, 7.0], [21.0, 7.0], [21.0, 21.0], [7.0, 21.0]])
    on_pixel_centres = on_pixel_edges + torch.tensor([0.5, 0.5])
    sharp, soft = render_polygons(torch.stack([on_pixel_edges, on_pixel_centres]))
    expected = torch.ones(28, 28)
    expected[7:21, 7:21] = 0
    assert torch.equal(sharp, expected)
    # Shifted by half a pixel: the pixels it half covers are 0.5, its corner pixels are covered a quarter.
    expected = torch.ones(28, 28)
    expected[7:22, 7:22] = 0.5
    expected[8:21, 8:21] = 0
    expected[7, 7] = expected[7, 21] = expected[21, 7] = expected[21, 21] = 0.75
    assert torch.equal(soft, expected)


@pytest.mark.parametrize("sides", [(3,), MIXED])
def test_rendering_matches_testing_every_subpixel(sides):
    vertices = polygon_vertices(12, torch.Generator().manual_seed(1), sides=sides)
    rendered = render_polygons(vertices)
    for polygon, image in zip(vertices, rendered, strict=True):
        assert torch.equal(image, reference_render(polygon))


def test_images_are_black_polygons_on_white_with_gray_edges():
    images = render_polygons(polygon_vertices(200, torch.Generator().manual_seed(2)))
    assert images.shape == (200, 28, 28) and images.dtype == torch.float32
    assert images.min() == 0 and images.max() == 1
    assert (images[:, [0, 0, -1, -1], [0, -1, 0, -1]] == 1).all(), "corners are background"
    gray = (images > 0) & (images < 1)
    assert gray.flatten(1).any(dim=1).all(), "every polygon has anti-aliased edge pixels"
    # The bounding box of the ink is centred: its first and last row (column) sum to 27, give or take
    # a sharp corner that covers no subpixel centre.
    for axis in (1, 2):
        inked = (images < 1).any(dim=axis).float()
        first = inked.argmax(dim=1)
        last = 27 - inked.flip(1).argmax(dim=1)
        assert ((first + last - 27).abs() <= 1).all()


@pytest.fixture
def small_splits(monkeypatch):
    monkeypatch.setattr(polygons_module, "SPLIT_SIZES", SMALL_SPLITS)


def splits_by_hand(seed: int, sides: tuple[int, ...] = (3,)) -> dict[str, np.ndarray]:
    """The small splits as documented: one generator draws every polygon, train's first, then test's and holdout's;
    each is rendered by testing every subpixel and stored as uint8."""
    vertices = polygon_vertices(sum(SMALL_SPLITS.values()), torch.Generator().manual_seed(seed), sides=sides)
    images = torch.stack([reference_render(polygon) for polygon in vertices])
    pixels = (images * 255).round().to(torch.uint8).unsqueeze(1).numpy()
    bounds = np.cumsum([0, *SMALL_SPLITS.values()])
    return {split: pixels[a:b] for split, a, b in zip(SMALL_SPLITS, bounds[:-1], bounds[1:], strict=True)}


def test_splits_are_deterministic_and_disjoint_draws(small_splits):
    built = polygons_module.build_polygon_splits(7)
    expected = splits_by_hand(7)
    assert list(built) == list(SMALL_SPLITS)
    for split, count in SMALL_SPLITS.items():
        assert built[split].shape == (count, 1, 28, 28) and built[split].dtype == np.uint8
        np.testing.assert_array_equal(built[split], expected[split])
    assert not np.array_equal(built["test"], built["holdout"])


def test_dataset_is_cached_and_reused(small_splits, tmp_path, monkeypatch):
    spec = DATASETS.get("polygons")
    train = spec.load(tmp_path, "train", False)
    path = tmp_path / "polygons" / f"polygons-v2-seed{polygons_module.POLYGONS_SEED}-sides3.npz"
    assert path.is_file() and list(path.parent.iterdir()) == [path], "no temporary file left behind"
    assert len(train) == 40 and train[0].shape == (1, 28, 28) and train[0].dtype == torch.float32
    written = path.stat().st_mtime_ns

    def must_not_render(*args, **kwargs):
        raise AssertionError("the cached dataset was rendered again")

    monkeypatch.setattr(polygons_module, "render_polygons", must_not_render)
    again = spec.load(tmp_path, "train", False)
    expected = splits_by_hand(polygons_module.POLYGONS_SEED)["train"]
    for loaded in (train, again):
        np.testing.assert_array_equal(loaded.data.numpy(), expected)
    assert path.stat().st_mtime_ns == written
    assert len(spec.load(tmp_path, "holdout", False)) == 8


def test_the_module_serves_the_vertex_counts_asked_for_from_one_cache_file_each(small_splits, tmp_path):
    triangles = GANDataModule("polygons", data_dir=str(tmp_path)).split("train").data
    mixed = GANDataModule("polygons", data_dir=str(tmp_path), polygon_sides=[7, 6, 5, 4, 3]).split("train").data
    seed = polygons_module.POLYGONS_SEED
    assert sorted(path.name for path in (tmp_path / "polygons").iterdir()) == [
        f"polygons-v2-seed{seed}-sides3-4-5-6-7.npz",
        f"polygons-v2-seed{seed}-sides3.npz",
    ]
    expected = {sides: splits_by_hand(seed, sides)["train"] for sides in ((3,), MIXED)}
    np.testing.assert_array_equal(triangles.numpy(), expected[(3,)])
    np.testing.assert_array_equal(mixed.numpy(), expected[MIXED])
    assert not np.array_equal(expected[(3,)], expected[MIXED])


def test_cache_goes_to_lightning_gans_data_then_xdg_cache(small_splits, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LIGHTNING_GANS_DATA", str(tmp_path / "env"))
    DATASETS.get("polygons").load(None, "test", False)
    assert list((tmp_path / "env" / "polygons").glob("*.npz"))
    monkeypatch.delenv("LIGHTNING_GANS_DATA")
    DATASETS.get("polygons").load(None, "test", False)
    assert list((tmp_path / "xdg" / "lightning_gans" / "datasets" / "polygons").glob("*.npz"))


@pytest.mark.parametrize("damage", ["garbage", "wrong sizes"])
def test_damaged_cache_is_named(small_splits, tmp_path, monkeypatch, damage):
    path = polygons_module.polygons_cache_path(tmp_path)
    if damage == "garbage":
        path.parent.mkdir(parents=True)
        path.write_bytes(b"PK\x03\x04 not really a zip")
    else:
        DATASETS.get("polygons").load(tmp_path, "train", False)
        monkeypatch.setattr(polygons_module, "SPLIT_SIZES", {**SMALL_SPLITS, "train": 41})
    with pytest.raises(DatasetFileError, match="delete") as error:
        DATASETS.get("polygons").load(tmp_path, "train", False)
    assert str(path) in str(error.value)


@pytest.mark.slow
def test_full_build_sizes_and_time(tmp_path):
    start = time.perf_counter()
    spec = DATASETS.get("polygons")
    sizes = {split: len(spec.load(tmp_path, split, False)) for split in spec.splits}
    elapsed = time.perf_counter() - start
    assert sizes == {"train": 60_000, "test": 10_000, "holdout": 10_000}
    assert elapsed < 60, f"building 80,000 polygons took {elapsed:.1f} s"

"""core.embed.projection: PCA map, density image, rectangle selection."""

from __future__ import annotations

import numpy as np
import pytest

from debias_studio.core.embed.projection import (
    density_image,
    inside_polygon,
    inside_rectangle,
    pca_2d,
)
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import run_quiet


def test_pca_finds_the_direction_of_largest_spread() -> None:
    rng = np.random.default_rng(0)
    n, d = 3000, 16
    vectors = rng.normal(0, 0.05, (n, d)).astype(np.float32)
    vectors[:, 3] += np.where(np.arange(n) % 2, 1.0, -1.0)  # two clusters along axis 3
    valid = np.ones(n, dtype=bool)
    valid[7] = False
    xy = run_quiet(pca_2d(vectors.astype(np.float16), valid, max_fit=1000))
    assert xy.shape == (n, 2) and xy.dtype == np.float32
    assert np.isnan(xy[7]).all()
    ok = np.isfinite(xy[:, 0])
    odd = (np.arange(n) % 2 == 1) & ok
    even = (np.arange(n) % 2 == 0) & ok
    assert (np.sign(xy[odd, 0]) != np.sign(xy[even, 0].mean())).all()
    again = run_quiet(pca_2d(vectors.astype(np.float16), valid, max_fit=1000))
    np.testing.assert_array_equal(np.nan_to_num(xy), np.nan_to_num(again))


def test_pca_needs_two_points() -> None:
    with pytest.raises(StudioError, match="two embedded images"):
        run_quiet(pca_2d(np.zeros((3, 4)), np.array([True, False, False])))


def test_density_and_rectangle() -> None:
    xy = np.array([[0, 0], [1, 1], [1, 1], [np.nan, np.nan]], dtype=np.float32)
    image, extent = density_image(xy, bins=2)
    assert image.shape == (2, 2)
    assert np.isclose(np.expm1(image).sum(), 3)
    assert extent == (0.0, 0.0, 1.0, 1.0)
    assert list(inside_rectangle(xy, 0.5, 0.5, 2, 2)) == [False, True, True, False]


def test_inside_polygon_follows_a_concave_lasso() -> None:
    # an L-shaped lasso: the notch (top right) is outside although inside the bounding box
    lasso = np.array([[0, 0], [4, 0], [4, 2], [2, 2], [2, 4], [0, 4]], dtype=float)
    xy = np.array([[1, 1], [3, 1], [1, 3], [3, 3], [5, 1], [np.nan, np.nan]], dtype=float)
    assert list(inside_polygon(xy, lasso)) == [True, True, True, False, False, False]
    assert list(inside_polygon(xy, lasso, chunk=2)) == [True, True, True, False, False, False]
    assert not inside_polygon(xy, lasso[:2]).any()  # a line selects nothing

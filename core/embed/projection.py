"""2-D projections of embeddings for the map view, and a density image for very many points.

PCA is fitted on a seeded sample (at most ``max_fit`` rows) and applied to every row in chunks, so
projecting a memory-mapped float16 array of 1M × 512 never holds a float32 copy of all of it.
Rows that are not valid (images that could not be embedded) get NaN and are not drawn.
"""

from __future__ import annotations

import numpy as np

from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress

CHUNK = 65536


def pca_2d(
    vectors: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    max_fit: int = 20000,
    seed: int = 0,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[np.ndarray]:
    """Project ``vectors`` (N, d) on their first two principal components: (N, 2) float32.
    The sign of each axis is fixed (largest loading positive) so the map does not flip between
    runs."""
    n = len(vectors)
    valid = np.ones(n, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    rows = np.flatnonzero(valid)
    if len(rows) < 2:
        raise StudioError("At least two embedded images are needed to draw the map.")
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(rows, size=min(max_fit, len(rows)), replace=False))
    fit = np.asarray(vectors[sample], dtype=np.float32)
    mean = fit.mean(axis=0)
    yield Progress(0, n, "fitting PCA")
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    axes = vt[:2].T.astype(np.float32)  # (d, 2)
    if axes.shape[1] < 2:
        axes = np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))
    signs = np.sign(axes[np.argmax(np.abs(axes), axis=0), [0, 1]])
    axes *= np.where(signs == 0, 1, signs)
    out = np.full((n, 2), np.nan, dtype=np.float32)
    for start in range(0, n, CHUNK):
        cancel.raise_if_cancelled()
        stop = min(n, start + CHUNK)
        block = np.asarray(vectors[start:stop], dtype=np.float32) - mean
        out[start:stop] = block @ axes
        yield Progress(stop, n, "projecting")
    out[~valid] = np.nan
    return out


def density_image(
    xy: np.ndarray, bins: int = 256
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A log-scaled 2-D histogram of the finite points (for maps too dense to draw point by
    point) and its extent (x0, y0, width, height) in data coordinates."""
    finite = np.isfinite(xy).all(axis=1)
    points = xy[finite]
    if not len(points):
        return np.zeros((bins, bins), dtype=np.float32), (0.0, 0.0, 1.0, 1.0)
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    width, height = max(float(x1 - x0), 1e-6), max(float(y1 - y0), 1e-6)
    counts, _, _ = np.histogram2d(
        points[:, 0], points[:, 1], bins=bins, range=[[x0, x0 + width], [y0, y0 + height]]
    )
    return np.log1p(counts).astype(np.float32), (float(x0), float(y0), width, height)


def inside_rectangle(xy: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Boolean per point: inside the rectangle (NaN points never are)."""
    lo_x, hi_x = min(x0, x1), max(x0, x1)
    lo_y, hi_y = min(y0, y1), max(y0, y1)
    with np.errstate(invalid="ignore"):
        return (xy[:, 0] >= lo_x) & (xy[:, 0] <= hi_x) & (xy[:, 1] >= lo_y) & (xy[:, 1] <= hi_y)


def inside_polygon(xy: np.ndarray, polygon: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Boolean per point: inside the closed ``polygon`` (V, 2) by the even-odd rule, as a lasso
    selects (NaN points never are). Vectorised ray casting in chunks: O(N x V) without an
    N x V matrix in memory."""
    inside = np.zeros(len(xy), dtype=bool)
    if len(polygon) < 3:
        return inside
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    dy = np.where(y1 == y0, 1.0, y1 - y0)  # a flat edge never straddles a ray: any divisor
    for start in range(0, len(xy), chunk):
        px = xy[start : start + chunk, 0:1]
        py = xy[start : start + chunk, 1:2]
        with np.errstate(invalid="ignore"):
            straddles = (y0 > py) != (y1 > py)
            crossing_x = x0 + (py - y0) * (x1 - x0) / dy
            crossings = straddles & (px < crossing_x)
        inside[start : start + chunk] = (crossings.sum(axis=1) % 2) == 1
    return inside

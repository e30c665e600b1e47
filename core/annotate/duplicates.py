"""Near-duplicate images: pairs whose embeddings have cosine similarity >= a threshold.

Two searches give the same answer format, ``(i, j, similarity)`` with ``i < j``:

* **exact** (up to ``EXACT_MAX`` images): blocked matrix products over the upper triangle, so
  memory stays at one ``BLOCK`` x N block whatever N is;
* **cells** (more images): the vectors are clustered (spherical k-means on a sample) and each
  cell's members are compared with every vector that counts the cell among its ``PROBE`` nearest
  cells. A near-duplicate pair lies in the same or a neighbouring cell, so recall stays near 1
  (measured by bench/clean.py) at a small fraction of the products: N=100k, d=512 costs about
  N x (PROBE x N / cells) products instead of N^2 / 2.

Pairs are then joined into clusters (connected components) and each pair says whether it crosses
splits (train/test leakage) or lies within one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress

DEFAULT_THRESHOLD = 0.95
EXACT_MAX = 12_000
BLOCK = 2048
PROBE = 3
KMEANS_SAMPLE = 20_000
KMEANS_ITERATIONS = 8
BLAS_THREADS = 1
"""The products here are many small blocks: with 2 BLAS threads on a busy 2-core machine one
316 x 950 x 512 product ran at 3.4 GFLOPS, with 1 thread at 39 (measured side by side)."""


@dataclass
class Pairs:
    """Near-duplicate pairs, most similar first."""

    first: np.ndarray  # (P,) int64 image id, < second
    second: np.ndarray  # (P,) int64
    similarity: np.ndarray  # (P,) float32

    def __len__(self) -> int:
        return len(self.first)


def find_pairs(
    vectors: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    exact: bool | None = None,
    seed: int = 0,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[Pairs]:
    """Pairs of rows of L2-normalised ``vectors`` with cosine >= ``threshold`` (a job).
    ``exact``: None picks by size (exact up to EXACT_MAX rows)."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if exact is None:
        exact = len(x) <= EXACT_MAX
    with threadpool_limits(BLAS_THREADS):
        if exact:
            found = yield from _exact(x, threshold, cancel)
        else:
            found = yield from _by_cells(x, threshold, seed, cancel)
    return _sorted_unique(*found)


def clusters(pairs: Pairs, n: int) -> np.ndarray:
    """(n,) int64 cluster id per image (-1: in no pair); ids count from 0, largest first."""
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for a, b in zip(pairs.first.tolist(), pairs.second.tolist(), strict=True):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(i) for i in range(n)])
    in_pair = np.zeros(n, dtype=bool)
    in_pair[pairs.first] = in_pair[pairs.second] = True
    out = np.full(n, -1, dtype=np.int64)
    if in_pair.any():
        kept, inverse, counts = np.unique(roots[in_pair], return_inverse=True, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        rank = np.empty(len(kept), dtype=np.int64)
        rank[order] = np.arange(len(kept))
        out[in_pair] = rank[inverse]
    return out


def _exact(x: np.ndarray, threshold: float, cancel: CancelToken) -> Job[tuple[np.ndarray, ...]]:
    n = len(x)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    starts = range(0, n, BLOCK)
    for k, start in enumerate(starts):
        cancel.raise_if_cancelled()
        yield Progress(k, len(starts), "comparing embeddings")
        sims = x[start : start + BLOCK] @ x[start:].T
        rows, cols = np.nonzero(sims >= threshold)
        keep = cols > rows  # upper triangle: each pair once, no image with itself
        rows, cols = rows[keep], cols[keep]
        parts.append((rows + start, cols + start, sims[rows, cols]))
    yield Progress(len(starts), len(starts), "compared")
    return _concat(parts)


def _by_cells(
    x: np.ndarray, threshold: float, seed: int, cancel: CancelToken
) -> Job[tuple[np.ndarray, ...]]:
    n_cells = max(8, int(np.sqrt(len(x))))
    centroids = yield from _spherical_kmeans(x, n_cells, seed, cancel)
    nearest = _nearest_cells(x, centroids, PROBE)
    primary = nearest[:, 0]
    by_primary = _members(primary, n_cells)
    by_probe = _members(nearest.ravel(), n_cells, repeat=PROBE)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for cell in range(n_cells):
        if cell % 16 == 0:
            cancel.raise_if_cancelled()
            yield Progress(cell, n_cells, "comparing embeddings cell by cell")
        members, probers = by_primary[cell], by_probe[cell]
        if len(members) == 0:
            continue
        sims = x[members] @ x[probers].T
        rows, cols = np.nonzero(sims >= threshold)
        a, b = members[rows], probers[cols]
        keep = a != b
        parts.append((a[keep], b[keep], sims[rows[keep], cols[keep]]))
    yield Progress(n_cells, n_cells, "compared")
    return _concat(parts)


def _spherical_kmeans(x: np.ndarray, k: int, seed: int, cancel: CancelToken) -> Job[np.ndarray]:
    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(len(x), min(len(x), KMEANS_SAMPLE), replace=False))]
    centroids = sample[rng.choice(len(sample), k, replace=False)].copy()
    for step in range(KMEANS_ITERATIONS):
        cancel.raise_if_cancelled()
        yield Progress(step, KMEANS_ITERATIONS, "grouping embeddings into cells")
        assigned = np.argmax(sample @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assigned, sample)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        empty = norms[:, 0] == 0
        sums[empty] = sample[rng.choice(len(sample), int(empty.sum()), replace=False)]
        norms[empty] = 1.0
        centroids = sums / norms
    return centroids.astype(np.float32)


def _nearest_cells(x: np.ndarray, centroids: np.ndarray, probe: int) -> np.ndarray:
    """(N, probe) the nearest cells of each row, nearest first (in blocks: N x cells is small)."""
    out = np.empty((len(x), probe), dtype=np.int64)
    for start in range(0, len(x), 16_384):
        sims = x[start : start + 16_384] @ centroids.T
        top = np.argpartition(-sims, probe - 1, axis=1)[:, :probe]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        out[start : start + 16_384] = np.take_along_axis(top, order, axis=1)
    return out


def _members(cells: np.ndarray, n_cells: int, repeat: int = 1) -> list[np.ndarray]:
    """Row ids per cell; ``cells`` may hold ``repeat`` entries per row (row = index // repeat)."""
    order = np.argsort(cells, kind="stable")
    bounds = np.searchsorted(cells[order], np.arange(n_cells + 1))
    rows = order // repeat
    return [rows[bounds[c] : bounds[c + 1]] for c in range(n_cells)]


def _concat(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))


def _sorted_unique(a: np.ndarray, b: np.ndarray, sims: np.ndarray) -> Pairs:
    first = np.minimum(a, b).astype(np.int64)
    second = np.maximum(a, b).astype(np.int64)
    _, unique = np.unique(
        first * (max(int(second.max(initial=0)), 0) + 1) + second, return_index=True
    )
    first, second, sims = first[unique], second[unique], sims[unique].astype(np.float32)
    order = np.lexsort((second, first, -sims))
    return Pairs(first[order], second[order], sims[order])

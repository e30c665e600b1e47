"""Environments for DISC's instability signal: per-class clusters joined across classes.

DISC clusters each class's training images on [model features, correctness] (UMAP, then a
Gaussian mixture) and builds environment e from one cluster of every class. We cluster
[a few principal components of the class's embeddings, correctness x weight] with a Gaussian
mixture, then order each class's clusters by accuracy (best first) so that environment 0 joins
the easiest cluster of every class and the last joins the hardest: the environments then differ
in the way a spurious cue differs (it holds where the model is right and breaks where it fails).
Deterministic by seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from threadpoolctl import threadpool_limits

from debias_studio.core.concepts.probe import rows_of
from debias_studio.core.concepts.scoring import RowSource

DEFAULT_ENVIRONMENTS = 3
N_COMPONENTS = 8
CORRECTNESS_WEIGHT = 2.0
FIT_SAMPLE = 20_000
PIECE_ROWS = 8_192
"""Rows of a class read at a time (float64) when the rows are not in memory."""

Pieces = Callable[[], Iterator[np.ndarray]]
"""A class's rows as float64 pieces, in order, each call from the first."""


def class_environments(
    x: np.ndarray | RowSource,
    labels: np.ndarray,
    correct: np.ndarray,
    *,
    n_environments: int = DEFAULT_ENVIRONMENTS,
    n_components: int = N_COMPONENTS,
    correctness_weight: float = CORRECTNESS_WEIGHT,
    seed: int = 0,
) -> np.ndarray:
    """Environment index per row (int64, 0..E-1; -1 where a tiny class could not be clustered).

    ``x`` may be a ``RowSource`` that is not cached: a class is then read in pieces (its
    principal components from streamed sums), so N rows are never all in memory."""
    env = np.full(len(labels), -1, dtype=np.int64)
    with threadpool_limits(1):  # small d x d algebra: BLAS threads only add synchronisation
        _cluster_all(
            x, labels, correct, env, n_environments, n_components, correctness_weight, seed
        )
    return env


def _cluster_all(
    x: np.ndarray | RowSource,
    labels: np.ndarray,
    correct: np.ndarray,
    env: np.ndarray,
    n_environments: int,
    n_components: int,
    correctness_weight: float,
    seed: int,
) -> None:
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        clusters = _cluster_class(
            class_pieces(x, rows),
            correct[rows].astype(np.float64),
            n_environments,
            n_components,
            correctness_weight,
            seed,
        )
        env[rows] = _order_by_accuracy(clusters, correct[rows])


def class_pieces(x: np.ndarray | RowSource, rows: np.ndarray) -> Pieces:
    """One class's rows as float64 pieces: the whole class at once when the rows are in memory
    (an array, or a cached source), else ``PIECE_ROWS`` rows at a time."""
    if not isinstance(x, RowSource) or x.cached is not None:
        whole = np.asarray(rows_of(x, rows), dtype=np.float64)
        return lambda: iter([whole])

    def pieces() -> Iterator[np.ndarray]:
        for start in range(0, len(rows), PIECE_ROWS):
            yield np.asarray(x.take(rows[start : start + PIECE_ROWS]), dtype=np.float64)

    return pieces


def _cluster_class(
    x: Pieces,
    correct: np.ndarray,
    n_environments: int,
    n_components: int,
    weight: float,
    seed: int,
) -> np.ndarray:
    from sklearn.mixture import GaussianMixture

    n = len(correct)
    k = min(n_environments, n)
    if k < 2:
        return np.zeros(n, dtype=np.int64)
    features = _features(x, correct, n_components, weight)
    rng = np.random.default_rng(seed)
    fit_rows = rng.choice(n, FIT_SAMPLE, replace=False) if n > FIT_SAMPLE else slice(None)
    mixture = GaussianMixture(
        n_components=k, covariance_type="diag", reg_covar=1e-4, random_state=seed, n_init=2
    )
    mixture.fit(features[fit_rows])
    return mixture.predict(features).astype(np.int64)


def _features(x: Pieces, correct: np.ndarray, n_components: int, weight: float) -> np.ndarray:
    """[top principal components, correctness scaled to the spread of the first component].

    The components come from the d x d covariance (eigh), not an SVD of the n x d rows: the
    same subspace at a fraction of the cost when n >> d. Mean, covariance and projections are
    sums over the pieces (two-pass: the mean first); with one piece, exactly the dense sums."""
    n = len(correct)
    mean = sum(piece.sum(axis=0) for piece in x()) / n  # 0 + the one piece's sum: exact
    covariance = sum((p - mean).T @ (p - mean) for p in x())
    q = max(1, min(n_components, n - 1, len(mean)))
    covariance = covariance / max(n - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    top = eigenvectors[:, ::-1][:, :q]
    pcs = np.concatenate([(p - mean) @ top for p in x()])
    spread = float(np.sqrt(max(eigenvalues[-1], 0.0)))
    return np.column_stack([pcs, correct * weight * max(spread, 1e-6)])


def _order_by_accuracy(clusters: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Relabel clusters 0.. by decreasing accuracy (ties: larger cluster first, then label)."""
    labels = np.unique(clusters)
    accuracy = np.array([correct[clusters == c].mean() for c in labels])
    sizes = np.array([(clusters == c).sum() for c in labels])
    order = np.lexsort((labels, -sizes, -accuracy))
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    return rank[np.searchsorted(labels, clusters)]

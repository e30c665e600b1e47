"""Images far from their class in the embedding space.

Each class's centre is the normalised mean of its images' L2-normalised embeddings; an image's
distance is ``1 - cosine`` to its own class's centre, and its score is that distance in units of
the class's spread (robust: median and median absolute deviation), so that a loose class does
not flood the list. Ranked by score, highest first; ``scores`` is (N,) with NaN where unused.
"""

from __future__ import annotations

import numpy as np

DEFAULT_TOP = 100


def outlier_scores(vectors: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(N,) float32 robust distance score of each of ``rows`` to its class centre (NaN else)."""
    x = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.full(len(x), np.nan, dtype=np.float32)
    rows = np.asarray(rows, dtype=np.int64)
    for c in np.unique(labels[rows]):
        members = rows[labels[rows] == c]
        if len(members) < 3:
            continue
        centre = x[members].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        distance = 1.0 - x[members] @ centre
        median = float(np.median(distance))
        spread = float(np.median(np.abs(distance - median))) * 1.4826 or 1e-6
        scores[members] = (distance - median) / spread
    return scores


def ranked_outliers(scores: np.ndarray, top: int = DEFAULT_TOP) -> np.ndarray:
    """Image ids of the ``top`` highest scores, highest first."""
    finite = np.flatnonzero(np.isfinite(scores))
    order = finite[np.argsort(-scores[finite], kind="stable")]
    return order[:top]

"""Images whose given label looks wrong, in the spirit of confident learning.

From out-of-fold class probabilities ``P`` (N, C) - a probe that never saw the image, or a
finished run - each class ``j`` gets a confidence threshold ``t_j``: the mean probability of
``j`` over the images labelled ``j``. An image labelled ``y`` is a candidate when some other class
``k`` has ``P[i, k] >= t_k`` (the model is as sure of ``k`` as it usually is of a true ``k``), and
its suggested label is the most probable such ``k``. Candidates are ranked by the margin
``P[i, k] - P[i, y]``, largest first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LabelIssues:
    """Candidates, most likely mislabelled first."""

    image_ids: np.ndarray  # (K,) int64
    given: np.ndarray  # (K,) int64 class index of the label the image has
    suggested: np.ndarray  # (K,) int64 class index of the label the model is confident of
    margin: np.ndarray  # (K,) float32 P[suggested] - P[given], in (0, 1]

    def __len__(self) -> int:
        return len(self.image_ids)


def rank_label_issues(
    probabilities: np.ndarray, labels: np.ndarray, rows: np.ndarray | None = None
) -> LabelIssues:
    """Candidates among ``rows`` (default: all rows with finite probabilities)."""
    probs = np.asarray(probabilities, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    n, n_classes = probs.shape
    usable = np.isfinite(probs).all(axis=1) & (labels >= 0)
    if rows is not None:
        chosen = np.zeros(n, dtype=bool)
        chosen[np.asarray(rows, dtype=np.int64)] = True
        usable &= chosen
    ids = np.flatnonzero(usable)
    p, y = probs[ids], labels[ids]
    thresholds = _class_thresholds(p, y, n_classes)
    confident = p >= thresholds[None, :]
    confident[np.arange(len(ids)), y] = False
    other = np.where(confident, p, -1.0)
    suggested = np.argmax(other, axis=1)
    is_candidate = other[np.arange(len(ids)), suggested] >= 0
    margin = p[np.arange(len(ids)), suggested] - p[np.arange(len(ids)), y]
    is_candidate &= margin > 0
    keep = np.flatnonzero(is_candidate)
    order = keep[np.argsort(-margin[keep], kind="stable")]
    return LabelIssues(
        ids[order], y[order], suggested[order].astype(np.int64), margin[order].astype(np.float32)
    )


def _class_thresholds(p: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """(C,) mean probability of each class over its own images (1.0 for a class without any,
    so that nothing is suggested into it)."""
    sums = np.zeros(n_classes, dtype=np.float64)
    np.add.at(sums, y, p[np.arange(len(y)), y])
    counts = np.bincount(y, minlength=n_classes)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0).astype(np.float32)

"""What a threshold on a concept's standardised score would do, before it is applied: how many
images of each class it marks present, and the images nearest the threshold (the ones a person
should look at to place it)."""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_NEAREST = 16


def threshold_preview(
    scores: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    threshold: float,
    n_nearest: int = DEFAULT_NEAREST,
) -> dict[str, Any]:
    """Per-class present/absent counts at ``threshold`` and the image ids just above and just
    below it (closest first). NaN scores (no embedding) count as unknown."""
    scores = np.asarray(scores, dtype=np.float64)
    known = ~np.isnan(scores)
    present = known & (scores >= threshold)
    absent = known & ~present
    n_c = len(classes)
    above = np.flatnonzero(present)
    below = np.flatnonzero(absent)
    above = above[np.argsort(scores[above] - threshold, kind="stable")][:n_nearest]
    below = below[np.argsort(threshold - scores[below], kind="stable")][:n_nearest]
    return {
        "threshold": float(threshold),
        "classes": list(classes),
        "present": np.bincount(labels[present], minlength=n_c).tolist(),
        "absent": np.bincount(labels[absent], minlength=n_c).tolist(),
        "unknown": np.bincount(labels[~known], minlength=n_c).tolist(),
        "nearest_above": above.tolist(),
        "nearest_below": below.tolist(),
    }


def project_threshold_preview(
    project: Any,
    concept: str,
    threshold: float,
    model_name: str = "demo",
    n_nearest: int = DEFAULT_NEAREST,
) -> dict[str, Any]:
    from debias_studio.core.concepts.project import concept_scores

    dataset = project.dataset
    scores = concept_scores(project, concept, model_name)
    return threshold_preview(scores, dataset.labels, dataset.classes, threshold, n_nearest)

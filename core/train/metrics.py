"""Per-group evaluation (ALGORITHMS.md section 4).

Groups are (class, confounder value). A debiasing result is only meaningful per group: average
accuracy hides the bias-conflicting minority that the cures exist for, so every split reports the
worst group, the unweighted mean over groups (unbiased accuracy), the training-share weighted
accuracy (how Waterbirds reports "average"), and the aligned / conflicting split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from debias_studio.core.annotate.groups import bias_flags, group_ids


def group_metrics(
    predictions: np.ndarray,
    labels: np.ndarray,
    values: np.ndarray,
    classes: Sequence[str],
    value_names: Sequence[str],
    *,
    train_counts: np.ndarray | None = None,
    aligned_values: np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics of one split. ``values`` is -1 where the confounder is unknown (such images count
    in ``avg_acc`` and the confusion matrix only). Without a confounder the groups are the
    classes, so worst-group accuracy is then the worst class."""
    predictions = np.asarray(predictions, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    values = np.asarray(values, dtype=np.int64)
    correct = predictions == labels
    n_classes = len(classes)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    if value_names:
        known = values >= 0
        n_values = len(value_names)
        group = group_ids(labels, values, n_values)
        names = [f"{c}/{v}" for c in classes for v in value_names]
    else:
        known = np.ones_like(correct)
        group = labels
        names = list(classes)
    hits = np.bincount(group[known], weights=correct[known], minlength=len(names))
    counts = np.bincount(group[known], minlength=len(names))
    present = counts > 0
    acc = np.divide(hits, counts, out=np.zeros(len(names)), where=present)
    per_group = {
        name: {"acc": float(acc[g]), "count": int(counts[g])}
        for g, name in enumerate(names)
        if present[g]
    }
    result: dict[str, Any] = {
        "n": len(labels),
        "avg_acc": float(correct.mean()) if len(labels) else 0.0,
        "worst_group_acc": float(acc[present].min()) if present.any() else 0.0,
        "unbiased_acc": float(acc[present].mean()) if present.any() else 0.0,
        "per_group": per_group,
        "per_class": {
            c: float(confusion[k, k] / confusion[k].sum())
            for k, c in enumerate(classes)
            if confusion[k].sum()
        },
        "confusion": confusion.tolist(),
    }
    if train_counts is not None:
        shares = np.asarray(train_counts, dtype=np.float64).reshape(-1)[: len(names)]
        shares = np.where(present, shares, 0.0)
        total = shares.sum()
        result["weighted_acc"] = float((shares * acc).sum() / total) if total else 0.0
    if value_names and aligned_values is not None:
        aligned, conflicting = bias_flags(labels, values, aligned_values)
        result["aligned_acc"] = float(correct[aligned].mean()) if aligned.any() else None
        result["conflicting_acc"] = (
            float(correct[conflicting].mean()) if conflicting.any() else None
        )
    return result


SUMMARY_KEYS = (
    "avg_acc",
    "worst_group_acc",
    "unbiased_acc",
    "weighted_acc",
    "aligned_acc",
    "conflicting_acc",
)


def mean_std(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and (population) standard deviation of each summary figure over seeds."""
    summary: dict[str, dict[str, float]] = {}
    for key in SUMMARY_KEYS:
        figures = [r[key] for r in results if r.get(key) is not None]
        if figures:
            summary[key] = {
                "mean": float(np.mean(figures)),
                "std": float(np.std(figures)),
                "n": len(figures),
            }
    return summary

"""Per-group evaluation (ALGORITHMS.md section 4), every figure with its sample size.

Groups are (class, confounder value). A debiasing result is only meaningful per group: average
accuracy hides the bias-conflicting minority that the cures exist for, so every split reports the
worst group, the unweighted mean over groups (unbiased accuracy), the training-share weighted
accuracy (how Waterbirds reports "average"), and the aligned / conflicting split.

A group of three images can only score 0, 1/3, 2/3 or 1, so each group carries its size ``n`` and
a 95 % Wilson interval, and the headline worst-group accuracy is taken over the groups holding at
least ``min_group_size`` images (``worst_group_acc``); the minimum over every group is kept beside
it (``worst_group_acc_raw``). Model selection reads the robust figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from debias_studio.core.annotate.groups import bias_flags, group_ids
from debias_studio.core.concepts import intervals
from debias_studio.core.train.config import MIN_GROUP_SIZE


def wilson_interval(correct: int, n: int) -> tuple[float, float]:
    """One group's 95 % Wilson interval (core.concepts.intervals), as plain floats; (0, 1) for an
    empty group, which says nothing."""
    if n <= 0:
        return 0.0, 1.0
    low, high = intervals.wilson_interval(np.array(correct), np.array(n))
    return float(low), float(high)


def group_entry(correct: int, n: int) -> dict[str, Any]:
    """One group's figure: accuracy, size (``n``, and ``count`` for older readers), interval."""
    low, high = wilson_interval(correct, n)
    return {
        "acc": correct / n if n else 0.0,
        "n": int(n),
        "count": int(n),
        "correct": int(correct),
        "ci": [low, high],
    }


def worst_groups(
    per_group: dict[str, dict[str, Any]], min_group_size: int = MIN_GROUP_SIZE
) -> dict[str, Any]:
    """The worst group over those with at least ``min_group_size`` images (falling back to every
    group when none is that large, which ``robust_groups == 0`` reveals) and over all groups."""
    if not per_group:
        return {
            "worst_group_acc": 0.0,
            "worst_group_acc_raw": 0.0,
            "worst_group": None,
            "worst_group_raw": None,
            "robust_groups": 0,
            "min_group_size": int(min_group_size),
        }
    raw = min(per_group, key=lambda g: per_group[g]["acc"])
    large = {g: r for g, r in per_group.items() if r["n"] >= min_group_size}
    robust = min(large, key=lambda g: large[g]["acc"]) if large else raw
    return {
        "worst_group_acc": float(per_group[robust]["acc"]),
        "worst_group_acc_raw": float(per_group[raw]["acc"]),
        "worst_group": robust,
        "worst_group_raw": raw,
        "worst_group_ci": list(per_group[robust]["ci"]),
        "worst_group_n": int(per_group[robust]["n"]),
        "robust_groups": len(large),
        "min_group_size": int(min_group_size),
    }


def group_metrics(
    predictions: np.ndarray,
    labels: np.ndarray,
    values: np.ndarray,
    classes: Sequence[str],
    value_names: Sequence[str],
    *,
    train_counts: np.ndarray | None = None,
    aligned_values: np.ndarray | None = None,
    min_group_size: int = MIN_GROUP_SIZE,
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
        group = group_ids(labels, values, len(value_names))
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
        name: group_entry(round(float(hits[g])), int(counts[g]))
        for g, name in enumerate(names)
        if present[g]
    }
    result: dict[str, Any] = {
        "n": len(labels),
        "avg_acc": float(correct.mean()) if len(labels) else 0.0,
        **worst_groups(per_group, min_group_size),
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
        result.update(_aligned_split(correct, values, labels, aligned_values))
    return result


def _aligned_split(
    correct: np.ndarray, values: np.ndarray, labels: np.ndarray, aligned_values: np.ndarray
) -> dict[str, Any]:
    aligned, conflicting = bias_flags(labels, values, aligned_values)
    return {
        "aligned_acc": float(correct[aligned].mean()) if aligned.any() else None,
        "conflicting_acc": float(correct[conflicting].mean()) if conflicting.any() else None,
        "aligned_n": int(aligned.sum()),
        "conflicting_n": int(conflicting.sum()),
    }


def selection_score(metrics: dict[str, Any]) -> list[float]:
    """What model selection maximises on validation: the robust worst-group accuracy, ties
    broken by the average (so a run whose groups are all tiny still picks a sensible epoch)."""
    return [float(metrics["worst_group_acc"]), float(metrics["avg_acc"])]


def format_group(entry: dict[str, Any]) -> str:
    """``0.850 [0.64, 0.95] n=20``: a group's accuracy as people should read it."""
    low, high = entry.get("ci") or wilson_interval(entry.get("correct", 0), entry.get("n", 0))
    return f"{entry['acc']:.3f} [{low:.2f}, {high:.2f}] n={entry.get('n', entry.get('count', 0))}"


def worst_group_line(metrics: dict[str, Any]) -> str:
    """``worst-group 0.600 [0.41, 0.77] n=25 (b/x; all groups 0.333 n=3)``: the robust figure
    with its interval, and the raw one when a smaller group is worse."""
    worst = metrics.get("worst_group")
    group = (metrics.get("per_group") or {}).get(worst) if worst else None
    robust = format_group(group) if group else f"{metrics['worst_group_acc']:.3f}"
    text = f"worst-group {robust}"
    if worst:
        text += f" ({worst}"
        raw = metrics.get("worst_group_raw")
        if raw and raw != worst:
            n_raw = metrics["per_group"][raw]["n"]
            text += f"; all groups {metrics['worst_group_acc_raw']:.3f} n={n_raw}"
        text += ")"
    return text


SUMMARY_KEYS = (
    "avg_acc",
    "worst_group_acc",
    "worst_group_acc_raw",
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

"""Per-group metrics against a case computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from debias_studio.core.train.metrics import group_metrics, mean_std


def test_metrics_match_a_hand_computed_case() -> None:
    # classes a, b; values x, y. Groups: a/x (aligned for a), a/y, b/x, b/y (aligned for b).
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    values = np.array([0, 0, 0, 1, 1, 1, 1, 1, 0, -1])
    preds = np.array([0, 0, 1, 1, 0, 1, 1, 0, 0, 1])
    train_counts = np.array([[90, 10], [5, 95]])
    m = group_metrics(
        preds,
        labels,
        values,
        ["a", "b"],
        ["x", "y"],
        train_counts=train_counts,
        aligned_values=np.array([0, 1]),
    )
    assert m["per_group"] == {
        "a/x": {"acc": pytest.approx(2 / 3), "count": 3},
        "a/y": {"acc": 0.5, "count": 2},
        "b/x": {"acc": 0.0, "count": 1},
        "b/y": {"acc": pytest.approx(2 / 3), "count": 3},
    }
    assert m["avg_acc"] == pytest.approx(6 / 10)
    assert m["worst_group_acc"] == 0.0
    assert m["unbiased_acc"] == pytest.approx((2 / 3 + 0.5 + 0.0 + 2 / 3) / 4)
    weighted = (90 * 2 / 3 + 10 * 0.5 + 5 * 0.0 + 95 * 2 / 3) / 200
    assert m["weighted_acc"] == pytest.approx(weighted)
    assert m["aligned_acc"] == pytest.approx(4 / 6)  # a/x 2 of 3, b/y 2 of 3
    assert m["conflicting_acc"] == pytest.approx(1 / 3)  # a/y 1 of 2, b/x 0 of 1
    assert m["confusion"] == [[3, 2], [2, 3]]
    assert m["per_class"] == {"a": pytest.approx(0.6), "b": pytest.approx(0.6)}


def test_without_a_confounder_the_groups_are_the_classes() -> None:
    m = group_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]), np.full(3, -1), ["a", "b"], [])
    assert m["per_group"] == {"a": {"acc": 0.5, "count": 2}, "b": {"acc": 1.0, "count": 1}}
    assert m["worst_group_acc"] == 0.5


def test_mean_and_std_over_seeds() -> None:
    summary = mean_std(
        [{"avg_acc": 0.5, "worst_group_acc": 0.2}, {"avg_acc": 0.7, "worst_group_acc": 0.4}]
    )
    assert summary["avg_acc"] == {"mean": pytest.approx(0.6), "std": pytest.approx(0.1), "n": 2}
    assert summary["worst_group_acc"]["mean"] == pytest.approx(0.3)

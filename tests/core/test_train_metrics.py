"""Per-group metrics against a case computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from debias_studio.core.train.metrics import (
    MIN_GROUP_SIZE,
    format_group,
    group_metrics,
    mean_std,
    selection_score,
    wilson_interval,
)


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
    sizes = {g: (r["acc"], r["n"], r["correct"]) for g, r in m["per_group"].items()}
    assert sizes == {
        "a/x": (pytest.approx(2 / 3), 3, 2),
        "a/y": (0.5, 2, 1),
        "b/x": (0.0, 1, 0),
        "b/y": (pytest.approx(2 / 3), 3, 2),
    }
    assert all(r["count"] == r["n"] for r in m["per_group"].values())
    assert m["per_group"]["a/y"]["ci"] == pytest.approx(list(wilson_interval(1, 2)))
    assert m["avg_acc"] == pytest.approx(6 / 10)
    assert m["worst_group_acc_raw"] == 0.0
    # every group is below the minimum size: the robust figure falls back to all groups
    assert m["robust_groups"] == 0 and m["worst_group_acc"] == 0.0
    assert m["min_group_size"] == MIN_GROUP_SIZE
    assert m["unbiased_acc"] == pytest.approx((2 / 3 + 0.5 + 0.0 + 2 / 3) / 4)
    weighted = (90 * 2 / 3 + 10 * 0.5 + 5 * 0.0 + 95 * 2 / 3) / 200
    assert m["weighted_acc"] == pytest.approx(weighted)
    assert m["aligned_acc"] == pytest.approx(4 / 6)  # a/x 2 of 3, b/y 2 of 3
    assert m["conflicting_acc"] == pytest.approx(1 / 3)  # a/y 1 of 2, b/x 0 of 1
    assert m["confusion"] == [[3, 2], [2, 3]]
    assert m["per_class"] == {"a": pytest.approx(0.6), "b": pytest.approx(0.6)}


def test_without_a_confounder_the_groups_are_the_classes() -> None:
    m = group_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]), np.full(3, -1), ["a", "b"], [])
    assert {g: (r["acc"], r["n"]) for g, r in m["per_group"].items()} == {
        "a": (0.5, 2),
        "b": (1.0, 1),
    }
    assert m["worst_group_acc"] == 0.5


def test_mean_and_std_over_seeds() -> None:
    summary = mean_std(
        [{"avg_acc": 0.5, "worst_group_acc": 0.2}, {"avg_acc": 0.7, "worst_group_acc": 0.4}]
    )
    assert summary["avg_acc"] == {"mean": pytest.approx(0.6), "std": pytest.approx(0.1), "n": 2}
    assert summary["worst_group_acc"]["mean"] == pytest.approx(0.3)


def test_wilson_interval_matches_published_values() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 -> 0.2553 to 0.3662,
    # 15/148 -> 0.0624 to 0.1605, 0/20 -> 0 to 0.1611, 1/29 -> 0.0061 to 0.1718.
    for (k, n), (low, high) in {
        (81, 263): (0.2553, 0.3662),
        (15, 148): (0.0624, 0.1605),
        (0, 20): (0.0, 0.1611),
        (1, 29): (0.0061, 0.1718),
    }.items():
        assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(20, 20)[1] == 1.0  # stays inside [0, 1], and has width at n/n
    assert wilson_interval(20, 20)[0] < 1.0


def test_worst_group_ignores_groups_below_the_minimum_size() -> None:
    # group a/x: 1 of 3 correct (tiny, raw worst); a/y 18 of 20; b/x 15 of 25; b/y 30 of 30
    labels = np.array([0] * 23 + [1] * 55)
    values = np.array([0] * 3 + [1] * 20 + [0] * 25 + [1] * 30)
    correct = np.array([1, 0, 0] + [1] * 18 + [0] * 2 + [1] * 15 + [0] * 10 + [1] * 30, bool)
    preds = np.where(correct, labels, 1 - labels)
    m = group_metrics(preds, labels, values, ["a", "b"], ["x", "y"], min_group_size=20)
    assert m["worst_group_acc_raw"] == pytest.approx(1 / 3)
    assert m["worst_group_raw"] == "a/x"
    assert m["worst_group_acc"] == pytest.approx(15 / 25)
    assert m["worst_group"] == "b/x" and m["worst_group_n"] == 25
    assert m["robust_groups"] == 3
    assert m["worst_group_ci"] == pytest.approx(list(wilson_interval(15, 25)))
    assert format_group(m["per_group"]["b/x"]) == "0.600 [0.41, 0.77] n=25"
    loose = group_metrics(preds, labels, values, ["a", "b"], ["x", "y"], min_group_size=1)
    assert loose["worst_group_acc"] == pytest.approx(1 / 3)


def test_selection_prefers_the_robust_worst_group_then_the_average() -> None:
    noisy = {"worst_group_acc": 0.6, "worst_group_acc_raw": 0.0, "avg_acc": 0.7}
    steady = {"worst_group_acc": 0.5, "worst_group_acc_raw": 0.5, "avg_acc": 0.9}
    assert selection_score(noisy) > selection_score(steady)
    tie = {"worst_group_acc": 0.6, "worst_group_acc_raw": 0.6, "avg_acc": 0.8}
    assert selection_score(tie) > selection_score(noisy)

"""Runs compared group by group (core.train.compare): counts, Wilson and Newcombe intervals,
baseline choice, the order used at 100 groups and the class x value layout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest

from debias_studio.core.errors import StudioError
from debias_studio.core.train.compare import (
    class_value_matrix,
    compare_runs,
    extremes,
    ordered_groups,
    split_group,
)
from debias_studio.core.train.metrics import group_metrics

CLASSES = ["a", "b/c"]
VALUES = ["red", "blue"]


def _run(run_id: str, method: str, predictions: np.ndarray, labels, values) -> dict[str, Any]:
    """A run record as list_runs gives it, its figures from core.train.metrics."""
    test = group_metrics(predictions, labels, values, CLASSES, VALUES)
    return {"id": run_id, "method": method, "status": "done", "metrics": {"test": test}}


@pytest.fixture
def runs() -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    values = np.tile(np.repeat([0, 1], 20), 2)
    erm = np.where(values == labels, labels, 1 - labels)  # follows the colour
    erm[20:25] = labels[20:25]  # five of a/blue right
    cured = np.where(rng.random(80) < 0.8, labels, 1 - labels)
    return [
        _run("r2", "counterfactual", cured, labels, values),
        _run("r1", "erm", erm, labels, values),
    ]


def test_counts_intervals_and_difference_to_the_erm_baseline(runs) -> None:
    found = compare_runs(runs, CLASSES)
    assert found.baseline == 1, "the ERM run is the default baseline"
    assert found.groups == ["a/red", "a/blue", "b/c/red", "b/c/blue"]
    assert (found.group_class, found.group_value) == (
        ["a", "a", "b/c", "b/c"],
        ["red", "blue", "red", "blue"],
    )
    per_group = runs[1]["metrics"]["test"]["per_group"]
    for g, name in enumerate(found.groups):
        n = per_group[name].get("n", per_group[name]["count"])
        assert found.n[1, g] == n == 20
        assert found.acc[1, g] == pytest.approx(per_group[name]["acc"])
        k = round(per_group[name]["acc"] * n)
        wilson = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert found.low[1, g] == pytest.approx(wilson.low, abs=1e-9)
        assert found.high[1, g] == pytest.approx(wilson.high, abs=1e-9)
    assert np.allclose(found.diff, found.acc - found.acc[1])
    assert np.all(found.diff_low[0] <= found.diff[0]) and np.all(
        found.diff[0] <= found.diff_high[0]
    )
    assert np.all(found.diff_low[1] == 0) and np.all(found.diff_high[1] == 0)
    # the cure lifts the groups ERM gets wrong (a/blue): the whole interval above zero
    blue = found.groups.index("a/blue")
    assert found.acc[1, blue] == pytest.approx(5 / 20)
    assert found.diff_low[0, blue] > 0


def test_newcombe_interval_matches_its_formula() -> None:
    def record(run_id: str, method: str, right: int) -> dict[str, Any]:
        group = {"acc": right / 30, "count": 30}
        return {
            "id": run_id,
            "method": method,
            "status": "done",
            "metrics": {"val": {"per_group": {"a/red": group}}},
        }

    found = compare_runs(
        [record("x", "erm", 10), record("y", "selecmix", 24)], CLASSES, split="val"
    )
    l0, u0 = binomtest(10, 30).proportion_ci(method="wilson")
    l1, u1 = binomtest(24, 30).proportion_ci(method="wilson")
    p0, p1 = 10 / 30, 24 / 30
    assert found.diff_low[1, 0] == pytest.approx(p1 - p0 - np.hypot(p1 - l1, u0 - p0))
    assert found.diff_high[1, 0] == pytest.approx(p1 - p0 + np.hypot(u1 - p1, p0 - l0))


def test_a_group_one_run_lacks_is_nan_and_ordered_last(runs) -> None:
    del runs[0]["metrics"]["test"]["per_group"]["a/red"]
    runs[1]["metrics"]["test"]["per_group"]["z/extra"] = {"acc": 1.0, "count": 2}
    found = compare_runs(runs, CLASSES, baseline="r2")
    assert found.baseline == 0
    red, extra = found.groups.index("a/red"), found.groups.index("z/extra")
    assert found.n[0, red] == 0 and np.isnan(found.acc[0, red]) and np.isnan(found.diff[1, red])
    assert np.isnan(found.low[0, red]) and found.n[1, extra] == 2
    assert set(ordered_groups(found)[-2:]) == {red, extra}, "the baseline lacks them: last"
    assert split_group("z/extra", CLASSES) == ("z", "extra")


def test_order_extremes_and_heat_map_layout(runs) -> None:
    found = compare_runs(runs, CLASSES)
    order = ordered_groups(found)
    base = found.acc[1, order]
    assert np.all(np.diff(base) >= 0), "worst first"
    assert list(extremes(found, 1)) == [order[0], order[-1]]
    assert list(extremes(found, 2)) == list(order)
    classes, values, matrix = class_value_matrix(found, found.diff[0])
    assert (classes, values) == (["a", "b/c"], ["red", "blue"])
    for g, name in enumerate(found.groups):
        c, v = split_group(name, CLASSES)
        assert matrix[classes.index(c), values.index(v)] == found.diff[0, g]


def test_refusals(runs) -> None:
    with pytest.raises(StudioError, match="at least two"):
        compare_runs(runs[:1], CLASSES)
    with pytest.raises(StudioError, match="baseline"):
        compare_runs(runs, CLASSES, baseline="nope")
    with pytest.raises(StudioError, match="test or validation"):
        compare_runs(runs, CLASSES, split="train")
    runs[0]["status"] = "cancelled"
    with pytest.raises(StudioError, match="not finished"):
        compare_runs(runs, CLASSES)

"""Runs compared group by group (issue 14.6): what the run comparison view and the report draw.

From the run records the store lists (``core.store.runs.list_runs``), the per-group accuracy of
each run on one split with its size and 95 % Wilson interval, and each run's difference to a
baseline run with Newcombe's hybrid score interval (built from the two Wilson intervals). The
runs are evaluated on the same images, so treating them as independent samples makes that
interval conservative (wider than a paired one), never too narrow.

At 100 groups a bar per group and run is unreadable, so the comparison also gives an order
(``ordered_groups``: by the baseline's accuracy, worst first), the ``k`` worst and best groups of
that order (``extremes``) and a class x value matrix of any figure (``class_value_matrix``) for
a heat map. Pure numpy (the Wilson interval of core.concepts.intervals included): no Qt, no
torch, no scipy, so the GUI may import the small helpers on its thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from debias_studio.core.concepts.intervals import wilson_interval
from debias_studio.core.errors import StudioError

SPLITS_COMPARED = ("test", "val")


@dataclass(frozen=True)
class RunComparison:
    """Figures of R runs over G groups; arrays are (R, G), NaN (n = 0) where a run has no image
    of a group."""

    split: str
    run_ids: list[str]
    run_names: list[str]  # "id (method)"
    baseline: int  # row of the baseline run
    groups: list[str]  # "class/value" (or the class, for runs without a confounder)
    group_class: list[str]
    group_value: list[str]  # "" for runs without a confounder
    acc: np.ndarray
    n: np.ndarray  # images per group, int
    low: np.ndarray  # Wilson 95 %
    high: np.ndarray
    diff: np.ndarray  # acc - baseline's acc
    diff_low: np.ndarray  # Newcombe 95 %
    diff_high: np.ndarray


def compare_runs(
    runs: Sequence[Mapping[str, Any]],
    classes: Sequence[str],
    *,
    split: str = "test",
    baseline: str | None = None,
) -> RunComparison:
    """Compare finished ``runs`` (records as ``list_runs`` gives them) on ``split``; the baseline
    is run ``baseline`` (default: the first ERM run, else the first run)."""
    if split not in SPLITS_COMPARED:
        raise StudioError(f"Runs are compared on the test or validation split, not '{split}'.")
    if len(runs) < 2:
        raise StudioError("Choose at least two runs to compare.")
    tables = [_per_group(run, split) for run in runs]
    groups = list(dict.fromkeys(name for table in tables for name in table))
    correct, n = _counts(tables, groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.where(n > 0, correct / n, np.nan)
    low, high = wilson_interval(correct, n)
    row = _baseline_row(runs, baseline)
    diff_low, diff_high = newcombe_interval(acc, low, high, row)
    group_class, group_value = zip(*(split_group(g, classes) for g in groups), strict=True)
    return RunComparison(
        split=split,
        run_ids=[str(r["id"]) for r in runs],
        run_names=[f"{r['id']} ({r.get('method', '')})" for r in runs],
        baseline=row,
        groups=groups,
        group_class=list(group_class),
        group_value=list(group_value),
        acc=acc,
        n=n,
        low=low,
        high=high,
        diff=acc - acc[row],
        diff_low=diff_low,
        diff_high=diff_high,
    )


def _per_group(run: Mapping[str, Any], split: str) -> Mapping[str, Mapping[str, Any]]:
    if run.get("status") != "done":
        raise StudioError(f"The run '{run.get('id')}' has not finished; compare finished runs.")
    figures = (run.get("metrics") or {}).get(split) or {}
    per_group = figures.get("per_group")
    if not isinstance(per_group, Mapping) or not per_group:
        raise StudioError(f"The run '{run.get('id')}' has no per-group figures on {split}.")
    return per_group


def _counts(
    tables: Sequence[Mapping[str, Mapping[str, Any]]], groups: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Right answers and images per (run, group): ``n`` (or the older ``count``) and ``correct``
    (or accuracy x n, rounded: the older records store only the accuracy)."""
    correct = np.zeros((len(tables), len(groups)), dtype=np.int64)
    n = np.zeros_like(correct)
    for r, table in enumerate(tables):
        for g, name in enumerate(groups):
            entry = table.get(name)
            if entry is None:
                continue
            n[r, g] = int(entry.get("n", entry.get("count", 0)))
            right = entry.get("correct")
            correct[r, g] = int(right) if right is not None else round(entry["acc"] * n[r, g])
    return correct, n


def _baseline_row(runs: Sequence[Mapping[str, Any]], baseline: str | None) -> int:
    ids = [str(r["id"]) for r in runs]
    if baseline is not None:
        if baseline not in ids:
            raise StudioError(f"The baseline run '{baseline}' is not among those compared.")
        return ids.index(baseline)
    return next((i for i, r in enumerate(runs) if r.get("method") == "erm"), 0)


def newcombe_interval(
    acc: np.ndarray, low: np.ndarray, high: np.ndarray, baseline: int
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval of acc[r] - acc[baseline] per group, from the Wilson
    intervals of both proportions (zero width for the baseline against itself)."""
    p1, l1, u1 = acc, low, high
    p0, l0, u0 = acc[baseline], low[baseline], high[baseline]
    d = p1 - p0
    below = np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    above = np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    lower, upper = d - below, d + above
    itself = np.where(np.isnan(d[baseline]), np.nan, 0.0)
    lower[baseline], upper[baseline] = itself, itself
    return lower, upper


def split_group(name: str, classes: Sequence[str]) -> tuple[str, str]:
    """(class, value) of a group named "class/value" by ``core.train.metrics``; the longest
    class that prefixes it wins, so class and value names may hold a "/" themselves."""
    if name in classes:
        return name, ""
    found = max((c for c in classes if name.startswith(f"{c}/")), key=len, default=None)
    if found is None:
        head, _, tail = name.partition("/")
        return head, tail
    return found, name[len(found) + 1 :]


def ordered_groups(comparison: RunComparison) -> np.ndarray:
    """Group columns by the baseline's accuracy, worst first (groups it lacks last; ties by
    the lowest accuracy of any run, then by name)."""
    base = comparison.acc[comparison.baseline]
    with np.errstate(all="ignore"):
        worst_any = np.nanmin(np.where(np.isnan(comparison.acc), np.inf, comparison.acc), axis=0)
    names = np.asarray(comparison.groups, dtype=object)
    rank_names = np.unique(names, return_inverse=True)[1]
    return np.lexsort((rank_names, worst_any, np.where(np.isnan(base), np.inf, base)))


def extremes(comparison: RunComparison, k: int) -> np.ndarray:
    """Columns of the ``k`` worst and ``k`` best groups by the baseline (all when 2k covers
    them), worst first."""
    order = ordered_groups(comparison)
    if k <= 0 or 2 * k >= len(order):
        return order
    return np.concatenate([order[:k], order[-k:]])


def class_value_matrix(
    comparison: RunComparison, figure: np.ndarray
) -> tuple[list[str], list[str], np.ndarray]:
    """One row of a figure (G,) laid out as classes x values (NaN: no such group), for a heat
    map; rows and columns in order of first appearance."""
    classes = list(dict.fromkeys(comparison.group_class))
    values = list(dict.fromkeys(comparison.group_value))
    matrix = np.full((len(classes), len(values)), np.nan)
    for g, (c, v) in enumerate(zip(comparison.group_class, comparison.group_value, strict=True)):
        matrix[classes.index(c), values.index(v)] = figure[g]
    return classes, values, matrix

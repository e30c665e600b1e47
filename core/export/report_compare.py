"""The report's run comparison: per-group accuracy of the chosen runs side by side.

Readable at any number of groups: the bars show every group up to ``BARS_ALL`` groups, beyond that
the ``TOP_K`` worst and ``TOP_K`` best groups of the first run (the rest are in report.json); and
when the groups are (class, value) pairs, one heat map per run lays them out as class x value.
"""

from __future__ import annotations

from typing import Any

BARS_ALL = 30
TOP_K = 12
DEFAULT_RUNS = 4


def compared_runs(runs: list[dict[str, Any]], chosen: list[str] | None) -> list[dict[str, Any]]:
    """The runs to compare: those named (in that order), else the newest finished ones."""
    if chosen:
        by_id = {r["id"]: r for r in runs}
        return [by_id[i] for i in chosen if i in by_id]
    return [r for r in runs if r["status"] == "done"][:DEFAULT_RUNS]


def comparison(runs: list[dict[str, Any]], chosen: list[str] | None) -> dict[str, Any] | None:
    """Per-group accuracy and size of each compared run on one split (test where all have it)."""
    picked = [r for r in compared_runs(runs, chosen) if r["splits"]]
    if not picked:
        return None
    split = "test" if all("test" in r["splits"] for r in picked) else "val"
    picked = [r for r in picked if split in r["splits"]]
    if not picked:
        return None
    groups = sorted({g for r in picked for g in r["splits"][split]["per_group"]})
    first = picked[0]["splits"][split]["per_group"]
    order = sorted(groups, key=lambda g: (first.get(g) is None, first.get(g) or 0.0, g))
    shown = order if len(order) <= BARS_ALL else order[:TOP_K] + order[-TOP_K:]
    return {
        "split": split,
        "runs": [f"{r['method']} {r['id']}" for r in picked],
        "run_ids": [r["id"] for r in picked],
        "groups": order,
        "shown": shown,
        "accuracy": {
            f"{r['method']} {r['id']}": [r["splits"][split]["per_group"].get(g) for g in order]
            for r in picked
        },
        "n": {f"{r['method']} {r['id']}": _sizes(r, split, order) for r in picked},
    }


def _sizes(run: dict[str, Any], split: str, groups: list[str]) -> list[int | None]:
    sizes = run["splits"][split].get("per_group_n", {})
    return [sizes.get(g) for g in groups]


def as_grid(
    groups: list[str], values: list[float | None]
) -> tuple[list[str], list[str], list[list[float | None]]] | None:
    """(classes, values, cells) when every group is "class/value"; else None."""
    pairs = [g.rsplit("/", 1) for g in groups]
    if not pairs or any(len(p) != 2 for p in pairs):
        return None
    rows = list(dict.fromkeys(p[0] for p in pairs))
    columns = list(dict.fromkeys(p[1] for p in pairs))
    cells: list[list[float | None]] = [[None] * len(columns) for _ in rows]
    for (row, column), value in zip(pairs, values, strict=True):
        cells[rows.index(row)][columns.index(column)] = value
    return rows, columns, cells

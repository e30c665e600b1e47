"""Each image's value of a confounder, and the per-image overrides that always win."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from debias_studio.core.annotate import storage
from debias_studio.core.errors import StudioError


def assignments(project: Any, name: str) -> np.ndarray:
    """Value index per image (N,) int64 into ``Confounder.values``; -1 = unknown. Overrides
    applied."""
    row = storage.require_row(project, name)
    values = base_values(project, row)
    lookup = {v: i for i, v in enumerate(row["params"]["_values"])}
    for image_id, value in storage.overrides_of(project, name):
        if 0 <= image_id < len(values):
            values[image_id] = lookup.get(value, -1)
    return values


def base_values(project: Any, row: dict[str, Any]) -> np.ndarray:
    """The values the confounder's source gives, before overrides."""
    n = len(project.dataset)
    params = row["params"]
    if row["source"] in ("concept", "concepts"):
        return storage.load_array(project, params["_array"], n)
    if row["source"] == "column":
        column = params["column"]
        table = project.dataset.table
        if column not in table.columns:
            raise StudioError(f"The dataset no longer has the column '{column}'.")
        lookup = {v: i for i, v in enumerate(params["_values"])}
        text = table[column].astype("string").fillna("")
        return np.array([lookup.get(v, -1) for v in text.tolist()], dtype=np.int64)
    return np.full(n, -1, dtype=np.int64)


def set_values(project: Any, name: str, image_ids: Iterable[int], value: str | None) -> None:
    """Set the value of images by hand (a new value name is added to the confounder's values);
    ``value=None`` removes their overrides, so the source's value applies again."""
    row = storage.require_row(project, name)
    ids = sorted({int(i) for i in image_ids})
    n = len(project.dataset)
    if not ids:
        raise StudioError("Select at least one image to set a value for.")
    if ids[0] < 0 or ids[-1] >= n:
        raise StudioError(f"Image ids must lie between 0 and {n - 1}.")
    if value is not None:
        value = " ".join(str(value).split())
        if not value:
            raise StudioError("A value cannot be empty; use None to clear the images' values.")
    before = dict(storage.overrides_of(project, name))
    previous = [[i, before.get(i)] for i in ids]
    values_before = list(row["params"]["_values"])
    with project.transaction() as db:
        storage.record(
            db,
            "set_values",
            {"name": name, "previous": previous, "values_before": values_before},
        )
        if value is None:
            db.executemany(
                "DELETE FROM overrides WHERE confounder=? AND image_id=?", [(name, i) for i in ids]
            )
        else:
            if value not in values_before:
                params = {**row["params"], "_values": [*values_before, value]}
                storage.write_row(db, {**row, "params": params})
            db.executemany(
                "INSERT OR REPLACE INTO overrides(confounder, image_id, value) VALUES (?, ?, ?)",
                [(name, i, value) for i in ids],
            )

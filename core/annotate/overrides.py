"""Each image's value of a confounder, and the per-image overrides that always win."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from debias_studio.core.annotate import storage
from debias_studio.core.errors import StudioError
from debias_studio.core.store import confounders as confounder_store
from debias_studio.core.store import history as history_store
from debias_studio.core.store.project import checked_image_ids


def assignments(project: Any, name: str) -> np.ndarray:
    """Value index per image (N,) int64 into ``Confounder.values``; -1 = unknown. Overrides
    applied."""
    row = storage.require_row(project, name)
    values = base_values(project, row)
    lookup = {v: i for i, v in enumerate(row["params"]["_values"])}
    for image_id, value in confounder_store.overrides_of(project, name):
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
    ids = checked_image_ids(project, image_ids, "set a value for")
    if value is not None:
        value = " ".join(str(value).split())
        if not value:
            raise StudioError("A value cannot be empty; use None to clear the images' values.")
    before = dict(confounder_store.overrides_of(project, name))
    previous = [[i, before.get(i)] for i in ids]
    values_before = list(row["params"]["_values"])
    with project.transaction():
        history_store.record(
            project,
            "set_values",
            {"name": name, "previous": previous, "values_before": values_before},
        )
        if value is not None and value not in values_before:
            params = {**row["params"], "_values": [*values_before, value]}
            confounder_store.write_row(project, {**row, "params": params})
        confounder_store.put_overrides(project, name, [(i, value) for i in ids])

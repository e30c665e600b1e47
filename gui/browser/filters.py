"""Which images the grid shows, and in which order: numpy over integer codes, never per row.

A ``QSortFilterProxyModel`` calls Python once per row, which at 100k images is a visible stall;
here a filter is a handful of vectorised comparisons producing the array of image ids the grid
model shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from debias_studio.gui.session import Column, Session


def filter_columns(session: Session) -> dict[str, Column]:
    """Every categorical column the grid can filter on: the dataset's attributes, each
    confounder's values (overrides applied) and the latest run's correctness."""
    columns = dict(session.attributes)
    for name, column in session.extra.get("confounder_columns", {}).items():
        columns[f"confounder {name}"] = column
    if "correctness" in session.extra:
        columns["latest run"] = session.extra["correctness"]
    return columns


@dataclass
class Mask:
    """A filter another panel sets: a readable description and a boolean per image."""

    description: str
    keep: np.ndarray


@dataclass
class Filters:
    label: int | None = None
    split: int | None = None
    attribute: str | None = None
    attribute_value: int | None = None
    masks: dict[str, Mask] = field(default_factory=dict)
    sort_scores: np.ndarray | None = None
    """Show the highest score first (e.g. one concept's similarity); None keeps the id order."""
    sort_name: str = ""

    def descriptions(self) -> list[str]:
        return [m.description for m in self.masks.values()]


def apply_filters(session: Session, filters: Filters) -> np.ndarray:
    """Image ids that pass every filter, in display order (int64)."""
    n = len(session)
    keep = np.ones(n, dtype=bool)
    if filters.label is not None:
        keep &= session.labels.codes == filters.label
    if filters.split is not None:
        keep &= session.splits.codes == filters.split
    if filters.attribute is not None and filters.attribute_value is not None:
        column = filter_columns(session).get(filters.attribute)
        if column is not None:
            keep &= column.codes == filters.attribute_value
    for mask in filters.masks.values():
        if len(mask.keep) == n:
            keep &= mask.keep
    ids = np.flatnonzero(keep)
    if filters.sort_scores is not None and len(filters.sort_scores) == n:
        order = np.argsort(-filters.sort_scores[ids], kind="stable")
        ids = ids[order]
    return ids.astype(np.int64)

"""Which images the grid shows, and in which order: numpy over integer codes, never per row.

A ``QSortFilterProxyModel`` calls Python once per row, which at 100k images is a visible stall;
here a filter is a handful of vectorised comparisons producing the array of image ids the grid
model shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from debias_studio.gui.session import Session


@dataclass(frozen=True)
class Mask:
    """A filter another panel sets: a readable description and a boolean per image."""

    description: str
    keep: np.ndarray


@dataclass(frozen=True)
class Sort:
    """Show the highest score first (e.g. one concept's similarity)."""

    scores: np.ndarray
    name: str
    subtitles: bool = True
    """Write each image's score under its thumbnail."""


@dataclass(frozen=True)
class Filters:
    """Every filter at once; a change makes a new value, so a listener may keep the old one."""

    label: int | None = None
    split: int | None = None
    attribute: tuple[str, int] | None = None
    """(column key of ``Session.filter_columns``, value code; -1 = unknown)."""
    masks: Mapping[str, Mask] = field(default_factory=dict)
    sort: Sort | None = None

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
    if filters.attribute is not None:
        key, value = filters.attribute
        column = session.filter_columns().get(key)
        if column is not None:
            keep &= column.codes == value
    for mask in filters.masks.values():
        if len(mask.keep) == n:
            keep &= mask.keep
    ids = np.flatnonzero(keep)
    if filters.sort is not None and len(filters.sort.scores) == n:
        order = np.argsort(-filters.sort.scores[ids], kind="stable")
        ids = ids[order]
    return ids.astype(np.int64)

"""Colours shared by the map, the charts and the group matrix: one per class or value."""

from __future__ import annotations

from PySide6.QtGui import QColor

TAB10 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
UNKNOWN = "#c8c8c8"


def colour(index: int) -> QColor:
    """A distinct colour for category ``index`` (-1: unknown, grey)."""
    if index < 0:
        return QColor(UNKNOWN)
    base = QColor(TAB10[index % len(TAB10)])
    if index >= len(TAB10):  # beyond ten categories: lighter/darker variants
        return base.lighter(140) if (index // len(TAB10)) % 2 else base.darker(140)
    return base

"""The grid's model: rows are positions in an array of image ids (ARCHITECTURE.md, rule 4).

No Python object per image: ``data()`` looks the id up in a numpy array and asks the thumbnail
loader for a pixmap, which is either cached or queued for decoding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QPixmap

from debias_studio.gui.plain import tooltip
from debias_studio.gui.session import Session
from debias_studio.gui.thumbnails import ThumbnailLoader

IMAGE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
SUBTITLE_ROLE = Qt.ItemDataRole.UserRole + 2

Index = QModelIndex | QPersistentModelIndex


class GridModel(QAbstractListModel):
    decorations_changed = Signal()

    def __init__(self, loader: ThumbnailLoader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.session: Session | None = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._row_of = np.zeros(0, dtype=np.int64)
        self.subtitle_scores: np.ndarray | None = None
        """A score per image id written under its class (a concept's while sorting by it);
        formatted when a cell is painted, so a sort costs nothing per image."""
        loader.thumbnails_ready.connect(self._on_thumbnails)

    # ---- content -----------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self.beginResetModel()
        self.session = session
        self.subtitle_scores = None
        self._ids = np.zeros(0, dtype=np.int64)
        n = len(session) if session is not None else 0
        self._row_of = np.full(n, -1, dtype=np.int64)
        self.endResetModel()

    def set_ids(self, ids: np.ndarray) -> None:
        self.beginResetModel()
        self._row_of[self._ids] = -1
        self._ids = np.asarray(ids, dtype=np.int64)
        self._row_of[self._ids] = np.arange(len(self._ids))
        self.endResetModel()

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    def image_id(self, row: int) -> int:
        return int(self._ids[row])

    def row_of(self, image_id: int) -> int:
        return int(self._row_of[image_id]) if 0 <= image_id < len(self._row_of) else -1

    def rows_of(self, image_ids: np.ndarray) -> np.ndarray:
        """Rows of those of ``image_ids`` the grid shows (int64)."""
        ids = np.asarray(image_ids, dtype=np.int64)
        rows = self._row_of[ids[(ids >= 0) & (ids < len(self._row_of))]]
        return rows[rows >= 0]

    def subtitle(self, image_id: int) -> str | None:
        scores = self.subtitle_scores
        return None if scores is None else f"{scores[image_id]:.2f}"

    def cell(self, row: int) -> tuple[QPixmap | None, str]:
        """What the delegate paints for ``row``: the pixmap (None while decoding) and caption."""
        image_id = int(self._ids[row])
        session = self.session
        if session is None:
            return None, ""
        text = self.caption(image_id)
        subtitle = self.subtitle(image_id)
        if subtitle is not None:
            text = f"{text} · {subtitle}"
        return self.loader.pixmap(image_id), text

    def caption(self, image_id: int) -> str:
        """The class name; "old → new" for a relabelled image, "✕ " before an excluded one."""
        session = self.session
        if session is None:
            return ""
        code = session.labels.codes[image_id]
        text = session.labels.values[code] if code >= 0 else ""
        new = session.cleaning.relabels.get(image_id)
        if new is not None:
            text = f"{text} → {new}"
        if session.cleaning.is_excluded(image_id):
            text = f"✕ {text}"
        return text

    # ---- Qt model API ------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.session is None:
            return None
        image_id = int(self._ids[index.row()])
        if role == Qt.ItemDataRole.DecorationRole:
            return self.loader.pixmap(image_id)
        if role == Qt.ItemDataRole.DisplayRole:
            return self.caption(image_id)
        if role == SUBTITLE_ROLE:
            return self.subtitle(image_id)
        if role == IMAGE_ID_ROLE:
            return image_id
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(f"#{image_id}  {self.session.paths[image_id]}")
        return None

    # ---- thumbnails arriving -----------------------------------------------------------------
    def _on_thumbnails(self, image_ids: list[int]) -> None:
        """Tell the view that shown rows got their pixmap. Deliberately not ``dataChanged``:
        for a range of rows QListView walks every row of it (measured: 16 ms per batch at
        100k rows while scrolling); a decoration needs only a repaint, never a re-layout."""
        if not len(self._ids):
            return
        ids = np.asarray(image_ids, dtype=np.int64)
        ids = ids[ids < len(self._row_of)]
        rows = self._row_of[ids]
        if (rows >= 0).any():
            self.decorations_changed.emit()

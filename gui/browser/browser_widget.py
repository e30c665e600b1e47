"""The browser: a filter bar over the thumbnail grid, a view of the hub's ``GridState``.

Class, split and attribute filters are combo boxes; other panels add masks (a group of the
confounder matrix, images selected on the embedding map) and sort orders (one concept's
exemplars first) to the grid state, and the browser shows them as removable chips. What the user
selects or clicks in the grid goes back into the grid state, where the panels read it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QToolButton, QVBoxLayout, QWidget

from debias_studio.gui.browser.filters import Filters
from debias_studio.gui.browser.grid_model import GridModel
from debias_studio.gui.browser.grid_view import GridView
from debias_studio.gui.hub import Hub
from debias_studio.gui.plain import plain_eliding_label, plain_label
from debias_studio.gui.session import Session

SORT_CHIP = "__sort__"
"""The chip of the sort order (the others are keyed by their mask's name)."""


class BrowserWidget(QWidget):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("browser")
        self.hub = hub
        self.grid = hub.grid
        self.loader = hub.thumbnails
        self.model = GridModel(self.loader, self)
        self.view = GridView(self.loader.size)
        self.view.setModel(self.model)
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection)
        self.view.selectionModel().currentChanged.connect(self._on_view_current)
        self.class_box = _combo("Show only one class")
        self.split_box = _combo("Show only one split (train, val or test)")
        self.attribute_box = _combo(
            "Show only images with one value of an attribute column of the dataset"
        )
        self.count = plain_eliding_label()
        self.count.setMinimumWidth(60)
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.count.setObjectName("browser_count")
        self.chips = QHBoxLayout()
        self.chips.setSpacing(4)
        self._build_layout()
        self._syncing = False
        """True while the widgets follow the grid state (their own signals are ignored)."""
        self._connect()

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        for title, box in (
            ("Class", self.class_box),
            ("Split", self.split_box),
            ("Attribute", self.attribute_box),
        ):
            bar.addWidget(plain_label(title))
            bar.addWidget(box)
        bar.addLayout(self.chips)
        bar.addStretch(1)
        bar.addWidget(self.count, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)

    def _connect(self) -> None:
        self.class_box.currentIndexChanged.connect(self._on_class_box)
        self.split_box.currentIndexChanged.connect(self._on_split_box)
        self.attribute_box.currentIndexChanged.connect(self._on_attribute_box)
        self.hub.session_changed.connect(self.set_session)
        self.hub.confounders_changed.connect(self.refresh_columns)
        self.hub.runs_changed.connect(self.refresh_columns)
        self.hub.cleaning_changed.connect(self._repaint)  # captions mark excluded, relabelled
        self.grid.filters_changed.connect(self._show_filters)
        self.grid.shown_changed.connect(self._show_ids)
        self.grid.selection_changed.connect(self._show_selection)

    # ---- following the hub and the grid state ------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self._syncing = True
        for box in (self.class_box, self.split_box):
            box.clear()
            box.addItem("All", None)
        if session is not None:
            for i, name in enumerate(session.labels.values):
                self.class_box.addItem(name, i)
            for i, name in enumerate(session.splits.values):
                self.split_box.addItem(name, i)
        self._syncing = False
        self.model.set_session(session)
        self.refresh_columns()
        self._show_ids(self.grid.shown)

    def refresh_columns(self, *_: object) -> None:
        """Rebuild the attribute filter's entries (attributes, confounder values, the latest
        run's correctness); a chosen entry that no longer exists is dropped from the filters."""
        session = self.grid.session
        self._syncing = True
        self.attribute_box.clear()
        self.attribute_box.addItem("All", None)
        if session is not None:
            for key, column in session.filter_columns().items():
                for i, value in enumerate(column.values):
                    self.attribute_box.addItem(f"{key} = {value}", (key, i))
                if key.startswith("confounder ") and (column.codes < 0).any():
                    self.attribute_box.addItem(f"{key} = (unknown)", (key, -1))
        self.attribute_box.setEnabled(self.attribute_box.count() > 1)
        self._syncing = False
        chosen = self.grid.filters.attribute
        if chosen is not None and self.attribute_box.findData(chosen) < 0:
            self.grid.set_attribute(None)
        else:
            self._show_filters(self.grid.filters)

    def _repaint(self, *_: object) -> None:
        self.view.viewport().update()

    def _show_filters(self, filters: Filters) -> None:
        self._syncing = True
        for box, value in (
            (self.class_box, filters.label),
            (self.split_box, filters.split),
            (self.attribute_box, filters.attribute),
        ):
            box.setCurrentIndex(max(0, box.findData(value)) if value is not None else 0)
        self._syncing = False
        self._rebuild_chips(filters)

    def _show_ids(self, ids: np.ndarray) -> None:
        session = self.grid.session
        if session is None or self.model.session is not session:
            self.model.set_ids(np.zeros(0, dtype=np.int64))
            self.count.setText("")
            return
        sort = self.grid.filters.sort
        self.model.subtitle_scores = sort.scores if sort is not None and sort.subtitles else None
        self.model.set_ids(ids)
        self.count.setText(f"{len(ids):,} of {len(session):,} images")

    def _show_selection(self, image_ids: np.ndarray) -> None:
        """Select these images in the grid and scroll to the first. Rows are grouped into
        contiguous ranges with numpy: one range per run, not per image."""
        if np.array_equal(image_ids, self.selected_ids()):
            return
        rows = np.sort(self.model.rows_of(image_ids))
        selection = QItemSelection()
        if len(rows):
            breaks = np.flatnonzero(np.diff(rows) != 1)
            starts = np.concatenate([[rows[0]], rows[breaks + 1]])
            stops = np.concatenate([rows[breaks], [rows[-1]]])
            for first, last in zip(starts.tolist(), stops.tolist(), strict=True):
                selection.select(self.model.index(first), self.model.index(last))
        self._syncing = True
        self.view.selectionModel().select(
            selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        self._syncing = False
        if len(rows):
            self.view.scrollTo(self.model.index(int(rows[0])))

    def _rebuild_chips(self, filters: Filters) -> None:
        while self.chips.count():
            item = self.chips.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        entries = [(k, m.description) for k, m in filters.masks.items()]
        if filters.sort is not None:
            entries.append((SORT_CHIP, f"sorted by {filters.sort.name}"))
        for key, text in entries:
            chip = QToolButton()
            chip.setText(f"{text}  ✕")
            chip.setToolTip("Remove this filter")
            chip.setAutoRaise(True)
            chip.setObjectName("filter_chip")
            chip.setProperty(SORT_CHIP, key)
            chip.clicked.connect(self._on_chip)
            self.chips.addWidget(chip)

    # ---- the user's own changes, into the grid state -----------------------------------------
    def _on_class_box(self) -> None:
        if not self._syncing:
            self.grid.set_label(self.class_box.currentData())

    def _on_split_box(self) -> None:
        if not self._syncing:
            self.grid.set_split(self.split_box.currentData())

    def _on_attribute_box(self) -> None:
        if not self._syncing:
            self.grid.set_attribute(self.attribute_box.currentData())

    def _on_chip(self) -> None:
        self._remove_chip(str(self.sender().property(SORT_CHIP)))

    def _remove_chip(self, key: str) -> None:
        if key == SORT_CHIP:
            self.grid.set_sort(None)
        else:
            self.grid.set_mask(key, None)

    def _on_view_selection(self, *_: object) -> None:
        if not self._syncing:
            self.grid.select(self.selected_ids())

    def _on_view_current(
        self, current: QModelIndex | QPersistentModelIndex, _previous: object
    ) -> None:
        self.grid.set_current(self.model.image_id(current.row()) if current.isValid() else None)

    def selected_ids(self) -> np.ndarray:
        """Image ids selected in the view, from the selection's ranges (no Python object per
        row), ascending."""
        ranges = [
            np.arange(r.top(), r.bottom() + 1) for r in self.view.selectionModel().selection()
        ]
        if not ranges:
            return np.zeros(0, dtype=np.int64)
        return np.unique(self.model.ids[np.concatenate(ranges)])


def _combo(tooltip: str) -> QComboBox:
    box = QComboBox()
    box.setToolTip(tooltip)
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    box.setMinimumContentsLength(6)
    return box

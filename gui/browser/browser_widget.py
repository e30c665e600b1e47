"""The browser: a filter bar over the thumbnail grid.

Class, split and attribute filters are combo boxes; other panels add masks (a group of the
confounder matrix, images selected on the embedding map, one concept's exemplars) and sort orders,
shown as removable chips. Selection is reported as image ids.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QElidingLabel

from debias_studio.gui.browser.filters import Filters, Mask, apply_filters, filter_columns
from debias_studio.gui.browser.grid_model import GridModel
from debias_studio.gui.browser.grid_view import GridView
from debias_studio.gui.session import Session
from debias_studio.gui.thumbnails import ThumbnailLoader

ALL = "all"


class BrowserWidget(QWidget):
    current_image_changed = Signal(object)  # image id or None
    selection_changed = Signal(object)  # np.ndarray of image ids
    filters_changed = Signal()

    def __init__(self, loader: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("browser")
        self.loader = loader
        self.session: Session | None = None
        self.filters = Filters()
        self.model = GridModel(loader)
        self.view = GridView(loader.size)
        self.view.setModel(self.model)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)
        self.view.selectionModel().currentChanged.connect(self._on_current)

        self.class_box = _combo("Show only one class")
        self.split_box = _combo("Show only one split (train, val or test)")
        self.attribute_box = _combo(
            "Show only images with one value of an attribute column of the dataset"
        )
        self.class_box.currentIndexChanged.connect(self._on_combo)
        self.split_box.currentIndexChanged.connect(self._on_combo)
        self.attribute_box.currentIndexChanged.connect(self._on_combo)
        self.count = QElidingLabel("")
        self.count.setMinimumWidth(60)
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.count.setObjectName("browser_count")
        self.chips = QHBoxLayout()
        self.chips.setSpacing(4)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Class"))
        bar.addWidget(self.class_box)
        bar.addWidget(QLabel("Split"))
        bar.addWidget(self.split_box)
        bar.addWidget(QLabel("Attribute"))
        bar.addWidget(self.attribute_box)
        bar.addLayout(self.chips)
        bar.addStretch(1)
        bar.addWidget(self.count, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self._updating = False

    # ---- session -----------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.filters = Filters()
        self._updating = True
        for box in (self.class_box, self.split_box, self.attribute_box):
            box.clear()
            box.addItem("All", None)
        if session is not None:
            for i, name in enumerate(session.labels.values):
                self.class_box.addItem(name, i)
            for i, name in enumerate(session.splits.values):
                self.split_box.addItem(name, i)
        self._updating = False
        self.model.set_session(session)
        self.refresh_columns()

    def refresh_columns(self) -> None:
        """Rebuild the attribute filter's entries (attributes, confounder values, the latest
        run's correctness), keeping the current choice when it still exists."""
        current = self.attribute_box.currentData()
        self._updating = True
        self.attribute_box.clear()
        self.attribute_box.addItem("All", None)
        if self.session is not None:
            for key, column in filter_columns(self.session).items():
                for i, value in enumerate(column.values):
                    self.attribute_box.addItem(f"{key} = {value}", (key, i))
                if key.startswith("confounder ") and (column.codes < 0).any():
                    self.attribute_box.addItem(f"{key} = (unknown)", (key, -1))
        self.attribute_box.setEnabled(self.attribute_box.count() > 1)
        index = self.attribute_box.findData(current) if current is not None else 0
        self.attribute_box.setCurrentIndex(max(0, index))
        self._updating = False
        self._on_combo()

    # ---- filters -----------------------------------------------------------------------------
    def set_mask(self, key: str, mask: Mask | None) -> None:
        """Add (or with None remove) a filter set by another panel."""
        if mask is None:
            self.filters.masks.pop(key, None)
        else:
            self.filters.masks[key] = mask
        self.refresh()

    def set_sort(self, scores: np.ndarray | None, name: str = "", subtitles: bool = True) -> None:
        """Sort by a score per image, highest first (None: image order)."""
        self.filters.sort_scores = scores
        self.filters.sort_name = name
        self.model.subtitles = (
            np.char.mod("%.2f", scores) if scores is not None and subtitles else None
        )
        self.refresh()

    def set_class_filter(self, label: int | None) -> None:
        self.class_box.setCurrentIndex(0 if label is None else label + 1)

    def refresh(self) -> None:
        """Recompute the shown ids and the chips."""
        if self.session is None:
            self.model.set_ids(np.zeros(0, dtype=np.int64))
            self.count.setText("")
            self._rebuild_chips()
            return
        ids = apply_filters(self.session, self.filters)
        self.model.set_ids(ids)
        self.count.setText(f"{len(ids):,} of {len(self.session):,} images")
        self._rebuild_chips()
        self.filters_changed.emit()

    def select_ids(self, image_ids: np.ndarray) -> None:
        """Select these images in the grid (those currently shown) and scroll to the first.
        Rows are grouped into contiguous ranges with numpy: one range per run, not per image."""
        ids = np.asarray(image_ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < len(self.model._row_of))]
        rows = np.sort(self.model._row_of[ids])
        rows = rows[rows >= 0]
        selection = QItemSelection()
        if len(rows):
            breaks = np.flatnonzero(np.diff(rows) != 1)
            starts = np.concatenate([[rows[0]], rows[breaks + 1]])
            stops = np.concatenate([rows[breaks], [rows[-1]]])
            for first, last in zip(starts.tolist(), stops.tolist(), strict=True):
                selection.select(self.model.index(first), self.model.index(last))
        model = self.view.selectionModel()
        model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if len(rows):
            self.view.scrollTo(self.model.index(int(rows[0])))

    def selected_ids(self) -> np.ndarray:
        """Selected image ids, from the selection's ranges (no Python object per row)."""
        ranges = [
            np.arange(r.top(), r.bottom() + 1) for r in self.view.selectionModel().selection()
        ]
        if not ranges:
            return np.zeros(0, dtype=np.int64)
        return self.model.ids[np.unique(np.concatenate(ranges))]

    # ---- internals ---------------------------------------------------------------------------
    def _on_combo(self) -> None:
        if self._updating:
            return
        self.filters.label = self.class_box.currentData()
        self.filters.split = self.split_box.currentData()
        attr = self.attribute_box.currentData()
        self.filters.attribute, self.filters.attribute_value = attr if attr else (None, None)
        self.refresh()

    def _rebuild_chips(self) -> None:
        while self.chips.count():
            item = self.chips.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        entries = [(k, m.description) for k, m in self.filters.masks.items()]
        if self.filters.sort_scores is not None:
            entries.append(("__sort__", f"sorted by {self.filters.sort_name}"))
        for key, text in entries:
            chip = QToolButton()
            chip.setText(f"{text}  ✕")
            chip.setToolTip("Remove this filter")
            chip.setAutoRaise(True)
            chip.setObjectName("filter_chip")
            chip.clicked.connect(lambda _=False, k=key: self._remove_chip(k))
            self.chips.addWidget(chip)

    def _remove_chip(self, key: str) -> None:
        if key == "__sort__":
            self.set_sort(None)
        else:
            self.set_mask(key, None)

    def _on_selection(self, *_: object) -> None:
        self.selection_changed.emit(self.selected_ids())

    def _on_current(self, current, _previous) -> None:
        self.current_image_changed.emit(
            self.model.image_id(current.row()) if current.isValid() else None
        )


def _combo(tooltip: str) -> QComboBox:
    box = QComboBox()
    box.setToolTip(tooltip)
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    box.setMinimumContentsLength(6)
    return box

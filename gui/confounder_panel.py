"""Confounder annotation: pick a confounder, move its threshold with a live preview (counts per
class, computed in a worker as the slider moves, throttled), read the class × value group matrix
(click a cell to see that group in the grid), set a value for the selected images, undo.

Every change is written by the engine (core.annotate) in a worker; the hub then re-reads the
confounders and hands them to every panel, so what this one shows is what the project holds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider
from superqt.utils import qthrottled

from debias_studio.core.jobs import CancelToken
from debias_studio.gui import engine
from debias_studio.gui.browser.filters import Mask
from debias_studio.gui.hub import Hub
from debias_studio.gui.plain import plain_label
from debias_studio.gui.session import Session
from debias_studio.gui.state import ConfounderEntry, Confounders

PREVIEW_EVERY_MS = 80
"""The slider asks for a preview at most this often while it moves (and once where it stops)."""
SOURCE_VALUE = "(source value)"

Change = Callable[[CancelToken], Any]


class ConfounderPanel(QWidget):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confounder_panel")
        self.hub = hub
        self.session: Session | None = None
        self.confounders = Confounders()
        self.scores: np.ndarray | None = None
        self.scores_for: str | None = None
        self.preview_threshold: float | None = None
        """The threshold whose counts the preview shows (None: no preview shown)."""
        self._select_next: str | None = None
        """The confounder to show once the state after a change arrives."""
        self._build_chooser()
        self._build_threshold()
        self._build_matrix()
        self._build_setter()
        self._build_layout()
        self.request_preview = qthrottled(self._start_preview, timeout=PREVIEW_EVERY_MS)
        hub.session_changed.connect(self.set_session)
        hub.confounders_changed.connect(self._on_confounders)
        hub.confounder_requested.connect(self.add_from_concept)
        self.set_session(None)

    # ---- building ----------------------------------------------------------------------------
    def _build_chooser(self) -> None:
        self.choice = QComboBox()
        self.choice.setToolTip("The confounder shown below.")
        self.choice.currentIndexChanged.connect(self._on_choice)
        self.column_box = QComboBox()
        self.column_box.setToolTip("Make a confounder from one of the dataset's attribute columns.")
        self.from_column = QPushButton("From column")
        self.from_column.clicked.connect(self._add_from_column)
        self.manual_name = QLineEdit()
        self.manual_name.setPlaceholderText("name for manual labels")
        self.manual_button = QPushButton("Manual")
        self.manual_button.setToolTip("An empty confounder you label by hand, image by image.")
        self.manual_button.clicked.connect(self._add_manual)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Undo the last annotation change (Ctrl+Z).")
        self.undo_button.clicked.connect(self.undo)
        QShortcut(
            QKeySequence.StandardKey.Undo,
            self,
            activated=self.undo,
            context=Qt.ShortcutContext.WindowShortcut,
        )

    def _build_threshold(self) -> None:
        self.threshold_box = QGroupBox("Threshold on the concept's standardised score")
        self.slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-3.0, 3.0)
        self.slider.setValue(1.0)
        self.slider.setToolTip(
            "Images whose concept score (in standard deviations) is at least this value get "
            "'present', the others 'absent'. The counts below update as you drag."
        )
        self.slider.valueChanged.connect(self._preview_threshold)
        self.preview = plain_label()
        self.preview.setWordWrap(True)
        self.near_button = QPushButton("Show images near the threshold")
        self.near_button.clicked.connect(self._show_near)
        self.above_button = QPushButton("Show images above")
        self.above_button.setToolTip(
            "Show only the images at or above the threshold (e.g. to clean them in the "
            "cleaning panel)"
        )
        self.above_button.clicked.connect(self.show_above)
        self.apply_button = QPushButton("Apply threshold")
        self.apply_button.clicked.connect(self.apply_threshold)
        layout = QVBoxLayout(self.threshold_box)
        layout.addWidget(self.slider)
        layout.addWidget(self.preview)
        row = QHBoxLayout()
        row.addWidget(self.near_button)
        row.addWidget(self.above_button)
        row.addWidget(self.apply_button)
        layout.addLayout(row)

    def _build_matrix(self) -> None:
        self.matrix = QTableWidget(0, 0)
        self.matrix.setObjectName("group_matrix")
        self.matrix.setToolTip(
            "Images per (class, value) group. Small groups are the bias-conflicting ones; "
            "click a cell to show that group in the grid."
        )
        self.matrix.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.matrix.cellClicked.connect(self.show_group)
        for header in (self.matrix.horizontalHeader(), self.matrix.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def _build_setter(self) -> None:
        self.value_box = QComboBox()
        self.value_box.setToolTip("The value to give the images selected in the grid.")
        self.set_button = QPushButton("Set for selected images")
        self.set_button.clicked.connect(self.set_for_selection)
        self.info = plain_label()
        self.info.setWordWrap(True)

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(plain_label("Confounder"))
        top.addWidget(self.choice, 1)
        top.addWidget(self.undo_button)
        make = QHBoxLayout()
        make.addWidget(self.column_box, 1)
        make.addWidget(self.from_column)
        make.addWidget(self.manual_name, 1)
        make.addWidget(self.manual_button)
        setter = QHBoxLayout()
        setter.addWidget(self.value_box, 1)
        setter.addWidget(self.set_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(make)
        layout.addWidget(self.threshold_box)
        layout.addWidget(plain_label("Groups (class × value)"))
        layout.addWidget(self.matrix, 1)
        layout.addLayout(setter)
        layout.addWidget(self.info)

    # ---- session and state -------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.scores, self.scores_for = None, None
        self.column_box.clear()
        if session is not None:
            self.column_box.addItems(list(session.attributes))
        enabled = session is not None
        for widget in (self.manual_button, self.undo_button, self.set_button, self.apply_button):
            widget.setEnabled(enabled)
        self.from_column.setEnabled(enabled and self.column_box.count() > 0)
        self._on_confounders(session.confounders if session is not None else Confounders())

    def _on_confounders(self, confounders: Confounders) -> None:
        self.confounders = confounders
        current = self._select_next or self.choice.currentText()
        self._select_next = None
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItems(list(confounders))
        if current in confounders:
            self.choice.setCurrentText(current)
        self.choice.blockSignals(False)
        self._on_choice()

    @property
    def current(self) -> ConfounderEntry | None:
        return self.confounders.get(self.choice.currentText())

    def _on_choice(self) -> None:
        entry = self.current
        self.value_box.clear()
        if entry is None:
            self.matrix.setRowCount(0)
            self.matrix.setColumnCount(0)
            self.threshold_box.setVisible(False)
            return
        confounder = entry.confounder
        self.value_box.addItems(list(confounder.values))
        self.value_box.addItem(SOURCE_VALUE)
        self.value_box.setItemData(
            self.value_box.count() - 1,
            "Remove the hand-set value: the confounder's own source decides again.",
            Qt.ItemDataRole.ToolTipRole,
        )
        is_concept = confounder.source == "concept"
        self.threshold_box.setVisible(is_concept)
        if is_concept:
            threshold = confounder.params.get("threshold")
            if threshold is not None:
                self.slider.blockSignals(True)
                self.slider.setValue(float(threshold))
                self.slider.blockSignals(False)
            self._load_scores(confounder.params.get("concept", confounder.name))
        self._fill_matrix(entry)
        self.hub.confounder_selected.emit(confounder.name)

    # ---- the group matrix --------------------------------------------------------------------
    def _fill_matrix(self, entry: ConfounderEntry) -> None:
        session = self.session
        if session is None:
            return
        names = [*entry.confounder.values, "unknown"]
        labels = session.labels
        counts = _group_counts(labels.codes, len(labels.values), entry.values, len(names) - 1)
        columns = len(names) if counts[:, -1].sum() > 0 else len(names) - 1
        self.matrix.setRowCount(len(session.labels.values))
        self.matrix.setColumnCount(columns)
        self.matrix.setHorizontalHeaderLabels(names[:columns])
        self.matrix.setVerticalHeaderLabels(list(session.labels.values))
        peak = max(1, int(counts.max()))
        for r in range(counts.shape[0]):
            for c in range(columns):
                item = QTableWidgetItem(f"{counts[r, c]:,}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                shade = 255 - int(120 * counts[r, c] / peak)
                item.setBackground(QColor(shade, shade, 255))
                self.matrix.setItem(r, c, item)
        confounder = entry.confounder
        self.info.setText(
            f"{confounder.name}: {confounder.kind}, from {confounder.source}; "
            f"{int((entry.values < 0).sum()):,} images without a value."
        )

    def show_group(self, row: int, column: int) -> None:
        """Show the (class ``row``, value ``column``) group in the grid."""
        entry, session = self.current, self.session
        if entry is None or session is None:
            return
        confounder = entry.confounder
        value = column if column < len(confounder.values) else -1
        keep = (session.labels.codes == row) & (entry.values == value)
        name = confounder.values[value] if value >= 0 else "unknown"
        self.hub.grid.set_mask(
            "group", Mask(f"{session.labels.values[row]} × {confounder.name}={name}", keep)
        )

    # ---- editing -----------------------------------------------------------------------------
    def _change(self, title: str, function: Change, select: str | None = None) -> None:
        """Write a change in a worker; then the hub re-reads every confounder for all panels."""
        if self.session is None:
            return
        self.hub.runner.start(
            title,
            function,
            key="annotate",
            quiet=True,
            on_done=partial(self._changed, select),
            on_error=self._show_error,
        )

    def _changed(self, select: str | None, _result: object) -> None:
        self._select_next = select
        self.hub.reload_confounders()

    def _show_error(self, message: str, _details: str) -> None:
        self.info.setText(message)

    def add_from_concept(self, concept: str, threshold: float = 1.0) -> None:
        if self.session is None:
            return
        project, model = self.session.project, self.hub.model_name
        self._change(
            f"Confounder {concept}",
            lambda _t: engine.add_confounder(
                project, concept, concept=concept, threshold=threshold, model_name=model
            ),
            select=concept,
        )

    def _add_from_column(self) -> None:
        column = self.column_box.currentText()
        if self.session is None or not column:
            return
        project = self.session.project
        self._change(
            f"Confounder {column}",
            lambda _t: engine.add_confounder(project, column, column=column),
            select=column,
        )

    def _add_manual(self) -> None:
        name = self.manual_name.text().strip()
        if self.session is None or not name:
            self.info.setText("Type a name for the new confounder first.")
            return
        project = self.session.project
        self._change(
            f"Confounder {name}",
            lambda _t: engine.add_confounder(project, name, manual=True),
            select=name,
        )
        self.manual_name.clear()

    def apply_threshold(self) -> None:
        entry = self.current
        if entry is None or self.session is None:
            return
        name = entry.name
        concept = entry.confounder.params.get("concept", name)
        project, model = self.session.project, self.hub.model_name
        threshold = float(self.slider.value())
        self._change(
            "Threshold",
            lambda _t: engine.add_confounder(
                project, name, concept=concept, threshold=threshold, model_name=model
            ),
            select=name,
        )

    def set_for_selection(self) -> None:
        entry = self.current
        if entry is None or self.session is None:
            return
        ids = self.hub.grid.selection
        if not len(ids):
            self.info.setText("Select images in the grid first.")
            return
        chosen = self.value_box.currentText()
        value = None if chosen == SOURCE_VALUE else chosen
        project, name = self.session.project, entry.name
        self._change(
            "Set values", lambda _t: engine.set_values(project, name, ids, value), select=name
        )

    def undo(self) -> None:
        if self.session is None:
            return
        project = self.session.project
        self._change("Undo", lambda _t: engine.undo(project))

    # ---- threshold preview -------------------------------------------------------------------
    def _load_scores(self, concept: str) -> None:
        if self.session is None or self.scores_for == concept:
            self._preview_threshold()
            return
        self.hub.request_concept_scores(
            concept,
            on_done=partial(self._on_scores, concept),
            on_error=self._show_preview_error,
            key="threshold-scores",
        )

    def _on_scores(self, concept: str, scores: np.ndarray) -> None:
        if self.session is None or len(scores) != len(self.session):
            return
        self.scores, self.scores_for = scores, concept
        self._preview_threshold()

    def _preview_threshold(self, *_: object) -> None:
        """The slider moved (or the scores arrived): ask for a preview, throttled."""
        self.request_preview()

    def _start_preview(self) -> None:
        """Count in a worker; a newer request cancels an older one still running, and a
        result for a threshold the slider has left is dropped (``_show_preview``)."""
        scores, session = self.scores, self.session
        if scores is None or session is None:
            self.preview.setText("")
            self.preview_threshold = None
            return
        labels, classes = session.labels.codes, list(session.labels.values)
        threshold = float(self.slider.value())
        self.hub.runner.start(
            "Threshold preview",
            lambda _t: engine.threshold_preview(scores, labels, classes, threshold),
            key="threshold-preview",
            quiet=True,
            on_done=partial(self._show_preview, scores, threshold),
            on_error=self._show_preview_error,
        )

    def _show_preview(self, scores: np.ndarray, threshold: float, result: dict[str, Any]) -> None:
        session = self.session
        if session is None or scores is not self.scores or threshold != self.slider.value():
            return  # stale: another concept, or the slider moved on
        classes = session.labels.values
        present = np.asarray(result["present"])
        absent = np.asarray(result["absent"])
        most = ", ".join(
            f"{classes[c]} {present[c]:,}" for c in np.argsort(-present)[:4] if present[c]
        )
        self.preview.setText(
            f"present: {int(present.sum()):,}   absent: {int(absent.sum()):,}"
            + (f"   (most in: {most})" if most else "")
        )
        self.preview_threshold = threshold

    def _show_preview_error(self, message: str, _details: str) -> None:
        self.preview.setText(message)
        self.preview_threshold = None

    def _show_near(self) -> None:
        if self.scores is None:
            return
        closeness = -np.abs(np.nan_to_num(self.scores, nan=1e6) - float(self.slider.value()))
        self.hub.grid.set_sort(
            closeness, f"closeness to threshold {self.slider.value():.2f}", subtitles=False
        )

    def show_above(self) -> None:
        """Filter the grid to the images the previewed threshold makes 'present'."""
        if self.scores is None:
            return
        threshold = float(self.slider.value())
        keep = np.nan_to_num(self.scores, nan=-np.inf) >= threshold
        self.hub.grid.set_mask("threshold", Mask(f"{self.scores_for} ≥ {threshold:.2f}", keep))


def _group_counts(
    labels: np.ndarray, n_classes: int, values: np.ndarray, n_known: int
) -> np.ndarray:
    """Images per (class, value), with 'unknown' (-1) as the last column: (C, n_known + 1)."""
    n_values = n_known + 1
    value_index = np.where(values >= 0, values, n_known)
    counts = np.bincount(labels * n_values + value_index, minlength=n_classes * n_values)
    return counts.reshape(n_classes, n_values)

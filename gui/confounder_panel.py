"""Confounder annotation: pick a confounder, move its threshold with a live preview (counts per
value and the images nearest the threshold), read the class × value group matrix (click a cell to
see that group in the grid), set a value for the selected images, undo.

Every change is written by the engine (core.annotate) in a worker; the panel then re-reads the
assignments so what it shows is what the project holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider

from debias_studio.gui import engine
from debias_studio.gui.browser.filters import Mask
from debias_studio.gui.hub import Hub
from debias_studio.gui.session import Column, Session

NEAR = 48


class ConfounderPanel(QWidget):
    confounder_selected = Signal(str)

    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confounder_panel")
        self.hub = hub
        self.session: Session | None = None
        self.state: dict[str, tuple[Any, np.ndarray]] = {}
        self.scores: np.ndarray | None = None
        self.scores_for: str | None = None

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

        self.threshold_box = QGroupBox("Threshold on the concept's standardised score")
        self.slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-3.0, 3.0)
        self.slider.setValue(1.0)
        self.slider.setToolTip(
            "Images whose concept score (in standard deviations) is at least this value get "
            "'present', the others 'absent'. The counts below update as you drag."
        )
        self.slider.valueChanged.connect(self._preview_threshold)
        self.preview = QLabel("")
        self.preview.setWordWrap(True)
        self.near_button = QPushButton("Show images near the threshold")
        self.near_button.clicked.connect(self._show_near)
        self.apply_button = QPushButton("Apply threshold")
        self.apply_button.clicked.connect(self.apply_threshold)
        threshold_layout = QVBoxLayout(self.threshold_box)
        threshold_layout.addWidget(self.slider)
        threshold_layout.addWidget(self.preview)
        row = QHBoxLayout()
        row.addWidget(self.near_button)
        row.addWidget(self.apply_button)
        threshold_layout.addLayout(row)

        self.matrix = QTableWidget(0, 0)
        self.matrix.setObjectName("group_matrix")
        self.matrix.setToolTip(
            "Images per (class, value) group. Small groups are the bias-conflicting ones; "
            "click a cell to show that group in the grid."
        )
        self.matrix.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.matrix.cellClicked.connect(self.show_group)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.matrix.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

        self.value_box = QComboBox()
        self.value_box.setToolTip("The value to give the images selected in the grid.")
        self.set_button = QPushButton("Set for selected images")
        self.set_button.clicked.connect(self.set_for_selection)
        self.info = QLabel("")
        self.info.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(QLabel("Confounder"))
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
        layout.addWidget(QLabel("Groups (class × value)"))
        layout.addWidget(self.matrix, 1)
        layout.addLayout(setter)
        layout.addWidget(self.info)
        hub.session_changed.connect(self.set_session)
        self.set_session(None)

    # ---- session and state -------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.state = {}
        self.scores, self.scores_for = None, None
        self.column_box.clear()
        if session is not None:
            self.column_box.addItems(list(session.attributes))
        enabled = session is not None
        for widget in (
            self.from_column,
            self.manual_button,
            self.undo_button,
            self.set_button,
            self.apply_button,
        ):
            widget.setEnabled(enabled)
        self.from_column.setEnabled(enabled and self.column_box.count() > 0)
        self._show_state()
        if enabled:
            self.reload()

    def reload(self, select: str | None = None) -> None:
        """Re-read every confounder and its assignments (worker)."""
        if self.session is None:
            return
        project = self.session.project
        self.hub.runner.start(
            "Reading confounders",
            lambda _t: engine.confounder_state(project),
            key="confounders",
            quiet=True,
            on_done=lambda state, s=select: self._on_state(state, s),
            on_error=lambda message, _d: self.info.setText(message),
        )

    def _on_state(self, state: dict[str, tuple[Any, np.ndarray]], select: str | None) -> None:
        if self.session is None:
            return
        self.state = state
        self.session.extra["confounder_columns"] = {
            name: Column(values, list(conf.values)) for name, (conf, values) in state.items()
        }
        self._show_state(select)
        self.hub.confounders_changed.emit()

    def _show_state(self, select: str | None = None) -> None:
        current = select or self.choice.currentText()
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItems(list(self.state))
        if current in self.state:
            self.choice.setCurrentText(current)
        self.choice.blockSignals(False)
        self._on_choice()

    @property
    def current(self) -> tuple[Any, np.ndarray] | None:
        return self.state.get(self.choice.currentText())

    def _on_choice(self) -> None:
        entry = self.current
        self.value_box.clear()
        if entry is None:
            self.matrix.setRowCount(0)
            self.matrix.setColumnCount(0)
            self.threshold_box.setVisible(False)
            return
        confounder, _values = entry
        self.value_box.addItems(list(confounder.values))
        self.value_box.addItem("(source value)")
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
        self._fill_matrix()
        self.confounder_selected.emit(confounder.name)

    # ---- the group matrix --------------------------------------------------------------------
    def _fill_matrix(self) -> None:
        entry, session = self.current, self.session
        if entry is None or session is None:
            return
        confounder, values = entry
        names = [*confounder.values, "unknown"]
        n_values = len(names)
        labels = session.labels.codes
        value_index = np.where(values >= 0, values, n_values - 1)
        counts = np.bincount(
            labels * n_values + value_index, minlength=len(session.labels.values) * n_values
        ).reshape(len(session.labels.values), n_values)
        show_unknown = counts[:, -1].sum() > 0
        columns = n_values if show_unknown else n_values - 1
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
        self.info.setText(
            f"{confounder.name}: {confounder.kind}, from {confounder.source}; "
            f"{int((values < 0).sum()):,} images without a value."
        )

    def show_group(self, row: int, column: int) -> None:
        """Show the (class ``row``, value ``column``) group in the grid."""
        entry, session = self.current, self.session
        if entry is None or session is None:
            return
        confounder, values = entry
        value = column if column < len(confounder.values) else -1
        keep = (session.labels.codes == row) & (values == value)
        name = confounder.values[value] if value >= 0 else "unknown"
        self.hub.browser.set_mask(
            "group", Mask(f"{session.labels.values[row]} × {confounder.name}={name}", keep)
        )

    # ---- editing -----------------------------------------------------------------------------
    def _change(self, title: str, function: Any, select: str | None = None) -> None:
        if self.session is None:
            return
        self.hub.runner.start(
            title,
            function,
            key="annotate",
            quiet=True,
            on_done=lambda _r: self.reload(select),
            on_error=lambda message, _d: self.info.setText(message),
        )

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
        confounder = entry[0]
        concept = confounder.params.get("concept", confounder.name)
        project, model = self.session.project, self.hub.model_name
        threshold = float(self.slider.value())
        self._change(
            "Threshold",
            lambda _t: engine.add_confounder(
                project, confounder.name, concept=concept, threshold=threshold, model_name=model
            ),
            select=confounder.name,
        )

    def set_for_selection(self) -> None:
        entry = self.current
        if entry is None or self.session is None:
            return
        ids = self.hub.browser.selected_ids()
        if not len(ids):
            self.info.setText("Select images in the grid first.")
            return
        value = self.value_box.currentText()
        value = None if value == "(source value)" else value
        project, name = self.session.project, entry[0].name
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
            on_done=lambda scores, c=concept: self._on_scores(c, scores),
            on_error=lambda message, _d: self.preview.setText(message),
            key="threshold-scores",
        )

    def _on_scores(self, concept: str, scores: np.ndarray) -> None:
        if self.session is None or len(scores) != len(self.session):
            return
        self.scores, self.scores_for = scores, concept
        self._preview_threshold()

    def _preview_threshold(self) -> None:
        if self.scores is None or self.session is None:
            self.preview.setText("")
            return
        labels = self.session.labels
        try:
            result = engine.threshold_preview(
                self.scores, labels.codes, labels.values, float(self.slider.value())
            )
        except Exception as exc:
            self.preview.setText(str(exc))
            return
        present = np.asarray(result["present"])
        absent = np.asarray(result["absent"])
        most = ", ".join(
            f"{labels.values[c]} {present[c]:,}" for c in np.argsort(-present)[:4] if present[c]
        )
        self.near = [*result.get("nearest_above", []), *result.get("nearest_below", [])]
        self.preview.setText(
            f"present: {int(present.sum()):,}   absent: {int(absent.sum()):,}"
            + (f"   (most in: {most})" if most else "")
        )

    def _show_near(self) -> None:
        if self.scores is None:
            return
        closeness = -np.abs(np.nan_to_num(self.scores, nan=1e6) - float(self.slider.value()))
        self.hub.browser.set_sort(
            closeness, f"closeness to threshold {self.slider.value():.2f}", subtitles=False
        )

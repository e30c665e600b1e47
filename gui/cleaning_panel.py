"""The cleaning panel: exclude, relabel and tag images, undo, the history, and review queues.

Actions apply to the images selected in the grid, or to every image the grid shows - so any
way the app narrows the grid (the map's lasso, a group-matrix cell, a threshold preview, the
latest run's errors, a class filter, "misclassified by run R" here) is a selection to clean.
Each action is saved at once and listed in the history; Undo takes back the last change (the
same history as the confounder panel's Undo). The finders (near-duplicates, label issues,
outliers) run as cancellable jobs; their results fill the review queue, where picking a row
shows its images side by side in the grid and one click settles it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui import engine
from debias_studio.gui.browser.filters import Mask
from debias_studio.gui.hub import Hub
from debias_studio.gui.state import Cleaning, Runs

SELECTED, SHOWN = "selected images", "all images shown"
REVIEW_MASK, HIDE_MASK, WRONG_MASK = "review", "hide excluded", "misclassified"


class CleaningPanel(QWidget):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cleaning_panel")
        self.hub = hub
        self.queue = pd.DataFrame()
        self.queue_kind = ""
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_actions())
        self.history = QListWidget()
        self.history.setObjectName("cleaning_history")
        self.history.setMaximumHeight(110)
        layout.addWidget(QLabel("History (newest first)"))
        layout.addWidget(self.history)
        layout.addLayout(self._build_finders())
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("review_queue")
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._show_review_row)
        layout.addWidget(self.table, 1)
        layout.addLayout(self._build_review_buttons())
        self.info = QLabel("")
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.info.setWordWrap(True)
        self.info.setObjectName("cleaning_info")
        layout.addWidget(self.info)
        hub.session_changed.connect(self._on_session)
        hub.cleaning_changed.connect(self._on_cleaning)
        hub.runs_changed.connect(self._on_runs)
        # the confounder panel's Undo walks the same history: it may undo a cleaning step
        hub.confounders_changed.connect(self._on_confounders)

    # ---- building ----------------------------------------------------------------------------
    def _build_actions(self) -> QGridLayout:
        grid = QGridLayout()
        self.scope = QComboBox()
        self.scope.addItems([SELECTED, SHOWN])
        self.scope.setToolTip("Which images the buttons act on")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("reason, e.g. blurry")
        self.label_box = QComboBox()
        self.tag_edit = QLineEdit()
        self.tag_edit.setPlaceholderText("tag")
        self.hide_excluded = QCheckBox("Hide excluded")
        self.hide_excluded.toggled.connect(self._apply_hide)
        self.run_box = QComboBox()
        self.run_box.setToolTip("Show the images this finished run got wrong")
        rows = [
            (QLabel("Act on"), self.scope, self.hide_excluded),
            (self.reason, _button("Exclude", self.exclude), _button("Include", self.include)),
            (self.label_box, _button("Relabel", self.relabel), _button("Undo", self.undo)),
            (self.tag_edit, _button("Tag", self.tag), _button("Untag", self.untag)),
            (QLabel("Misclassified by"), self.run_box, _button("Show", self.show_misclassified)),
        ]
        for r, widgets in enumerate(rows):
            for c, widget in enumerate(widgets):
                grid.addWidget(widget, r, c)
        return grid

    def _build_finders(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.5, 1.0)
        self.threshold.setSingleStep(0.01)
        self.threshold.setDecimals(3)
        self.threshold.setValue(0.95)
        self.threshold.setToolTip("Cosine similarity from which two images count as duplicates")
        row.addWidget(_button("Find duplicates", self.find_duplicates))
        row.addWidget(self.threshold)
        row.addWidget(_button("Find label issues", self.find_label_issues))
        self.from_run = QCheckBox("from the run")
        self.from_run.setToolTip(
            "Take the predictions of the run chosen under 'Misclassified by' instead of an "
            "out-of-fold probe (a run saw its training images: the probe is the fairer judge)"
        )
        row.addWidget(self.from_run)
        row.addWidget(_button("Find outliers", self.find_outliers))
        return row

    def _build_review_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.accept_button = _button("Apply suggestion", self.apply_suggestion)
        self.accept_button.setToolTip(
            "Duplicates: exclude the second image. Label issues: relabel to the suggested "
            "class. Outliers: exclude the image."
        )
        row.addWidget(self.accept_button)
        row.addWidget(_button("Keep as is", self.skip_row))
        return row

    # ---- session and state -------------------------------------------------------------------
    def _on_session(self, session: Any) -> None:
        self.queue = pd.DataFrame()
        self._fill_table()
        self.label_box.clear()
        self.history.clear()
        self.run_box.clear()
        if session is not None:
            self.label_box.addItems([str(v) for v in session.labels.values])

    def _on_cleaning(self, cleaning: Cleaning) -> None:
        self.history.clear()
        for row in cleaning.history:
            detail = f" '{row['detail']}'" if row["detail"] else ""
            self.history.addItem(f"{row['action']}{detail}: {row['images']} image(s)")
        if self.hide_excluded.isChecked():
            self._apply_hide()  # the excluded images changed: hide the new set

    def _on_runs(self, runs: Runs) -> None:
        current = self.run_box.currentText()
        self.run_box.clear()
        self.run_box.addItems([str(r["id"]) for r in runs.finished()])
        self.run_box.setCurrentIndex(max(0, self.run_box.findText(current)))

    # ---- actions -----------------------------------------------------------------------------
    def chosen_ids(self) -> np.ndarray:
        grid = self.hub.grid
        return grid.shown if self.scope.currentText() == SHOWN else grid.selection

    def exclude(self) -> None:
        self._act("exclude", self.chosen_ids(), self.reason.text())

    def include(self) -> None:
        self._act("include", self.chosen_ids())

    def relabel(self) -> None:
        self._act("relabel", self.chosen_ids(), self.label_box.currentText())

    def tag(self) -> None:
        self._act("tag", self.chosen_ids(), self.tag_edit.text())

    def untag(self) -> None:
        self._act("untag", self.chosen_ids(), self.tag_edit.text())

    def undo(self) -> None:
        session = self.hub.session
        if session is None:
            return
        project = session.project
        self._run("Undo", lambda _t: engine.undo(project) or "Nothing to undo.", prefix="Undid: ")

    def _act(self, action: str, ids: np.ndarray, value: str = "") -> None:
        if self.hub.session is None:
            return
        if not len(ids):
            self.info.setText("Select images in the grid first (or act on all images shown).")
            return
        project = self.hub.session.project
        ids = np.array(ids, dtype=np.int64)
        self._run(action, lambda _t: engine.clean_images(project, action, ids, value))

    def _run(self, title: str, function: Any, prefix: str = "") -> None:
        self.hub.runner.start(
            title,
            function,
            key="cleaning",
            quiet=True,
            on_done=partial(self._acted, prefix),
            on_error=self._show_error,
        )

    def _acted(self, prefix: str, message: str) -> None:
        self.info.setText(prefix + message)
        self.hub.status_message.emit(prefix + message)
        self.hub.reload_cleaning()  # this panel and the grid captions
        self.hub.reload_confounders()  # the group matrix counts non-excluded images

    def _show_error(self, message: str, _details: str) -> None:
        self.info.setText(message)

    def _on_confounders(self, _confounders: object) -> None:
        self.hub.reload_cleaning()

    def _apply_hide(self) -> None:
        session, grid = self.hub.session, self.hub.grid
        excluded = None if session is None else session.cleaning.excluded
        if self.hide_excluded.isChecked() and excluded is not None and len(excluded):
            mask = Mask(f"{int(excluded.sum()):,} excluded hidden", ~excluded)
            grid.set_mask(HIDE_MASK, mask)
        elif HIDE_MASK in grid.filters.masks:
            grid.set_mask(HIDE_MASK, None)

    def show_misclassified(self) -> None:
        session, run_id = self.hub.session, self.run_box.currentText()
        if session is None or not run_id:
            self.info.setText("No finished run to take errors from.")
            return
        project = session.project
        self.hub.runner.start(
            f"Errors of {run_id}",
            lambda _t: engine.misclassified_by(project, run_id),
            quiet=True,
            on_done=partial(self._show_wrong, len(session), run_id),
            on_error=self._show_error,
        )

    def _show_wrong(self, n: int, run_id: str, ids: np.ndarray) -> None:
        keep = np.zeros(n, dtype=bool)
        keep[ids] = True
        self.hub.grid.set_mask(WRONG_MASK, Mask(f"misclassified by {run_id}", keep))

    # ---- finders and review ------------------------------------------------------------------
    def find_duplicates(self) -> None:
        self.find("duplicates")

    def find_label_issues(self) -> None:
        self.find("label issues")

    def find_outliers(self) -> None:
        self.find("outliers")

    def find(self, finder: str) -> None:
        session = self.hub.session
        if session is None:
            return
        project, model, device = session.project, self.hub.model_name, self.hub.device
        options: dict[str, Any] = {"threshold": float(self.threshold.value())}
        if self.from_run.isChecked() and self.run_box.currentText():
            options["run_id"] = self.run_box.currentText()
        self.hub.runner.start(
            f"Finding {finder}",
            lambda token: engine.find_to_clean(project, finder, model, device, options, token),
            key=f"find-{finder}",
            on_done=partial(self._found, finder),
            on_error=self._show_error,
        )

    def _found(self, finder: str, table: pd.DataFrame) -> None:
        self.queue, self.queue_kind = table.reset_index(drop=True), finder
        self._fill_table()
        self.info.setText(f"{len(table):,} {finder} to review.")

    def _fill_table(self) -> None:
        table = self.queue
        self.table.blockSignals(True)
        self.table.clear()
        self.table.setColumnCount(len(table.columns))
        self.table.setHorizontalHeaderLabels([str(c) for c in table.columns])
        shown = table.head(500)
        self.table.setRowCount(len(shown))
        for r, row in enumerate(shown.itertuples(index=False)):
            for c, value in enumerate(row):
                text = f"{value:.3f}" if isinstance(value, float) else str(value)
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.blockSignals(False)

    def review_ids(self, row: int) -> list[int]:
        record = self.queue.iloc[row]
        if self.queue_kind == "duplicates":
            return [int(record["first"]), int(record["second"])]
        return [int(record["image_id"])]

    def _show_review_row(self) -> None:
        row = self.table.currentRow()
        session = self.hub.session
        if session is None or row < 0 or row >= len(self.queue):
            return
        ids = self.review_ids(row)
        keep = np.zeros(len(session), dtype=bool)
        keep[ids] = True
        self.hub.grid.set_mask(REVIEW_MASK, Mask(f"reviewing {self.queue_kind}", keep))
        self.hub.grid.select(np.asarray(ids))

    def apply_suggestion(self) -> None:
        row = self.table.currentRow()
        if self.hub.session is None or row < 0 or row >= len(self.queue):
            self.info.setText("Pick a row of the review queue first.")
            return
        ids, record = self.review_ids(row), self.queue.iloc[row]
        if self.queue_kind == "duplicates":
            self._act("exclude", np.asarray(ids[1:]), f"duplicate of #{ids[0]}")
        elif self.queue_kind == "label issues":
            self._act("relabel", np.asarray(ids), str(record["suggested"]))
        else:
            self._act("exclude", np.asarray(ids), "outlier")
        self.skip_row()

    def skip_row(self) -> None:
        row = self.table.currentRow()
        if row < 0 or row >= len(self.queue):
            return
        self.queue = self.queue.drop(index=self.queue.index[row]).reset_index(drop=True)
        self._fill_table()
        if len(self.queue):
            self.table.selectRow(min(row, len(self.queue) - 1))
        else:
            self.hub.grid.set_mask(REVIEW_MASK, None)


def _button(text: str, slot: Any) -> QPushButton:
    button = QPushButton(text)
    button.clicked.connect(slot)
    return button

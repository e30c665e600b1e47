"""All runs of the project side by side (ERM against the cures): method, backbone, confounder,
status and the headline metrics, as the hub read them from the project store; sortable."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui import engine
from debias_studio.gui.hub import Hub
from debias_studio.gui.plain import plain_label
from debias_studio.gui.run_comparison import RunComparisonView
from debias_studio.gui.session import Session
from debias_studio.gui.state import Runs

COLUMNS = (
    ("Run", "Run id (its folder under runs/)."),
    ("Started", "When the run started."),
    ("Method", "ERM is the baseline; the others are cures."),
    ("Backbone", "What was trained: a head on CLIP features, a small CNN, or CLIP itself."),
    ("Confounder", "The attribute the cure was told about (groups = class × value)."),
    (
        "Status",
        "done, running, cancelled, failed or interrupted (its process was stopped); "
        "all but done are resumable.",
    ),
    ("Val avg", "Validation accuracy over all images."),
    (
        "Val worst",
        "Validation accuracy of the worst (class, value) group holding at least the run's minimum "
        "group size (20 by default): what a cure improves, and what picks the kept epoch.",
    ),
    ("Test avg", "Test accuracy over all images."),
    (
        "Test worst",
        "Test accuracy of the worst group of at least the minimum size; hover a cell for the "
        "group, its 95 % Wilson interval and the worst over all groups.",
    ),
    ("Test worst n", "Images in that worst test group: the figure is k correct out of n."),
    (
        "Test worst (all)",
        "The worst test group over every group, however small: with 3 images it can only read "
        "0, 0.33, 0.67 or 1, so trust it only with its n.",
    ),
    ("Test unbiased", "Mean of the per-group test accuracies (every group weighs the same)."),
)


class RunsTable(QWidget):
    """Shows the runs the hub read (``runs_changed``); it never reads the project itself."""

    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runs_table")
        self.hub = hub
        self.runs: list[engine.RunRecord] = []
        self.table = _runs_widget()
        self.empty = plain_label("No runs yet: train one in the Training panel.")
        self.compare_button = QPushButton("Compare selected…")
        self.compare_button.setToolTip(
            "Select two or more finished runs (Ctrl/Shift-click): their per-group accuracy side "
            "by side with intervals, and each one's difference to the baseline."
        )
        self.compare_button.setEnabled(False)
        self.compare_button.clicked.connect(self.compare)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.comparisons: list[RunComparisonView] = []
        top = QHBoxLayout()
        top.addWidget(self.empty, 1)
        top.addWidget(self.compare_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        hub.session_changed.connect(self.set_session)
        hub.runs_changed.connect(self._fill)

    def set_session(self, session: Session | None) -> None:
        for view in list(self.comparisons):  # they compared the previous project's runs
            view.close()
        self._fill(session.runs if session is not None else Runs())

    def _fill(self, runs: Runs) -> None:
        self.runs = runs.records
        self.empty.setVisible(not runs.records)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(runs.records))
        for row, run in enumerate(runs.records):
            for column, item in enumerate(_cells(run)):
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self._on_selection()

    def selected_runs(self) -> list[engine.RunRecord]:
        """The selected finished runs, in the table's order."""
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        ids = [self.table.item(row, 0).text() for row in rows if self.table.item(row, 0)]
        by_id = {run["id"]: run for run in self.runs if run.get("status") == "done"}
        return [by_id[i] for i in ids if i in by_id]

    def _on_selection(self) -> None:
        self.compare_button.setEnabled(len(self.selected_runs()) >= 2)

    def _forget(self, view: RunComparisonView, *_: object) -> None:
        if view in self.comparisons:
            self.comparisons.remove(view)

    def compare(self) -> RunComparisonView | None:
        """Open a comparison of the selected runs (a window of its own)."""
        runs = self.selected_runs()
        if len(runs) < 2 or self.hub.session is None:
            return None
        view = RunComparisonView(self.hub, runs, self)
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view.finished.connect(partial(self._forget, view))
        self.comparisons.append(view)
        view.show()
        return view


def _runs_widget() -> QTableWidget:
    table = QTableWidget(0, len(COLUMNS))
    table.setObjectName("runs")
    for column, (title, tip) in enumerate(COLUMNS):
        item = QTableWidgetItem(title)
        item.setToolTip(tip)
        table.setHorizontalHeaderItem(column, item)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.setSelectionMode(QTableWidget.SelectionMode.ExtendedSelection)
    table.setSortingEnabled(True)
    return table


def _cells(run: engine.RunRecord) -> list[QTableWidgetItem]:
    config, metrics = run.get("config", {}), run.get("metrics", {}) or {}
    val, test = metrics.get("val") or {}, metrics.get("test") or {}
    return [
        _text(run["id"]),
        _text(time.strftime("%Y-%m-%d %H:%M", time.localtime(run.get("created", 0)))),
        _text(run.get("method", "")),
        _text(config.get("backbone", "")),
        _text(config.get("confounder") or "—"),
        _text(run.get("status", "")),
        _metric(val.get("avg_acc")),
        _worst(val),
        _metric(test.get("avg_acc")),
        _worst(test),
        _metric(test.get("worst_group_n")),
        _metric(test.get("worst_group_acc_raw"), _raw_tip(test)),
        _metric(test.get("unbiased_acc")),
    ]


class _MetricItem(QTableWidgetItem):
    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine = self.data(Qt.ItemDataRole.UserRole)
        theirs = other.data(Qt.ItemDataRole.UserRole)
        return (mine if mine is not None else -1.0) < (theirs if theirs is not None else -1.0)


def _text(value: str) -> QTableWidgetItem:
    return QTableWidgetItem(str(value))


def _metric(value: float | None, tip: str = "") -> QTableWidgetItem:
    shown = "—" if value is None else str(value) if isinstance(value, int) else f"{value:.3f}"
    item = _MetricItem(shown)
    item.setData(Qt.ItemDataRole.UserRole, None if value is None else float(value))
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if tip:
        item.setToolTip(tip)
    return item


def _worst(block: dict[str, Any]) -> QTableWidgetItem:
    """The robust worst-group figure, its group, n and interval in the tooltip (runs recorded
    before group sizes were kept show the figure alone)."""
    group = block.get("worst_group")
    entry = (block.get("per_group") or {}).get(group) if group else None
    if entry is None or "ci" not in entry:
        return _metric(block.get("worst_group_acc"))
    low, high = entry["ci"]
    tip = (
        f"{group}: {entry['correct']} of {entry['n']} correct, 95 % interval "
        f"[{low:.2f}, {high:.2f}]; groups of at least {block.get('min_group_size')} images count."
    )
    return _metric(block.get("worst_group_acc"), f"{tip} {_raw_tip(block)}")


def _raw_tip(block: dict[str, Any]) -> str:
    raw = block.get("worst_group_raw")
    entry = (block.get("per_group") or {}).get(raw) if raw else None
    if entry is None or "n" not in entry:
        return ""
    return f"Over all groups: {raw}, {entry['acc']:.3f} with n={entry['n']}."

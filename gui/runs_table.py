"""All runs of the project side by side (ERM against the cures): method, backbone, confounder,
status and the headline metrics, read from the project store in a worker and sortable."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui import engine
from debias_studio.gui.hub import Hub
from debias_studio.gui.session import Column, Session

COLUMNS = (
    ("Run", "Run id (its folder under runs/)."),
    ("Started", "When the run started."),
    ("Method", "ERM is the baseline; the others are cures."),
    ("Backbone", "What was trained: a head on CLIP features, a small CNN, or CLIP itself."),
    ("Confounder", "The attribute the cure was told about (groups = class × value)."),
    ("Status", "done, running, cancelled (resumable) or failed."),
    ("Val avg", "Validation accuracy over all images."),
    ("Val worst", "Validation accuracy of the worst (class, value) group: what a cure improves."),
    ("Test avg", "Test accuracy over all images."),
    ("Test worst", "Test accuracy of the worst group."),
    ("Test unbiased", "Mean of the per-group test accuracies (every group weighs the same)."),
)


class RunsTable(QWidget):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runs_table")
        self.hub = hub
        self.session: Session | None = None
        self.runs: list[dict[str, Any]] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("runs")
        for column, (title, tip) in enumerate(COLUMNS):
            item = QTableWidgetItem(title)
            item.setToolTip(tip)
            self.table.setHorizontalHeaderItem(column, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSortingEnabled(True)
        self.empty = QLabel("No runs yet: train one in the Training panel.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        hub.session_changed.connect(self.set_session)
        hub.runs_changed.connect(self.refresh)

    def set_session(self, session: Session | None) -> None:
        self.session = session
        self._fill([])
        self.refresh()

    def refresh(self) -> None:
        if self.session is None:
            return
        project = self.session.project
        self.hub.runner.start(
            "Reading runs",
            lambda _t: engine.read_runs(project),
            key="runs",
            quiet=True,
            on_done=lambda result, p=project: self._on_read(result) if self._current(p) else None,
        )

    def _current(self, project: Any) -> bool:
        return self.session is not None and self.session.project is project

    def _on_read(self, result: tuple[list[dict[str, Any]], str | None, Any]) -> None:
        runs, run_id, predictions = result
        session = self.session
        if session is not None:
            if predictions is None:
                session.extra.pop("predictions", None)
                session.extra.pop("correctness", None)
            else:
                labels = session.labels.codes
                correct = np.where(predictions < 0, -1, (predictions == labels).astype(np.int32))
                session.extra["predictions"] = (run_id, predictions)
                session.extra["correctness"] = Column(correct.astype(np.int32), ["wrong", "right"])
        self._fill(runs)

    def _fill(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs
        self.empty.setVisible(not runs)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(runs))
        for row, run in enumerate(runs):
            config, metrics = run.get("config", {}), run.get("metrics", {}) or {}
            val, test = metrics.get("val") or {}, metrics.get("test") or {}
            cells = [
                _text(run["id"]),
                _text(time.strftime("%Y-%m-%d %H:%M", time.localtime(run.get("created", 0)))),
                _text(run.get("method", "")),
                _text(config.get("backbone", "")),
                _text(config.get("confounder") or "—"),
                _text(run.get("status", "")),
                _metric(val.get("avg_acc")),
                _metric(val.get("worst_group_acc")),
                _metric(test.get("avg_acc")),
                _metric(test.get("worst_group_acc")),
                _metric(test.get("unbiased_acc")),
            ]
            for column, item in enumerate(cells):
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self.hub.runs_listed.emit(runs)


class _MetricItem(QTableWidgetItem):
    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine = self.data(Qt.ItemDataRole.UserRole)
        theirs = other.data(Qt.ItemDataRole.UserRole)
        return (mine if mine is not None else -1.0) < (theirs if theirs is not None else -1.0)


def _text(value: str) -> QTableWidgetItem:
    return QTableWidgetItem(str(value))


def _metric(value: float | None) -> QTableWidgetItem:
    item = _MetricItem("—" if value is None else f"{value:.3f}")
    item.setData(Qt.ItemDataRole.UserRole, None if value is None else float(value))
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item

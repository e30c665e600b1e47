"""The jobs panel: every long action with its progress bar and a Cancel button; a failure shows
its readable message, with the technical details one click away."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from debias_studio.core.jobs import Progress
from debias_studio.gui.plain import plain_eliding_label, plain_label, warning_box
from debias_studio.gui.workers import JobHandle, JobRunner

KEEP_FINISHED = 6


class JobRow(QWidget):
    def __init__(self, handle: JobHandle, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.handle = handle
        self.setObjectName("job_row")
        self.title = plain_label(handle.name)  # names carry folder names: never markup
        bold = self.title.font()
        bold.setBold(True)
        self.title.setFont(bold)
        self.title.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self.message = plain_eliding_label("starting…")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setTextVisible(True)
        self.bar.setMinimumWidth(160)
        self.bar.setMaximumWidth(360)
        self.bar.setMaximumHeight(18)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this job at its next step; nothing is lost.")
        self.cancel_button.clicked.connect(self._cancel)
        self.details_button = QPushButton("Details…")
        self.details_button.setVisible(False)
        self.details_button.clicked.connect(self._show_details)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.message, 2)
        layout.addWidget(self.cancel_button)
        layout.addWidget(self.details_button)
        handle.progressed.connect(self._on_progress)
        handle.ended.connect(self._on_ended)

    def _cancel(self) -> None:
        self.handle.cancel()
        self.message.setText("cancelling…")

    def _on_progress(self, progress: Progress) -> None:
        if progress.total > 0:
            self.bar.setRange(0, progress.total)
            self.bar.setValue(min(progress.done, progress.total))
        else:
            self.bar.setRange(0, 0)
        self.message.setText(progress.message)

    def _on_ended(self, state: str) -> None:
        self.cancel_button.setVisible(False)
        self.bar.setRange(0, 1)
        elapsed = time.monotonic() - self.handle.started_at
        if state == "done":
            self.bar.setValue(1)
            self.message.setText(f"done in {elapsed:.1f} s")
        elif state == "cancelled":
            self.bar.setValue(0)
            self.message.setText("cancelled")
        else:
            self.bar.setValue(0)
            self.message.setText(self.handle.message)
            self.message.setStyleSheet("color: #a94442;")
            self.details_button.setVisible(bool(self.handle.details))

    def _show_details(self) -> None:
        warning_box(self, self.handle.name, self.handle.message, self.handle.details).open()


class JobsPanel(QWidget):
    """Lists running jobs and the last few finished ones."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobs_panel")
        self.runner = runner
        self.rows: list[JobRow] = []
        self.empty = plain_label("No jobs yet. Long actions (scan, embed, train…) appear here.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: palette(mid);")
        inner = QWidget()
        self.list = QVBoxLayout(inner)
        self.list.setContentsMargins(0, 0, 0, 0)
        self.list.setSpacing(0)
        self.list.addWidget(self.empty)
        self.list.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        runner.job_added.connect(self._on_added)
        runner.job_ended.connect(self._trim)

    def _on_added(self, handle: JobHandle) -> None:
        if handle.property("quiet"):
            return
        self.empty.setVisible(False)
        row = JobRow(handle)
        self.rows.insert(0, row)
        self.list.insertWidget(0, row)

    def _trim(self, _handle: JobHandle) -> None:
        finished = [r for r in self.rows if not r.handle.running]
        for row in finished[KEEP_FINISHED:]:
            self.rows.remove(row)
            row.deleteLater()

    def row_for(self, handle: JobHandle) -> JobRow | None:
        return next((r for r in self.rows if r.handle is handle), None)

"""The detail pane: the selected image large, its metadata, its top concepts and the latest
run's prediction. The large image is decoded in a worker like everything else."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui.session import Session
from debias_studio.gui.thumbnails import make_thumbnail
from debias_studio.gui.workers import JobRunner

PREVIEW_SIZE = 320

ExtraInfo = Callable[[int], list[tuple[str, str]]]
"""Given an image id, rows (name, value) another panel adds: top concepts, prediction, values."""


class DetailPane(QWidget):
    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detail_pane")
        self.runner = runner
        self.session: Session | None = None
        self.image_id: int | None = None
        self.providers: dict[str, ExtraInfo] = {}
        self.image = QLabel("Select an image to see it here.")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(160, 160)
        self.image.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Field", "Value"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents
        )
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.image, 3)
        layout.addWidget(self.table, 2)
        self._pixmap: QPixmap | None = None

    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.show_image(None)

    def show_image(self, image_id: int | None) -> None:
        self.image_id = image_id
        self._pixmap = None
        if self.session is None or image_id is None:
            self.image.setPixmap(QPixmap())
            self.image.setText("Select an image to see it here.")
            self.table.setRowCount(0)
            return
        self.image.setText("loading…")
        path = self.session.dataset.root / str(self.session.paths[image_id])
        self.runner.start(
            "Loading image",
            lambda _t, p=path: make_thumbnail(Path(p), None, PREVIEW_SIZE),
            key="detail-image",
            quiet=True,
            on_done=lambda img, i=image_id: self._on_image(i, img),
        )
        self.refresh_info()

    def refresh_info(self) -> None:
        if self.session is None or self.image_id is None:
            return
        image_id = self.image_id
        rows: list[tuple[str, str]] = [("image id", str(image_id))]
        for key, value in self.session.row(image_id).items():
            if key in ("size", "mtime_ns") or value in ("", None):
                continue
            rows.append((key, str(value)))
        for provider in self.providers.values():
            rows.extend(provider(image_id))
        self.table.setRowCount(len(rows))
        for r, (key, value) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(key))
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            self.table.setItem(r, 1, item)

    def _on_image(self, image_id: int, image: QImage | None) -> None:
        if image_id != self.image_id:
            return  # a newer selection wins
        if image is None:
            self.image.setText("This image could not be read.")
            return
        self._pixmap = QPixmap.fromImage(image)
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._pixmap is None:
            return
        size = self.image.size()
        side = max(32, min(size.width(), size.height()) - 4)
        scaled = self._pixmap.scaled(
            side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
        )
        self.image.setPixmap(scaled)

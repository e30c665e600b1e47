"""The detail pane: the current image large, its metadata, its top concepts, its confounder
values and the latest run's prediction. The large image is decoded in a worker like everything
else; the rest comes from the session's typed state, and the pane follows the hub's signals."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui.hub import Hub
from debias_studio.gui.plain import plain_label, tooltip
from debias_studio.gui.session import Session
from debias_studio.gui.thumbnails import make_thumbnail

PREVIEW_SIZE = 320
HIDDEN_FIELDS = ("size", "mtime_ns")


class DetailPane(QWidget):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detail_pane")
        self.hub = hub
        self.session: Session | None = None
        self.image_id: int | None = None
        self.image = plain_label("Select an image to see it here.")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(160, 160)
        self.image.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image.setWordWrap(True)
        self.table = _field_table()
        layout = QVBoxLayout(self)
        layout.addWidget(self.image, 3)
        layout.addWidget(self.table, 2)
        self._pixmap: QPixmap | None = None
        hub.session_changed.connect(self.set_session)
        hub.grid.current_changed.connect(self.show_image)
        for change in (hub.confounders_changed, hub.runs_changed, hub.discovery_changed):
            change.connect(self.refresh_info)

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
        root, relative = self.session.dataset.root, str(self.session.paths[image_id])
        self.hub.runner.start(
            "Loading image",
            lambda _t, r=root, p=relative: make_thumbnail(r, p, None, PREVIEW_SIZE),
            key="detail-image",
            quiet=True,
            on_done=partial(self._on_image, image_id),
        )
        self.refresh_info()

    def refresh_info(self, *_: object) -> None:
        """Metadata and annotations of the shown image (also when the state they come from
        changed: a confounder value, a new run, a discovery)."""
        session, image_id = self.session, self.image_id
        if session is None or image_id is None:
            return
        rows: list[tuple[str, str]] = [("image id", str(image_id))]
        for key, value in session.row(image_id).items():
            if key not in HIDDEN_FIELDS and value not in ("", None):
                rows.append((key, str(value)))
        rows.extend(session.annotations(image_id))
        self.table.setRowCount(len(rows))
        for r, (key, value) in enumerate(rows):
            field = QTableWidgetItem(key)
            field.setToolTip(tooltip(key))
            self.table.setItem(r, 0, field)
            item = QTableWidgetItem(value)
            item.setToolTip(tooltip(value))
            self.table.setItem(r, 1, item)
        self._fit_field_column()

    def _fit_field_column(self) -> None:
        """Field names as wide as they need, but never more than 40 % of the table: a long
        metadata column name must not squeeze every value to a few letters."""
        self.table.resizeColumnToContents(0)
        limit = max(80, self.table.viewport().width() * 2 // 5)
        if self.table.columnWidth(0) > limit:
            self.table.setColumnWidth(0, limit)

    def _on_image(self, image_id: int, image: QImage | None) -> None:
        if image_id != self.image_id:
            return  # a newer selection wins
        if image is None:
            self.image.setText("This image could not be read.")
            return
        self._pixmap = QPixmap.fromImage(image)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
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


def _field_table() -> QTableWidget:
    table = QTableWidget(0, 2)
    table.setHorizontalHeaderLabels(["Field", "Value"])
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setWordWrap(False)
    return table

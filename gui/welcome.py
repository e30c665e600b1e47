"""The start page shown while no project is open: the demos one click away, open/create, recent."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui.plain import plain_label, tooltip


class WelcomePage(QWidget):
    demo_requested = Signal(str)  # 'digits' | 'backgrounds'
    open_requested = Signal()
    new_from_folder_requested = Signal()
    new_from_manifest_requested = Signal()
    recent_requested = Signal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        title = QLabel("<h1>Debias Studio</h1>")  # our own markup; nothing user-supplied
        title.setTextFormat(Qt.TextFormat.RichText)
        intro = plain_label(
            "Find the concepts your image labels lean on, mark the spurious ones as confounders, "
            "train cures and compare them per group. Drop an image folder, a manifest (CSV or "
            "Parquet) or a project folder anywhere on this window to open it."
        )
        intro.setWordWrap(True)
        recent_box = QGroupBox("Recent projects")
        self.recent = QListWidget()
        self.recent.setObjectName("recent_list")
        self.recent.itemActivated.connect(self._on_recent)
        QVBoxLayout(recent_box).addWidget(self.recent)
        column = QVBoxLayout()
        column.addWidget(title)
        column.addWidget(intro)
        column.addWidget(self._build_start())
        column.addWidget(recent_box, 1)
        holder = QWidget()
        holder.setLayout(column)
        holder.setMaximumWidth(760)
        outer = QVBoxLayout(self)
        outer.addWidget(holder, 1, Qt.AlignmentFlag.AlignHCenter)

    def _build_start(self) -> QGroupBox:
        start = QGroupBox("Start")
        grid = QGridLayout(start)
        self.demo_digits = _button(
            "Demo: coloured digits",
            "Handwritten digits whose colour follows the class in 95 % of training images.",
        )
        self.demo_backgrounds = _button(
            "Demo: objects on backgrounds",
            "Objects pasted on backgrounds that follow the class in training (Waterbirds-like).",
        )
        self.open_button = _button("Open project…", "Open an existing project folder.")
        self.folder_button = _button(
            "New from image folder…", "A folder with one sub-folder of images per class."
        )
        self.manifest_button = _button(
            "New from manifest…", "A CSV or Parquet file with path and label columns."
        )
        grid.addWidget(self.demo_digits, 0, 0)
        grid.addWidget(self.demo_backgrounds, 0, 1)
        grid.addWidget(self.open_button, 1, 0)
        grid.addWidget(self.folder_button, 1, 1)
        grid.addWidget(self.manifest_button, 2, 1)
        self.demo_digits.clicked.connect(self._digits)
        self.demo_backgrounds.clicked.connect(self._backgrounds)
        self.open_button.clicked.connect(self.open_requested)
        self.folder_button.clicked.connect(self.new_from_folder_requested)
        self.manifest_button.clicked.connect(self.new_from_manifest_requested)
        return start

    def _digits(self) -> None:
        self.demo_requested.emit("digits")

    def _backgrounds(self) -> None:
        self.demo_requested.emit("backgrounds")

    def _on_recent(self, item: QListWidgetItem) -> None:
        folder = item.data(Qt.ItemDataRole.UserRole)
        if folder:
            self.recent_requested.emit(Path(folder))

    def set_recent(self, folders: list[Path]) -> None:
        self.recent.clear()
        for folder in folders:
            item = QListWidgetItem(f"{folder.name}    —    {folder}")
            item.setData(Qt.ItemDataRole.UserRole, str(folder))
            item.setToolTip(tooltip(str(folder)))
            self.recent.addItem(item)
        if not folders:
            self.recent.addItem("(none yet)")


def _button(text: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.setMinimumHeight(36)
    return button

"""The export entry point: choose a folder, the formats and how image files are placed; the
export engine (core.export.export_project) then runs as a job in the jobs panel, writing all or
nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui import engine
from debias_studio.gui.hub import Hub
from debias_studio.gui.workers import JobHandle

FORMAT_LABELS = {
    "manifest": (
        "Manifest",
        "CSV and Parquet of the cleaned dataset, with confounder and group columns.",
    ),
    "imagefolder": ("Image folder", "One sub-folder per class, without the excluded images."),
    "balanced": (
        "Group-balanced subset",
        "Every (class, value) group equally represented, with a Waterbirds-style metadata.csv.",
    ),
    "counterfactuals": (
        "Counterfactual images",
        "Training images rendered under every value of the confounder.",
    ),
    "report": ("Report", "An HTML report: discovery, confounders, groups and the runs compared."),
}
DEFAULT_FORMATS = ("manifest", "imagefolder", "report")
LINK_MODES = ("symlink", "hardlink", "copy")


class ExportDialog(QDialog):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("export_dialog")
        self.setWindowTitle("Export the cleaned dataset")
        self.hub = hub
        session = hub.session
        default = session.folder / "export" if session is not None else Path.home() / "export"
        self.folder = QLineEdit(str(default))
        self.folder.setToolTip("A new (or empty) folder; the export is written all or nothing.")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.formats: dict[str, QCheckBox] = {}
        for key, (label, tip) in FORMAT_LABELS.items():
            box = QCheckBox(label)
            box.setToolTip(tip)
            box.setChecked(key in DEFAULT_FORMATS)
            self.formats[key] = box
        self.link = QComboBox()
        self.link.addItems(list(LINK_MODES))
        self.link.setToolTip("How image files are placed: links save space, copies travel.")
        self.confounder = QComboBox()
        self.confounder.setToolTip(
            "The confounder whose groups fill the group columns and drive the balanced subset."
        )
        self.confounder.addItem("(first annotated)", None)
        if session is not None:
            for name in session.extra.get("confounder_columns", {}):
                self.confounder.addItem(name, name)
            for name in session.attributes:
                self.confounder.addItem(f"{name} (column)", name)
        self.overwrite = QCheckBox("Replace an existing export in that folder")
        form = QFormLayout()
        form.addRow("Folder", row)
        formats = QVBoxLayout()
        for box in self.formats.values():
            formats.addWidget(box)
        form.addRow("Formats", formats)
        form.addRow("Image files", self.link)
        form.addRow("Confounder", self.confounder)
        form.addRow("", self.overwrite)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.export)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.resize(600, self.sizeHint().height())
        self.handle: JobHandle | None = None

    def options(self) -> dict[str, Any]:
        return {
            "formats": [key for key, box in self.formats.items() if box.isChecked()],
            "link": self.link.currentText(),
            "confounder": self.confounder.currentData(),
            "overwrite": self.overwrite.isChecked(),
        }

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def export(self) -> JobHandle | None:
        session = self.hub.session
        if session is None:
            return None
        project, target, options = session.project, Path(self.folder.text()), self.options()
        self.handle = self.hub.runner.start(
            "Exporting",
            lambda token: engine.run_export(project, target, options, token),
            key="export",
            on_done=lambda _r: self.hub.status_message.emit(f"Exported to {target}"),
        )
        self.accept()
        return self.handle

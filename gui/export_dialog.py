"""The export entry point: choose a folder, the formats and how image files are placed; the
export engine (core.export.export_project) then runs as a job in the jobs panel, writing all or
nothing."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui import engine
from debias_studio.gui.hub import Hub
from debias_studio.gui.plain import plain_label
from debias_studio.gui.session import Session
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


@dataclass(frozen=True)
class ExportChoice:
    """What the dialog asks the export engine for."""

    target: Path
    formats: list[str]
    link: str
    confounder: str | None
    overwrite: bool


class ExportDialog(QDialog):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("export_dialog")
        self.setWindowTitle("Export the cleaned dataset")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.hub = hub
        self.handle: JobHandle | None = None
        session = hub.session
        default = session.folder / "export" if session is not None else Path.home() / "export"
        self.folder = QLineEdit(str(default))
        self.folder.setToolTip("A new (or empty) folder; the export is written all or nothing.")
        self.formats = _format_boxes()
        self.link = QComboBox()
        self.link.addItems(list(LINK_MODES))
        self.link.setToolTip("How image files are placed: links save space, copies travel.")
        self.confounder = _confounder_box(session)
        self.overwrite = QCheckBox("Replace an existing export in that folder")
        self.note = plain_label()
        self.note.setWordWrap(True)
        self._build_layout()
        self.resize(600, self.sizeHint().height())

    def _build_layout(self) -> None:
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        formats = QVBoxLayout()
        for box in self.formats.values():
            formats.addWidget(box)
        form = QFormLayout()
        form.addRow("Folder", row)
        form.addRow("Formats", formats)
        form.addRow("Image files", self.link)
        form.addRow("Confounder", self.confounder)
        form.addRow("", self.overwrite)
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

    def choice(self) -> ExportChoice:
        return ExportChoice(
            target=Path(self.folder.text()),
            formats=[key for key, box in self.formats.items() if box.isChecked()],
            link=self.link.currentText(),
            confounder=self.confounder.currentData(),
            overwrite=self.overwrite.isChecked(),
        )

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def export(self) -> JobHandle | None:
        """Start the export job and close the dialog (it runs on in the jobs panel)."""
        session = self.hub.session
        if session is None:
            return None
        project, choice, hub = session.project, self.choice(), self.hub
        self.handle = hub.runner.start(
            "Exporting",
            lambda token: engine.run_export(
                project,
                choice.target,
                choice.formats,
                link=choice.link,
                confounder=choice.confounder,
                overwrite=choice.overwrite,
                cancel=token,
            ),
            key="export",
            on_done=partial(_exported, hub, choice.target),
        )
        self.accept()
        return self.handle


def _exported(hub: Hub, target: Path, _result: object) -> None:
    hub.status_message.emit(f"Exported to {target}")


def _format_boxes() -> dict[str, QCheckBox]:
    boxes = {}
    for key, (label, tip) in FORMAT_LABELS.items():
        box = QCheckBox(label)
        box.setToolTip(tip)
        box.setChecked(key in DEFAULT_FORMATS)
        boxes[key] = box
    return boxes


def _confounder_box(session: Session | None) -> QComboBox:
    box = QComboBox()
    box.setToolTip(
        "The confounder whose groups fill the group columns and drive the balanced subset."
    )
    box.addItem("(first annotated)", None)
    if session is not None:
        for name in session.confounders:
            box.addItem(name, name)
        for name in session.attributes:
            box.addItem(f"{name} (column)", name)
    return box

"""The export entry point: choose a folder, the formats, how image files are placed, whose
predictions go into the manifest and how a balanced subset is drawn. Before anything is written the
dialog shows, from a worker, what the export would do: which runs it can carry, what an overwrite
would remove (the first Export click only shows it; a second one confirms), and the balanced
subset's group sizes, warnings or refusal. The export engine (core.export.export_project) then
runs as a job in the jobs panel, writing all or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

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
    QSpinBox,
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
    "imagefolder": (
        "Image folder",
        "split/class sub-folders with a manifest; excluded images kept apart in excluded/.",
    ),
    "huggingface": (
        "Hugging Face imagefolder",
        "Per-split folders with metadata.jsonl, as datasets.load_dataset('imagefolder') reads.",
    ),
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
LINK_MODES = {
    "auto": "Hard links where possible, else copies (self-contained)",
    "copy": "Copies (self-contained)",
    "hardlink": "Hard links only (same disk)",
    "symlink": "Links to the dataset (not self-contained; checked)",
}
BEST_RUN = "best"
MIN_GROUP = 5


@dataclass(frozen=True)
class ExportChoice:
    """What the dialog asks the export engine for."""

    target: Path
    formats: list[str]
    link: str
    confounder: str | None
    overwrite: bool
    prediction_run: str | None = BEST_RUN
    balance: str = "down"
    min_group: int = MIN_GROUP


class ExportDialog(QDialog):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("export_dialog")
        self.setWindowTitle("Export the cleaned dataset")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.hub = hub
        self.handle: JobHandle | None = None
        self.plan_handle: JobHandle | None = None
        self.plan: dict[str, Any] | None = None
        self.plan_folder = ""
        self._confirmed_removal: str | None = None
        session = hub.session
        self.folder = QLineEdit(str(default_folder(session)))
        self.folder.setToolTip("A new (or empty) folder; the export is written all or nothing.")
        self.formats = _format_boxes()
        self.link = _choice_box(LINK_MODES, "How image files are placed: the default stands alone.")
        self.prediction = _choice_box(
            {BEST_RUN: "Best run (validation worst-group accuracy)", None: "None"},
            "Whose predictions fill the manifest's prediction column.",
        )
        self.confounder = _confounder_box(session)
        self.balance = _choice_box(
            {
                "down": "Down-sample to the smallest group",
                "up": "Up-sample to the largest group",
                "fill": "Fill thin training groups with counterfactual images",
            },
            "How the balanced subset evens out its groups.",
        )
        self.min_group = QSpinBox()
        self.min_group.setRange(1, 100_000)
        self.min_group.setValue(MIN_GROUP)
        self.min_group.setToolTip("Refuse a down-sampled subset with fewer images per group.")
        self.overwrite = QCheckBox("Replace an earlier export in that folder")
        self.note = plain_label()
        self.note.setWordWrap(True)
        self._build_layout()
        self.resize(640, self.sizeHint().height())
        self._connect_plan_checks()
        self.check_plan()

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
        form.addRow("Predictions", self.prediction)
        form.addRow("Confounder", self.confounder)
        form.addRow("Balanced subset", self.balance)
        form.addRow("Smallest group", self.min_group)
        form.addRow("", self.overwrite)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Export")
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
            link=self.link.currentData(),
            confounder=self.confounder.currentData(),
            overwrite=self.overwrite.isChecked(),
            prediction_run=self.prediction.currentData(),
            balance=self.balance.currentData(),
            min_group=self.min_group.value(),
        )

    def _connect_plan_checks(self) -> None:
        for box in self.formats.values():
            box.toggled.connect(self.check_plan)
        for combo in (self.confounder, self.balance):
            combo.currentIndexChanged.connect(self.check_plan)
        self.min_group.valueChanged.connect(self.check_plan)
        self.overwrite.toggled.connect(self.check_plan)
        self.folder.editingFinished.connect(self.check_plan)

    def check_plan(self, *_args: object) -> JobHandle | None:
        """Ask a worker what the export would do; ``show_plan`` gets the answer."""
        session = self.hub.session
        if session is None:
            return None
        project, choice = session.project, self.choice()
        options = {"formats": choice.formats, "confounder": choice.confounder,
                   "balance": choice.balance, "min_group": choice.min_group}  # fmt: skip
        target = str(choice.target)
        self.plan_handle = self.hub.runner.start(
            "Checking the export",
            lambda token: (target, engine.export_plan(project, choice.target, options, token)),
            key="export-plan",
            on_done=self._plan_arrived,  # a bound method: dropped if the dialog is gone
            quiet=True,
        )
        return self.plan_handle

    def _plan_arrived(self, answer: tuple[str, dict[str, Any]]) -> None:
        folder, plan = answer
        self.show_plan(plan, folder)

    def show_plan(self, plan: dict[str, Any], folder: str = "") -> None:
        self.plan, self.plan_folder = plan, folder
        chosen = self.prediction.currentData()
        while self.prediction.count() > 2:
            self.prediction.removeItem(2)
        for run in plan.get("runs", []):
            worst = run.get("val_worst_group")
            score = f"{worst:.3f}" if isinstance(worst, float) else "n/a"
            self.prediction.addItem(f"{run['method']} {run['id']} (val worst {score})", run["id"])
        self.prediction.setCurrentIndex(max(0, self.prediction.findData(chosen)))
        self.note.setText(self.plan_text(plan))

    def plan_text(self, plan: dict[str, Any]) -> str:
        lines = []
        if plan.get("refusal"):
            lines.append(str(plan["refusal"]))
        elif plan.get("removes") and self.overwrite.isChecked():
            lines.append(str(plan["removes"]))
        elif plan.get("removes"):
            lines.append("The folder holds an earlier export; allow replacing it to export there.")
        if plan.get("balanced"):
            lines.append(engine.describe_balance(plan["balanced"]))
        return "\n".join(lines)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if folder:
            self.folder.setText(folder)
            self.check_plan()

    def export(self) -> JobHandle | None:
        """Start the export job and close the dialog (it runs on in the jobs panel)."""
        session = self.hub.session
        if session is None:
            return None
        project, choice, hub = session.project, self.choice(), self.hub
        if not self._removal_shown(choice):
            return None
        self.handle = hub.runner.start(
            "Exporting",
            lambda token: engine.run_export(
                project,
                choice.target,
                choice.formats,
                link=choice.link,
                confounder=choice.confounder,
                overwrite=choice.overwrite,
                prediction_run=choice.prediction_run,
                balance=choice.balance,
                min_group=choice.min_group,
                cancel=token,
            ),
            key="export",
            on_done=partial(_exported, hub, choice.target),
        )
        self.accept()
        return self.handle

    def _removal_shown(self, choice: ExportChoice) -> bool:
        """With overwrite, what would be removed is shown first; the next click confirms."""
        if not choice.overwrite:
            return True
        if self.plan is None or self.plan_folder != str(choice.target):
            self.check_plan()
            self.note.setText("Checking what replacing that folder would remove…")
            return False
        removes = self.plan.get("removes")
        if removes and self._confirmed_removal != removes:
            self._confirmed_removal = removes
            self.note.setText(f"{removes}\nPress 'Replace and export' to go ahead.")
            self.ok.setText("Replace and export")
            return False
        return True


def default_folder(session: Session | None) -> Path:
    """Beside the project, or beside the dataset when the project lies inside the dataset's
    folder: the engine refuses an export inside a project or a dataset."""
    if session is None:
        return Path.home() / "export"
    beside = session.folder.parent / f"{session.folder.name}-export"
    root = Path(session.dataset.root).resolve()
    if beside.resolve().is_relative_to(root):
        return root.parent / f"{root.name}-export"
    return beside


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


def _choice_box(choices: dict[Any, str], tip: str) -> QComboBox:
    box = QComboBox()
    for data, text in choices.items():
        box.addItem(text, data)
    box.setToolTip(tip)
    return box


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

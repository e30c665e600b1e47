"""Edit the project's concept bank: categories, their concepts (one per line) and the prompt
templates. Loading and saving go through core.concepts (project_bank / save_project_bank) in
workers; the engine validates, and a refusal is shown without closing the dialog."""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui import engine
from debias_studio.gui.hub import Hub
from debias_studio.gui.plain import plain_label


class ConceptBankDialog(QDialog):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("concept_bank_dialog")
        self.setWindowTitle("Concept bank")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.hub = hub
        self.data: dict[str, Any] = {}
        self.categories = QListWidget()
        self.categories.currentTextChanged.connect(self._show_category)
        self.members = QPlainTextEdit()
        self.members.setPlaceholderText("one concept per line")
        self.members.textChanged.connect(self._store_members)
        self.templates = QLineEdit()
        self.templates.setToolTip(
            "Prompt templates separated by ';', each with {} where the concept goes; a concept's "
            "text embedding is the mean over them."
        )
        add = QPushButton("Add category…")
        add.clicked.connect(self._add_category)
        remove = QPushButton("Remove category")
        remove.clicked.connect(self._remove_category)
        self.message = plain_label("loading…")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        left = QVBoxLayout()
        left.addWidget(self.categories, 1)
        left.addWidget(add)
        left.addWidget(remove)
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addWidget(self.members, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(plain_label("Prompt templates"))
        layout.addWidget(self.templates)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.resize(640, 480)
        self._current: str | None = None
        if hub.session is not None:
            project = hub.session.project
            hub.runner.start(
                "Reading the concept bank",
                lambda _t: engine.load_bank_dict(project),
                quiet=True,
                on_done=self._on_loaded,
                on_error=self._show_error,
            )

    def _on_loaded(self, data: dict[str, Any]) -> None:
        self.data = data
        self.templates.setText("; ".join(data.get("prompt_templates", [])))
        self.categories.clear()
        self.categories.addItems(list(data.get("categories", {})))
        self.categories.setCurrentRow(0)
        count = sum(len(v) for v in data.get("categories", {}).values())
        self.message.setText(f"{count} concepts in {self.categories.count()} categories.")

    def _show_category(self, name: str) -> None:
        self._current = None
        self.members.setPlainText("\n".join(self.data.get("categories", {}).get(name, [])))
        self._current = name or None

    def _store_members(self) -> None:
        if self._current is None:
            return
        lines = [line.strip() for line in self.members.toPlainText().splitlines()]
        self.data.setdefault("categories", {})[self._current] = [line for line in lines if line]

    def _add_category(self) -> None:
        name, ok = QInputDialog.getText(self, "New category", "Name")
        if ok and name.strip():
            self.add_category(name.strip())

    def add_category(self, name: str) -> None:
        self.data.setdefault("categories", {}).setdefault(name, [])
        self.categories.addItem(name)
        self.categories.setCurrentRow(self.categories.count() - 1)

    def _remove_category(self) -> None:
        item = self.categories.currentItem()
        if item is not None:
            self.data.get("categories", {}).pop(item.text(), None)
            self.categories.takeItem(self.categories.row(item))

    def save(self) -> None:
        session = self.hub.session
        if session is None:
            return
        data = copy.deepcopy(self.data)  # the worker's own: the editor may change its lists
        data["prompt_templates"] = [
            t.strip() for t in self.templates.text().split(";") if t.strip()
        ]
        project = session.project
        self.hub.runner.start(
            "Saving the concept bank",
            lambda _t: engine.save_bank_dict(project, data),
            quiet=True,
            on_done=partial(self._saved, data),
            on_error=self._show_error,
        )

    def _show_error(self, message: str, _details: str) -> None:
        self.message.setText(message)

    def _saved(self, data: dict[str, Any], _result: object) -> None:
        self.hub.concept_bank_changed.emit(data)
        self.hub.status_message.emit("Concept bank saved; run discovery again to use it.")
        self.accept()

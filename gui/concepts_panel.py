"""The concepts panel: the discovery table (sortable; a plain-language tooltip per column),
the top concepts of a class as a bar chart, a selected row's exemplars (the grid is filtered to
the class and sorted by the concept's score), "mark as confounder", and re-running discovery,
also against a finished run's errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui import engine
from debias_studio.gui.hub import Hub
from debias_studio.gui.session import Session

COLUMNS = {
    "rank": ("Rank", "Overall order: the mean of the three signals' ranks (1 = most suspicious)."),
    "class": ("Class", "The class the concept is measured in."),
    "concept": ("Concept", "A word or phrase from the concept bank, scored with CLIP."),
    "category": ("Category", "The concept bank's group for this concept (colour, texture, …)."),
    "association": (
        "Association",
        "How strongly the concept travels with the class: 1.0 means "
        "images of this class always show it more than other classes do (ROC-AUC).",
    ),
    "error_gap": (
        "Error gap",
        "How much more the concept shows in this class's misclassified "
        "images than in its correct ones: the model fails where it is absent.",
    ),
    "instability": (
        "Instability",
        "How much the model's reliance on the concept changes between "
        "environments (DISC). Core features are stable; shortcuts are not.",
    ),
    "score": ("Combined", "The three signals combined: higher = more likely a shortcut."),
}
Index = QModelIndex | QPersistentModelIndex


class DiscoveryModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.table = pd.DataFrame(columns=list(COLUMNS))
        self.keys = list(COLUMNS)

    def set_table(self, table: pd.DataFrame) -> None:
        self.beginResetModel()
        self.table = table.reset_index(drop=True)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.table)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(self.keys)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self.table[self.keys[index.column()]].iat[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            if isinstance(value, float | np.floating):
                return (
                    ""
                    if np.isnan(value)
                    else (f"{value:.0f}" if self.keys[index.column()] == "rank" else f"{value:.3f}")
                )
            return str(value)
        if role == Qt.ItemDataRole.UserRole:
            return value.item() if hasattr(value, "item") else value
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, float | np.floating):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        title, tip = COLUMNS[self.keys[section]]
        if role == Qt.ItemDataRole.DisplayRole:
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip
        return None


class ConceptsPanel(QWidget):
    mark_requested = Signal(str)

    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("concepts_panel")
        self.hub = hub
        self.session: Session | None = None
        self.model = DiscoveryModel()
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.proxy.setFilterKeyColumn(1)
        self.table = QTableView()
        self.table.setObjectName("discovery_table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._on_row)

        self.class_box = QComboBox()
        self.class_box.setToolTip("Show the concepts of one class.")
        self.class_box.currentIndexChanged.connect(self._on_class)
        self.against = QComboBox()
        self.against.setToolTip(
            "Whose mistakes discovery explains: the reference linear probe, or a finished "
            "training run (what does the cured model still lean on?)."
        )
        self.discover_button = QPushButton("Discover")
        self.discover_button.setToolTip("Score every concept and rank the likely shortcuts.")
        self.discover_button.clicked.connect(self.discover)
        self.mark_button = QPushButton("Mark as confounder")
        self.mark_button.setToolTip(
            "Make the selected concept a confounder (present / absent by a threshold you can "
            "adjust in the Confounders panel)."
        )
        self.mark_button.setEnabled(False)
        self.mark_button.clicked.connect(self._mark)
        self.bank_button = QPushButton("Concepts…")
        self.bank_button.setToolTip("Edit the concept bank: categories, concepts, prompts.")
        self.bank_button.clicked.connect(self.edit_bank)
        self.info = QLabel("Open a project, then discover its concepts.")
        self.info.setWordWrap(True)

        self.chart = pg.PlotWidget(background="w")
        self.chart.setObjectName("concept_chart")
        self.chart.setMinimumHeight(150)
        self.chart.setMaximumHeight(220)
        self.chart.setMenuEnabled(False)
        self.chart.getPlotItem().setTitle("Top concepts of the class (combined score)", size="9pt")
        top = QHBoxLayout()
        top.addWidget(QLabel("Class"))
        top.addWidget(self.class_box, 1)
        top.addWidget(QLabel("against"))
        top.addWidget(self.against, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.discover_button)
        buttons.addWidget(self.mark_button)
        buttons.addWidget(self.bank_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.info)
        self.image_concepts: dict[int, list[str]] = {}
        hub.detail.providers["concepts"] = self.concepts_of
        hub.session_changed.connect(self.set_session)
        hub.runs_listed.connect(self._fill_runs)
        self.runs: list[dict[str, Any]] = []
        self.set_session(None)

    # ---- session -----------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.model.set_table(pd.DataFrame(columns=list(COLUMNS)))
        self.image_concepts = {}
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItem("All classes", None)
        if session is not None:
            for name in session.labels.values:
                self.class_box.addItem(name, name)
        self.class_box.blockSignals(False)
        self.discover_button.setEnabled(session is not None)
        self.bank_button.setEnabled(session is not None)
        self._fill_runs([])
        self._draw_chart()
        if session is not None:
            project = session.project
            self.hub.runner.start(
                "Reading discovery",
                lambda _t: engine.latest_discovery(project),
                key="discovery",
                quiet=True,
                on_done=self._on_table,
                on_error=lambda message, _d: self.info.setText(message),
            )

    def edit_bank(self) -> QWidget | None:
        if self.session is None:
            return None
        from debias_studio.gui.concept_bank_dialog import ConceptBankDialog

        dialog = ConceptBankDialog(self.hub, self)
        dialog.open()
        return dialog

    def _fill_runs(self, runs: list[dict[str, Any]]) -> None:
        current = self.against.currentData()
        self.against.clear()
        self.against.addItem("reference probe", None)
        for run in runs:
            if run.get("status") == "done":
                self.against.addItem(f"run {run['id']} ({run['method']})", run["id"])
        self.against.setCurrentIndex(max(0, self.against.findData(current)))

    # ---- discovery ---------------------------------------------------------------------------
    def discover(self) -> None:
        if self.session is None:
            return
        project, hub, run_id = self.session.project, self.hub, self.against.currentData()
        self.info.setText("discovering…")
        self.hub.runner.start(
            "Discovering concepts",
            lambda token: engine.run_discovery(project, hub.model_name, hub.device, run_id, token),
            key="discovery",
            on_done=self._on_table,
            on_error=lambda message, _d: self.info.setText(message),
        )

    def _on_table(self, table: pd.DataFrame | None) -> None:
        if table is None:
            self.info.setText("No discovery yet: press Discover.")
            return
        self.model.set_table(table)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        top = table.iloc[0] if len(table) else None
        self.info.setText(
            f"{len(table):,} (class, concept) pairs ranked."
            + (f" Top: '{top['concept']}' in class {top['class']}." if top is not None else "")
        )
        self._draw_chart()
        self._index_exemplars(table)
        self.hub.discovery_changed.emit()

    def _index_exemplars(self, table: pd.DataFrame) -> None:
        """Which ranked concepts list each image among their exemplars (for the detail pane's
        'top concepts'); rows come best first, so the first three per image are its top ones."""
        self.image_concepts = {}
        if "exemplars" in table.columns:
            for concept, exemplars in zip(table["concept"], table["exemplars"], strict=True):
                if not isinstance(exemplars, dict):
                    continue
                for image_id in exemplars.get("in_class", []):
                    found = self.image_concepts.setdefault(int(image_id), [])
                    if len(found) < 3 and concept not in found:
                        found.append(str(concept))
        self.hub.detail.refresh_info()

    def concepts_of(self, image_id: int) -> list[tuple[str, str]]:
        found = self.image_concepts.get(image_id)
        return [("top concepts", ", ".join(found))] if found else []

    def top_concept(self) -> str | None:
        return None if self.model.table.empty else str(self.model.table["concept"].iat[0])

    # ---- selection, exemplars, chart ---------------------------------------------------------
    def _on_class(self) -> None:
        name = self.class_box.currentData()
        self.proxy.setFilterFixedString("" if name is None else name)
        self.proxy.setFilterRegularExpression("" if name is None else f"^{_escape(name)}$")
        self._draw_chart()

    def selected_row(self) -> dict[str, Any] | None:
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        row = self.proxy.mapToSource(index).row()
        return self.model.table.iloc[row].to_dict()

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)
        self.table.setCurrentIndex(self.proxy.index(row, 0))

    def _on_row(self, *_: object) -> None:
        row = self.selected_row()
        self.mark_button.setEnabled(row is not None)
        if row is None or self.session is None:
            return
        labels = self.session.labels.values
        if row["class"] in labels:
            self.hub.browser.set_class_filter(labels.index(row["class"]))
        concept = str(row["concept"])
        self.hub.request_concept_scores(
            concept,
            on_done=lambda scores, c=concept: self._sort_grid(c, scores),
            on_error=lambda message, _d: self.info.setText(message),
            key="concept-sort",
        )

    def _sort_grid(self, concept: str, scores: np.ndarray) -> None:
        if self.session is not None and len(scores) == len(self.session):
            self.hub.browser.set_sort(scores, f"'{concept}'")
            self.hub.status_message.emit(f"Grid sorted by '{concept}': its exemplars come first.")

    def _mark(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.mark_requested.emit(str(row["concept"]))

    def _draw_chart(self) -> None:
        self.chart.clear()
        table = self.model.table
        if table.empty:
            return
        name = self.class_box.currentData()
        rows = table if name is None else table[table["class"] == name]
        rows = rows.drop_duplicates("concept").nlargest(8, "score")
        if rows.empty:
            return
        heights = rows["score"].to_numpy(dtype=float)[::-1]
        bars = pg.BarGraphItem(
            x0=0, y=np.arange(len(rows)), height=0.7, width=heights, brush="#1f77b4", pen=None
        )
        self.chart.addItem(bars)
        axis = self.chart.getAxis("left")
        axis.setTicks([list(enumerate(rows["concept"].astype(str).tolist()[::-1]))])


def _escape(text: str) -> str:
    import re

    return re.escape(text)

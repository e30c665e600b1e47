"""The concepts panel: the discovery table (sortable; a plain-language tooltip per column),
the top concepts of a class as a bar chart, a selected row's exemplars (the grid is filtered to
the class and sorted by the concept's score), "mark as confounder", and re-running discovery,
also against a finished run's errors."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui.concept_view import ConceptView
from debias_studio.gui.engine import EXPLANATIONS
from debias_studio.gui.hub import Hub
from debias_studio.gui.plain import plain_label
from debias_studio.gui.session import Session
from debias_studio.gui.state import Discovery, Runs, discover

COLUMNS = {
    "rank": (
        "Rank",
        "Order by evidence (1 = most suspicious): shortcuts first, then the other significant "
        "associations, then the rest; within each, by the low end of the shift's interval.",
    ),
    "class": ("Class", "The class the concept is measured in."),
    "concept": ("Concept", "A word or phrase from the concept bank, scored with CLIP."),
    "category": ("Category", "The concept bank's group for this concept (colour, texture, …)."),
    "verdict": ("Verdict", EXPLANATIONS["verdict"]),
    "shift": ("Shift [95 % interval]", EXPLANATIONS["shift"]),
    "q_value": ("q", EXPLANATIONS["q_value"]),
    "error_gap": ("Error gap [95 % interval]", EXPLANATIONS["error_gap"]),
    "association": ("Association", EXPLANATIONS["association"]),
    "instability": ("Instability", EXPLANATIONS["instability"]),
    "score": ("Evidence", EXPLANATIONS["score"]),
}
WITH_INTERVAL = ("shift", "error_gap")
"""Columns shown as 'estimate [low, high]' (sorted by the estimate)."""
Index = QModelIndex | QPersistentModelIndex


class DiscoveryModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
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
        key = self.keys[index.column()]
        value = self.table[key].iat[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(key, value, index.row())
        if role == Qt.ItemDataRole.UserRole:
            return value.item() if hasattr(value, "item") else value
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, float | np.floating):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, key: str, value: Any, row: int) -> str:
        if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
            return ""
        if not isinstance(value, float | np.floating):
            return str(value)
        if key == "rank":
            return f"{value:.0f}"
        if key == "q_value":
            return f"{value:.2g}"
        if key in WITH_INTERVAL:
            low, high = (self.table[f"{key}_{end}"].iat[row] for end in ("low", "high"))
            ends = "" if np.isnan(low) or np.isnan(high) else f" [{low:+.2f}, {high:+.2f}]"
            return f"{value:+.2f}{ends}"
        return f"{value:.3f}"

    def significant_rows(self) -> int:
        """Rows whose association is significant (a result without verdicts: all of them)."""
        column = self.table.get("significant")
        return len(self.table) if column is None else int(column.fillna(True).astype(bool).sum())

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        title, tip = COLUMNS[self.keys[section]]
        if role == Qt.ItemDataRole.DisplayRole:
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip
        return None


class DiscoveryFilter(QSortFilterProxyModel):
    """Rows of one class (or all), and only the significant ones unless asked for all."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.class_name: str | None = None
        self.show_all = False

    def set_class(self, name: str | None) -> None:
        self.class_name = name
        self.invalidateFilter()

    def set_show_all(self, show_all: bool) -> None:
        self.show_all = show_all
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        table = self.sourceModel().table
        if self.class_name is not None and table["class"].iat[source_row] != self.class_name:
            return False
        return self.show_all or _is_significant(table, source_row)


def _is_significant(table: pd.DataFrame, row: int) -> bool:
    if "significant" not in table.columns:
        return True
    value = table["significant"].iat[row]
    return True if value is None or value != value else bool(value)  # NaN: an older result


class ConceptsPanel(QWidget):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("concepts_panel")
        self.hub = hub
        self.session: Session | None = None
        self._build_table()
        self._build_controls()
        self._build_chart()
        self._build_layout()
        hub.session_changed.connect(self.set_session)
        hub.discovery_changed.connect(self._on_discovery)
        hub.runs_changed.connect(self._fill_runs)
        self.set_session(None)

    # ---- building ----------------------------------------------------------------------------
    def _build_table(self) -> None:
        self.model = DiscoveryModel(self)
        self.proxy = DiscoveryFilter(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
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
        self.table.doubleClicked.connect(self.inspect)

    def _build_controls(self) -> None:
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
        self.inspect_button = QPushButton("Inspect…")
        self.inspect_button.setToolTip(
            "Open the concept view of the selected row (also: double-click it): score "
            "histograms, exemplars, signals, and a run's errors by concept score."
        )
        self.inspect_button.setEnabled(False)
        self.inspect_button.clicked.connect(self.inspect)
        self.concept_view: ConceptView | None = None
        self.bank_button = QPushButton("Concepts…")
        self.bank_button.setToolTip("Edit the concept bank: categories, concepts, prompts.")
        self.bank_button.clicked.connect(self.edit_bank)
        self.show_all = QCheckBox("Show not significant")
        self.show_all.setToolTip(
            "Also list the concepts whose association with the class is not significant at a "
            "false-discovery rate of 5 % (hidden by default: no evidence beyond chance)."
        )
        self.show_all.toggled.connect(self._on_show_all)
        self.info = plain_label("Open a project, then discover its concepts.")
        self.info.setWordWrap(True)

    def _build_chart(self) -> None:
        self.chart = pg.PlotWidget(background="w")
        self.chart.setObjectName("concept_chart")
        self.chart.setMinimumHeight(150)
        self.chart.setMaximumHeight(220)
        self.chart.setMenuEnabled(False)
        self.chart.getPlotItem().setTitle(
            "Top concepts of the class (shift, 95 % interval)", size="9pt"
        )

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(plain_label("Class"))
        top.addWidget(self.class_box, 1)
        top.addWidget(plain_label("against"))
        top.addWidget(self.against, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.discover_button)
        buttons.addWidget(self.mark_button)
        buttons.addWidget(self.inspect_button)
        buttons.addWidget(self.bank_button)
        buttons.addWidget(self.show_all)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.info)

    # ---- session -----------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItem("All classes", None)
        if session is not None:
            for name in session.labels.values:
                self.class_box.addItem(name, name)
        self.class_box.blockSignals(False)
        self.discover_button.setEnabled(session is not None)
        self.bank_button.setEnabled(session is not None)
        self._fill_runs(session.runs if session is not None else Runs())
        self._show_discovery(session.discovery if session is not None else None)
        if session is None:
            self.info.setText("Open a project, then discover its concepts.")

    def edit_bank(self) -> QWidget | None:
        if self.session is None:
            return None
        from debias_studio.gui.concept_bank_dialog import ConceptBankDialog

        dialog = ConceptBankDialog(self.hub, self)
        dialog.open()
        return dialog

    def _fill_runs(self, runs: Runs) -> None:
        current = self.against.currentData()
        self.against.clear()
        self.against.addItem("reference probe", None)
        for run in runs.finished():
            self.against.addItem(f"run {run['id']} ({run['method']})", run["id"])
        self.against.setCurrentIndex(max(0, self.against.findData(current)))

    # ---- discovery ---------------------------------------------------------------------------
    def discover(self) -> None:
        if self.session is None:
            return
        session = self.session
        project, run_id = session.project, self.against.currentData()
        model, device = self.hub.model_name, self.hub.device
        self.info.setText("discovering…")
        self.hub.runner.start(
            "Discovering concepts",
            lambda token: discover(project, model, device, run_id, token),
            key="discovery",
            on_done=partial(self.hub.publish_discovery, session),
            on_error=self._show_error,
        )

    def _show_error(self, message: str, _details: str) -> None:
        self.info.setText(message)

    def _on_discovery(self, discovery: Discovery | None) -> None:
        self._show_discovery(discovery)
        if discovery is None:
            self.info.setText("No discovery yet: press Discover.")

    def _show_discovery(self, discovery: Discovery | None) -> None:
        table = discovery.table if discovery is not None else pd.DataFrame(columns=list(COLUMNS))
        self.model.set_table(table)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        if discovery is not None:
            self._describe()
        self._draw_chart()

    def _describe(self) -> None:
        table, shown = self.model.table, self.model.significant_rows()
        hidden = "" if self.show_all.isChecked() else " The others are hidden."
        top = table.iloc[0] if len(table) else None
        self.info.setText(
            f"{shown:,} of {len(table):,} (class, concept) pairs significant at a "
            f"false-discovery rate of 5 %.{hidden}"
            + (f" Top: '{top['concept']}' in class {top['class']}." if top is not None else "")
        )

    def _on_show_all(self, checked: bool) -> None:
        self.proxy.set_show_all(checked)
        if not self.model.table.empty:
            self._describe()
        self._draw_chart()

    def top_concept(self) -> str | None:
        return None if self.model.table.empty else str(self.model.table["concept"].iat[0])

    # ---- selection, exemplars, chart ---------------------------------------------------------
    def _on_class(self) -> None:
        self.proxy.set_class(self.class_box.currentData())
        self._draw_chart()

    def selected_row(self) -> dict[str, Any] | None:
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        row = self.proxy.mapToSource(index).row()
        return dict(self.model.table.iloc[row].to_dict())

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)
        self.table.setCurrentIndex(self.proxy.index(row, 0))

    def _on_row(self, *_: object) -> None:
        row = self.selected_row()
        self.mark_button.setEnabled(row is not None)
        self.inspect_button.setEnabled(row is not None)
        if row is None or self.session is None:
            return
        if self.concept_view is not None and self.concept_view.isVisible():
            self.concept_view.show_pair(str(row["class"]), str(row["concept"]))
        labels = self.session.labels.values
        if row["class"] in labels:
            self.hub.grid.set_label(labels.index(row["class"]))
        concept = str(row["concept"])
        self.hub.request_concept_scores(
            concept,
            on_done=partial(self._sort_grid, concept),
            on_error=self._show_error,
            key="concept-sort",
        )

    def inspect(self, *_: object) -> ConceptView | None:
        """Open (or raise) the concept view on the selected row; it follows the selection."""
        row = self.selected_row()
        if row is None or self.session is None:
            return None
        if self.concept_view is None:
            self.concept_view = ConceptView(self.hub, self)
        self.concept_view.show()
        self.concept_view.raise_()
        self.concept_view.show_pair(str(row["class"]), str(row["concept"]))
        return self.concept_view

    def _sort_grid(self, concept: str, scores: np.ndarray) -> None:
        if self.session is not None and len(scores) == len(self.session):
            self.hub.grid.set_sort(scores, f"'{concept}'")
            self.hub.status_message.emit(f"Grid sorted by '{concept}': its exemplars come first.")

    def _mark(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.hub.confounder_requested.emit(str(row["concept"]))

    def _draw_chart(self) -> None:
        """The class's best-ranked concepts (significant ones unless all are shown): their
        shift with its 95 % interval."""
        self.chart.clear()
        rows = self._chart_rows()
        if rows.empty:
            return
        y = np.arange(len(rows))
        shift = rows["shift"].to_numpy(dtype=float)[::-1]
        low = rows["shift_low"].to_numpy(dtype=float)[::-1]
        high = rows["shift_high"].to_numpy(dtype=float)[::-1]
        self.chart.addItem(
            pg.BarGraphItem(x0=0, y=y, height=0.7, width=shift, brush="#1f77b4", pen=None)
        )
        known = ~(np.isnan(low) | np.isnan(high) | np.isnan(shift))
        if known.any():
            self.chart.addItem(
                pg.ErrorBarItem(
                    x=shift[known],
                    y=y[known],
                    left=(shift - low)[known],
                    right=(high - shift)[known],
                    beam=0.25,
                    pen="k",
                )
            )
        labels = rows["concept"].astype(str).tolist()[::-1]
        self.chart.getAxis("left").setTicks([list(enumerate(labels))])

    def _chart_rows(self) -> pd.DataFrame:
        table = self.model.table
        if table.empty:
            return table
        name = self.class_box.currentData()
        rows = table if name is None else table[table["class"] == name]
        if not self.show_all.isChecked():
            keep = [_is_significant(rows, i) for i in range(len(rows))]
            rows = rows[np.asarray(keep, dtype=bool)]
        return rows.sort_values("rank", kind="stable").drop_duplicates("concept").head(8)

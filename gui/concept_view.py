"""The concept view (issue 14.5 and 14.7): why the discovery table says what it says about one
(class, concept) pair.

It shows the concept-score histogram of the class against the other classes, three strips of
exemplars (the class's highest scores, the other classes' highest, the class's images lacking
the concept), the pair's signals with their 95 % intervals and significance, and, for up to two
finished runs chosen side by side, each run's error gap and its error rate by concept-score bin
with Wilson intervals: a cure that works flattens the curve and shrinks the gap. "Mark as
confounder" does what the Concepts panel's button does.

The figures are computed in a worker (``engine.inspect_concept_runs``); this module only draws
the plain data that comes back, on the GUI thread.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui import engine
from debias_studio.gui.hub import Hub
from debias_studio.gui.plain import escape, plain_label
from debias_studio.gui.state import Runs

THUMB = 64
RUN_COLOURS = ("#d62728", "#2ca02c")
"""Run A, run B in the error-rate chart and the signals table."""
STRIPS = (
    ("in_class_top", "Class images scoring highest"),
    ("other_classes_top", "Other classes' images scoring highest"),
    ("in_class_lacking", "Class images lacking the concept (lowest scores)"),
)
SIGNAL_COLUMNS = (
    ("Figures from", "Without a run: the pair itself; with a run: against that run's errors."),
    ("Shift [95 %]", engine.EXPLANATIONS["shift"]),
    ("Association", engine.EXPLANATIONS["association"]),
    ("p", "One-sided rank-sum p-value of the association (before the FDR correction)."),
    ("Error gap [95 %]", engine.EXPLANATIONS["error_gap"]),
    ("Errors in class", "The run's misclassified images of the class, of those it predicted."),
)


class ExemplarStrip(QWidget):
    """A titled row of thumbnails of image ids, filled in as the loader decodes them."""

    def __init__(self, hub: Hub, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self.ids: list[int] = []
        self.cells: list[QLabel] = []
        self.row = QHBoxLayout()
        self.row.setSpacing(3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(plain_label(title))
        layout.addLayout(self.row)
        hub.thumbnails.thumbnails_ready.connect(self._refresh)

    def set_ids(self, ids: list[int]) -> None:
        self.ids = [int(i) for i in ids]
        while len(self.cells) < len(self.ids):
            cell = QLabel()
            cell.setFixedSize(THUMB, THUMB)
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cell.setStyleSheet("border: 1px solid #bbb; background: #f4f4f4;")
            self.row.addWidget(cell)
            self.cells.append(cell)
        for k, cell in enumerate(self.cells):
            cell.clear()  # no image of the previous pair while the new one decodes
            cell.setVisible(k < len(self.ids))
        self._refresh()

    def _refresh(self, *_: object) -> None:
        if not self.ids or not self.isVisible():
            return  # a hidden strip asks the loader for nothing
        session = self.hub.session
        for image_id, cell in zip(self.ids, self.cells, strict=False):
            pixmap = self.hub.thumbnails.pixmap(image_id)
            if pixmap is not None:
                cell.setPixmap(
                    pixmap.scaled(THUMB - 2, THUMB - 2, Qt.AspectRatioMode.KeepAspectRatio)
                )
            if session is not None and image_id < len(session):
                cell.setToolTip(
                    f"image {image_id}: {session.labels.values[session.labels.codes[image_id]]}"
                )


class ConceptView(QDialog):
    """One (class, concept) pair in detail; follows the Concepts panel's selection while open."""

    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("concept_view")
        self.setWindowTitle("Concept view")
        self.hub = hub
        self.pair: tuple[str, str] | None = None
        self._asked: tuple = ()
        self.run_ids: list[str | None] = [None]
        self.inspections: list[Any] = []
        """The ``ConceptInspection`` of each entry of ``run_ids``, as last computed."""
        self._build()
        hub.runs_changed.connect(self._fill_runs)
        hub.session_changed.connect(self._on_session)
        self._fill_runs(hub.session.runs if hub.session is not None else Runs())
        self.resize(980, 860)

    # ---- building ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.title = plain_label("")
        self.title.setStyleSheet("font-weight: bold; font-size: 11pt;")
        self.verdict = plain_label("")
        self.verdict.setWordWrap(True)
        self.split = QComboBox()
        for name, key in (
            ("training (as discovery)", "train"),
            ("validation", "val"),
            ("test", "test"),
        ):
            self.split.addItem(name, key)
        self.split.setToolTip(
            "Whose images the figures count: the training split, as discovery computes the table, "
            "or a held-out split, where a run's errors show what it really learned."
        )
        self.split.currentIndexChanged.connect(self._on_runs)
        self.run_a, self.run_b = QComboBox(), QComboBox()
        for box, tip in (
            (
                self.run_a,
                "A finished run whose errors the figures are computed against (e.g. ERM).",
            ),
            (
                self.run_b,
                "A second run side by side "
                "(e.g. the cure): the before/after of the pair's signals.",
            ),
        ):
            box.setToolTip(tip)
            box.currentIndexChanged.connect(self._on_runs)
        self.mark_button = QPushButton("Mark as confounder")
        self.mark_button.setToolTip(
            "Make this concept a confounder (present / absent by a threshold you can adjust "
            "in the Confounders panel)."
        )
        self.mark_button.clicked.connect(self._mark)
        self.info = plain_label("Select a (class, concept) row in the Concepts panel.")
        self.info.setWordWrap(True)
        self.histogram = _plot(
            "concept_histogram", "Share of images", "concept score (standardised)"
        )
        self.errors = _plot(
            "concept_error_rate",
            "Error rate in the class",
            "concept score (bin middle; each bin a fifth of the class)",
        )
        self.signals = _signals_table()
        self.strips = {key: ExemplarStrip(self.hub, title) for key, title in STRIPS}
        self._build_layout()

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.mark_button)
        runs = QHBoxLayout()
        runs.addWidget(plain_label("Images"))
        runs.addWidget(self.split)
        runs.addWidget(plain_label("Run A"))
        runs.addWidget(self.run_a, 1)
        runs.addWidget(plain_label("Run B"))
        runs.addWidget(self.run_b, 1)
        charts = QGridLayout()
        charts.addWidget(self.histogram, 0, 0)
        charts.addWidget(self.errors, 0, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.verdict)
        layout.addLayout(runs)
        layout.addLayout(charts, 3)
        layout.addWidget(self.signals, 1)
        for strip in self.strips.values():
            layout.addWidget(strip)
        layout.addWidget(self.info)

    # ---- runs --------------------------------------------------------------------------------
    def _fill_runs(self, runs: Runs) -> None:
        finished = runs.finished()
        for box, default in ((self.run_a, _baseline(finished)), (self.run_b, _cure(finished))):
            current = box.currentData() if box.count() > 1 else default
            box.blockSignals(True)
            box.clear()
            box.addItem("no run", None)
            for run in finished:
                box.addItem(f"{run['id']} ({run.get('method', '')})", run["id"])
            box.setCurrentIndex(max(0, box.findData(current)))
            box.blockSignals(False)

    def _on_session(self, _session: object) -> None:
        self.pair = None
        self.inspections = []
        for strip in self.strips.values():
            strip.set_ids([])
        self.close()

    def _on_runs(self) -> None:
        if self.pair is not None:
            self.show_pair(*self.pair)

    # ---- computing ---------------------------------------------------------------------------
    def show_pair(self, class_name: str, concept: str) -> None:
        """Compute and show the pair (in a worker), against no run and the chosen runs."""
        session = self.hub.session
        if session is None:
            return
        self.pair = (class_name, concept)
        self.title.setText(f"'{concept}' in class {class_name}")
        chosen = [self.run_a.currentData(), self.run_b.currentData()]
        run_ids: list[str | None] = [None, *dict.fromkeys(r for r in chosen if r is not None)]
        project, model, split = session.project, self.hub.model_name, self.split.currentData()
        self._asked = (self.pair, split, run_ids)
        self.info.setText("computing…")
        self.hub.runner.start(
            f"Inspecting '{concept}'",
            lambda _t: engine.inspect_concept_runs(
                project, class_name, concept, model, run_ids, split
            ),
            key="concept-view",
            quiet=True,
            on_done=partial(self._show, self._asked),
            on_error=self._show_error,
        )

    def _show_error(self, message: str, _details: str) -> None:
        self.info.setText(message)

    def _show(self, asked: tuple, found: list) -> None:
        if asked != self._asked or not found:
            return  # another pair, split or run was chosen meanwhile
        self.run_ids, self.inspections = asked[2], found
        first = found[0]
        self.verdict.setText(_verdict_text(first.signals))
        self._draw_histogram(first.histogram)
        self._draw_errors()
        self._fill_signals()
        for key, strip in self.strips.items():
            strip.set_ids(first.strips.get(key, []))
        shown = len(self.run_ids) - 1
        self.info.setText(
            f"Images of the {self.split.currentText()} split. {shown} run(s) compared."
            if shown
            else "Choose a run to see its errors by concept score."
        )

    # ---- drawing -----------------------------------------------------------------------------
    def _draw_histogram(self, histogram: Any) -> None:
        plot = self.histogram.getPlotItem()
        plot.clear()
        legend = plot.legend or plot.addLegend(offset=(-10, 10), labelTextColor="k")
        legend.clear()
        class_name = escape(self.pair[0]) if self.pair else ""
        for counts, name, colour in (
            (histogram.in_class, f"class {class_name}", (31, 119, 180)),
            (histogram.others, "other classes", (150, 150, 150)),
        ):
            share = counts / max(1, counts.sum())
            plot.addItem(
                pg.PlotDataItem(
                    histogram.edges,
                    share,
                    stepMode="center",
                    fillLevel=0,
                    brush=(*colour, 70),
                    pen=pg.mkPen(colour, width=2),
                    name=name,
                )
            )

    def _draw_errors(self) -> None:
        plot = self.errors.getPlotItem()
        plot.clear()
        legend = plot.legend or plot.addLegend(offset=(-10, 10), labelTextColor="k")
        legend.clear()
        ticks = []
        for k, (run_id, found) in enumerate(
            zip(self.run_ids[1:], self.inspections[1:], strict=False)
        ):
            bins = found.error_bins
            x = np.arange(len(bins)) + (k - 0.5) * 0.15 * (len(self.run_ids) > 2)
            rate = np.array([b.rate for b in bins])
            low = np.array([b.rate_low for b in bins])
            high = np.array([b.rate_high for b in bins])
            colour = RUN_COLOURS[k % len(RUN_COLOURS)]
            plot.addItem(
                pg.ErrorBarItem(
                    x=x, y=rate, top=high - rate, bottom=rate - low, beam=0.08, pen=colour
                )
            )
            plot.addItem(
                pg.PlotDataItem(
                    x,
                    rate,
                    pen=pg.mkPen(colour, width=2),
                    symbol="o",
                    symbolBrush=colour,
                    name=escape(f"{'AB'[k]}: run {run_id}"),
                )
            )
            ticks = [(i, f"{(b.low + b.high) / 2:+.1f}") for i, b in enumerate(bins)]
        plot.getAxis("bottom").setTicks([ticks] if ticks else None)
        plot.setYRange(0, 1.25)  # room for the legend above the curves

    def _fill_signals(self) -> None:
        self.signals.setRowCount(len(self.inspections))
        names = ["no run", *(f"{'AB'[k]}: run {r}" for k, r in enumerate(self.run_ids[1:]))]
        for row, (name, found) in enumerate(zip(names, self.inspections, strict=True)):
            for column, text in enumerate(_signal_cells(name, found)):
                item = QTableWidgetItem(text)
                if row:
                    item.setForeground(pg.mkColor(RUN_COLOURS[(row - 1) % len(RUN_COLOURS)]))
                self.signals.setItem(row, column, item)

    def _mark(self) -> None:
        if self.pair is not None:
            self.hub.confounder_requested.emit(self.pair[1])


def _plot(name: str, left: str, bottom: str) -> pg.PlotWidget:
    widget = pg.PlotWidget(background="w")
    widget.setObjectName(name)
    widget.setMenuEnabled(False)
    widget.setMinimumHeight(220)
    widget.setLabel("left", left)
    widget.setLabel("bottom", bottom)
    widget.getAxis("left").enableAutoSIPrefix(False)
    return widget


def _signals_table() -> QTableWidget:
    table = QTableWidget(0, len(SIGNAL_COLUMNS))
    table.setObjectName("concept_signals")
    for column, (title, tip) in enumerate(SIGNAL_COLUMNS):
        item = QTableWidgetItem(title)
        item.setToolTip(tip)
        table.setHorizontalHeaderItem(column, item)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setMaximumHeight(120)
    return table


def _signal_cells(name: str, found: Any) -> list[str]:
    s = found.signals
    images = sum(b.images for b in found.error_bins)
    errors = sum(b.errors for b in found.error_bins)
    return [
        name,
        _interval(s.get("shift"), s.get("shift_low"), s.get("shift_high")),
        _number(s.get("association"), ".3f"),
        _number(s.get("p_value"), ".2g"),
        _interval(s.get("error_gap"), s.get("error_gap_low"), s.get("error_gap_high")),
        f"{errors} of {images}" if found.error_bins else "—",
    ]


def _number(value: float | None, spec: str) -> str:
    return "—" if value is None or value != value else format(value, spec)


def _interval(value: float | None, low: float | None, high: float | None) -> str:
    if value is None or value != value:
        return "—"
    ends = "" if low is None or high is None else f" [{low:+.2f}, {high:+.2f}]"
    return f"{value:+.2f}{ends}"


def _verdict_text(signals: dict[str, Any]) -> str:
    verdict, q, rank = signals.get("verdict"), signals.get("q_value"), signals.get("rank")
    if verdict is None:
        return "Not among the stored discovery's rows: figures recomputed for this pair only."
    figures = f"q = {_number(q, '.2g')}, rank {_number(rank, '.0f')}"
    return f"Discovery's verdict (training split): {verdict} ({figures})."


def _baseline(finished: list[engine.RunRecord]) -> str | None:
    """Run A by default: the newest finished ERM run (else the newest run)."""
    erm = [r for r in finished if r.get("method") == "erm"]
    return str((erm or finished)[0]["id"]) if finished else None


def _cure(finished: list[engine.RunRecord]) -> str | None:
    """Run B by default: the newest finished run that is not ERM."""
    cures = [r for r in finished if r.get("method") != "erm"]
    return str(cures[0]["id"]) if cures else None

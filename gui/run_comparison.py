"""Runs compared in a picture (issue 14.6): per-group accuracy of two or more runs side by side,
each bar with its 95 % Wilson interval and its group's size, and every run's difference to the
baseline run with Newcombe's interval.

Readable at 100 groups: groups are sorted by the baseline's accuracy (worst first) and the view
shows the k worst and k best of them, or all of them in a scrolling chart, or a class x value
heat map of one run's difference to the baseline. The figures are computed in a worker
(``engine.compare_runs``); this module draws the plain data that comes back.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui import engine
from debias_studio.gui.hub import Hub
from debias_studio.gui.plain import escape, plain_label

COLOURS = ("#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
"""One colour per compared run (the baseline's grey first)."""
MODES = (
    ("extremes", "worst and best k groups"),
    ("all", "all groups, sorted"),
    ("heat", "heat map class × value"),
)
ROW_PIXELS = 22
"""Height of one group's band in the bar charts (the chart scrolls beyond the dialog)."""


class RunComparisonView(QDialog):
    """Compares ``runs`` (finished run records) of the open project."""

    def __init__(self, hub: Hub, runs: list[engine.RunRecord], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("run_comparison")
        self.setWindowTitle("Runs compared")
        self.hub = hub
        self.runs = runs
        self.comparison: engine.RunComparison | None = None
        self.shown: np.ndarray = np.array([], dtype=np.int64)
        """Group columns drawn in the bar charts, top to bottom."""
        self._build_controls()
        self._build_charts()
        self._build_layout()
        self.resize(1100, 820)
        self.recompute()

    # ---- building ----------------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.split = QComboBox()
        for name in ("test", "val"):
            self.split.addItem(name, name)
        self.split.setToolTip("The split whose per-group figures are compared.")
        self.baseline = QComboBox()
        for run in self.runs:
            self.baseline.addItem(_run_name(run), run["id"])
        erm = next((i for i, r in enumerate(self.runs) if r.get("method") == "erm"), 0)
        self.baseline.setCurrentIndex(erm)
        self.baseline.setToolTip("Differences are taken to this run (ERM by default).")
        self.mode = QComboBox()
        for key, text in MODES:
            self.mode.addItem(text, key)
        self.mode.setToolTip("How to show many groups.")
        self.k = QSpinBox()
        self.k.setRange(1, 100)
        self.k.setValue(10)
        self.k.setPrefix("k = ")
        self.k.setToolTip("How many of the worst and of the best groups (by the baseline).")
        self.heat_run = QComboBox()
        self.heat_run.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.heat_run.setToolTip("Whose difference to the baseline the heat map colours.")
        for box in (self.split, self.baseline):
            box.currentIndexChanged.connect(self.recompute)
        for box in (self.mode, self.heat_run):
            box.currentIndexChanged.connect(self._draw)
        self.k.valueChanged.connect(self._draw)
        self.info = plain_label("")
        self.info.setWordWrap(True)

    def _build_charts(self) -> None:
        self.bars = _plot("comparison_bars", "per-group accuracy (95 % Wilson interval)")
        self.legend = QWidget()
        self.legend.setObjectName("comparison_legend")
        QHBoxLayout(self.legend).setContentsMargins(0, 0, 0, 0)
        self.diffs = _plot("comparison_diffs", "difference to the baseline (95 % interval)")
        self.heat = _plot("comparison_heat", "")
        self.heat.setVisible(False)
        charts = QWidget()
        row = QHBoxLayout(charts)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bars, 3)
        row.addWidget(self.diffs, 2)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(charts)

    def _build_layout(self) -> None:
        controls = QHBoxLayout()
        for label, widget in (
            ("Split", self.split),
            ("Baseline", self.baseline),
            ("Show", self.mode),
            ("", self.k),
            ("Heat map of", self.heat_run),
        ):
            if label:
                controls.addWidget(plain_label(label))
            controls.addWidget(widget)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.legend)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.heat, 1)
        layout.addWidget(self.info)

    # ---- computing ---------------------------------------------------------------------------
    def recompute(self) -> None:
        session = self.hub.session
        if session is None:
            return
        runs, classes = list(self.runs), list(session.labels.values)
        split, baseline = self.split.currentData(), self.baseline.currentData()
        self.info.setText("comparing…")
        self.hub.runner.start(
            "Comparing runs",
            lambda _t: engine.compare_runs(runs, classes, split, baseline),
            key="run-comparison",
            quiet=True,
            on_done=partial(self._on_comparison, split, baseline),
            on_error=self._show_error,
        )

    def _show_error(self, message: str, _details: str) -> None:
        self.comparison = None
        self.info.setText(message)
        self._clear()

    def _on_comparison(self, split: str, baseline: str, found: engine.RunComparison) -> None:
        if (split, baseline) != (self.split.currentData(), self.baseline.currentData()):
            return  # the choice changed meanwhile; its own result follows
        self.comparison = found
        current = self.heat_run.currentData()
        self.heat_run.blockSignals(True)
        self.heat_run.clear()
        for row, name in enumerate(found.run_names):
            if row != found.baseline:
                self.heat_run.addItem(name, found.run_ids[row])
        self.heat_run.setCurrentIndex(max(0, self.heat_run.findData(current)))
        self.heat_run.blockSignals(False)
        self.info.setText(_summary(found))
        self._draw()

    # ---- drawing -----------------------------------------------------------------------------
    def _clear(self) -> None:
        for plot in (self.bars, self.diffs, self.heat):
            plot.getPlotItem().clear()

    def _draw(self) -> None:
        self._clear()
        found = self.comparison
        if found is None:
            return
        heat = self.mode.currentData() == "heat"
        self.scroll.setVisible(not heat)
        self.heat.setVisible(heat)
        self.k.setEnabled(self.mode.currentData() == "extremes")
        self.heat_run.setEnabled(heat)
        if heat:
            self._draw_heat(found)
            return
        all_groups = self.mode.currentData() == "all"
        self.shown = (
            engine.ordered_groups(found) if all_groups else engine.extremes(found, self.k.value())
        )
        height = ROW_PIXELS * len(self.shown) + 80
        for plot in (self.bars, self.diffs):
            plot.setMinimumHeight(max(320, height))
        self._draw_bars(found)
        self._draw_diffs(found)

    def _draw_bars(self, found: engine.RunComparison) -> None:
        plot = self.bars.getPlotItem()
        colours = _colours(found)
        _fill_legend(self.legend, found, colours)
        y = -np.arange(len(self.shown), dtype=float)  # worst group at the top
        band = 0.8 / len(found.run_ids)
        for r in range(len(found.run_ids)):
            offset = 0.4 - band * (r + 0.5)
            acc = found.acc[r, self.shown]
            colour = colours[r]
            known = ~np.isnan(acc)
            bars = pg.BarGraphItem(
                x0=0,
                y=y[known] + offset,
                height=band * 0.9,
                width=acc[known],
                brush=colour,
                pen=None,
            )
            plot.addItem(bars)
            plot.addItem(  # a mark at the accuracy, so a group at 0 shows too
                pg.ScatterPlotItem(x=acc[known], y=y[known] + offset, brush=colour, size=6, pen="k")
            )
            plot.addItem(
                pg.ErrorBarItem(
                    x=acc[known],
                    y=y[known] + offset,
                    beam=band * 0.4,
                    pen="k",
                    left=(acc - found.low[r, self.shown])[known],
                    right=(found.high[r, self.shown] - acc)[known],
                )
            )
        plot.getAxis("left").setTicks([list(zip(y, _group_ticks(found, self.shown), strict=True))])
        plot.setXRange(0, 1.02)
        plot.setYRange(y.min() - 0.5 if len(y) else -1, 0.5)

    def _draw_diffs(self, found: engine.RunComparison) -> None:
        plot = self.diffs.getPlotItem()
        y = -np.arange(len(self.shown), dtype=float)
        plot.addItem(pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("k", width=1)))
        others = [r for r in range(len(found.run_ids)) if r != found.baseline]
        colours = _colours(found)
        band = 0.8 / max(1, len(others))
        for k, r in enumerate(others):
            diff = found.diff[r, self.shown]
            known = ~np.isnan(diff)
            yy = y[known] + 0.4 - band * (k + 0.5)
            colour = colours[r]
            plot.addItem(
                pg.ErrorBarItem(
                    x=diff[known],
                    y=yy,
                    beam=band * 0.4,
                    pen=pg.mkPen(colour, width=2),
                    left=(diff - found.diff_low[r, self.shown])[known],
                    right=(found.diff_high[r, self.shown] - diff)[known],
                )
            )
            plot.addItem(pg.ScatterPlotItem(x=diff[known], y=yy, brush=colour, size=8, pen=None))
        plot.getAxis("left").setTicks([[(v, "") for v in y]])
        plot.setXRange(-1, 1)
        plot.setYRange(y.min() - 0.5 if len(y) else -1, 0.5)

    def _draw_heat(self, found: engine.RunComparison) -> None:
        row = found.run_ids.index(self.heat_run.currentData()) if self.heat_run.count() else 0
        classes, values, matrix = engine.class_value_matrix(found, found.diff[row])
        plot = self.heat.getPlotItem()
        image = pg.ImageItem(np.nan_to_num(matrix.T, nan=0.0))
        image.setLookupTable(pg.colormap.get("CET-D1").getLookupTable(nPts=256))
        image.setLevels((-1, 1))
        plot.addItem(image)
        for (c, v), value in np.ndenumerate(matrix):
            text = "" if np.isnan(value) else f"{value:+.2f}"
            label = pg.TextItem(text, color="k", anchor=(0.5, 0.5))
            label.setPos(v + 0.5, c + 0.5)
            plot.addItem(label)
        plot.getAxis("left").setTicks([[(i + 0.5, c) for i, c in enumerate(classes)]])
        plot.getAxis("bottom").setTicks([[(i + 0.5, v or "(all)") for i, v in enumerate(values)]])
        plot.invertY(True)
        plot.setTitle(
            escape(f"accuracy of {found.run_names[row]} minus the baseline's"), size="9pt"
        )


def _plot(name: str, title: str) -> pg.PlotWidget:
    widget = pg.PlotWidget(background="w")
    widget.setObjectName(name)
    widget.setMenuEnabled(False)
    widget.setMinimumHeight(320)
    if title:
        widget.getPlotItem().setTitle(escape(title), size="9pt")
    return widget


def _colours(found: engine.RunComparison) -> list[str]:
    """Grey for the baseline, the other colours in turn for the other runs."""
    others = iter(COLOURS[1:] * len(found.run_ids))
    return [COLOURS[0] if r == found.baseline else next(others) for r in range(len(found.run_ids))]


def _fill_legend(legend: QWidget, found: engine.RunComparison, colours: list[str]) -> None:
    """A colour square and the (plain-text) name of each run, the baseline marked."""
    layout = legend.layout()
    while layout.count():
        widget = layout.takeAt(0).widget()
        if widget is not None:
            widget.deleteLater()
    for r, (name, colour) in enumerate(zip(found.run_names, colours, strict=True)):
        square = QLabel()
        square.setFixedSize(12, 12)
        square.setStyleSheet(f"background: {colour};")
        layout.addWidget(square)
        layout.addWidget(plain_label(name + (" — baseline" if r == found.baseline else "")))
    layout.addStretch(1)


def _run_name(run: engine.RunRecord) -> str:
    return f"{run['id']} ({run.get('method', '')})"


def _group_ticks(found: engine.RunComparison, columns: np.ndarray) -> list[str]:
    base = found.n[found.baseline]
    return [f"{found.groups[g]} (n={base[g] or int(found.n[:, g].max())})" for g in columns]


def _summary(found: engine.RunComparison) -> str:
    """How many groups each run lifts or lowers beyond its interval, and its worst group."""
    parts = []
    for r, name in enumerate(found.run_names):
        if r == found.baseline:
            continue
        better = int(np.nansum(found.diff_low[r] > 0))
        worse = int(np.nansum(found.diff_high[r] < 0))
        parts.append(
            f"{name}: {better} group(s) better, {worse} worse than the baseline "
            "beyond their 95 % intervals"
        )
    groups = len(found.groups)
    return (
        f"{groups} groups on the {found.split} split, sorted by the baseline's accuracy "
        f"(worst first). " + "; ".join(parts) + "."
    )

"""The embedding map: a 2-D PCA projection of the image embeddings (computed in the engine, in a
worker), coloured by class, attribute, confounder value or correctness of the latest run.

Drawing follows pyqtgraph's fast path: one ``ScatterPlotItem`` per colour (so each has a single
shared brush and no per-point Python objects), ``pxMode=True``, ``pen=None``; above 200k points a
log-density image replaces the dots. The dots are added a step at a time (a colour's first
``DRAW_CHUNK`` dots, then the next ...), as many steps per turn of the event loop as fit in
``DRAW_BUDGET_S``: pyqtgraph spends Python time on every dot it is given (~3 ms per 1,000), so
100,000 dots drawn at once held the GUI thread for 0.4 s (bench/gui.py). A rectangle selects
the images inside it in the grid; hovering shows the nearest image's thumbnail.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from debias_studio.gui import engine
from debias_studio.gui.browser.filters import Mask
from debias_studio.gui.hub import Hub
from debias_studio.gui.lasso import LassoViewBox
from debias_studio.gui.palette import colour
from debias_studio.gui.plain import escape, plain_label
from debias_studio.gui.session import Session
from debias_studio.gui.state import Column

POINT_SIZE = 5
DRAW_CHUNK = 2_000
"""Dots given to pyqtgraph in one step."""
DRAW_BUDGET_S = 0.01
"""GUI-thread time spent drawing per turn of the event loop, then it yields (stall <= 50 ms)."""


class EmbeddingMap(QWidget):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("embedding_map")
        self.hub = hub
        self.session: Session | None = None
        self.xy: np.ndarray | None = None
        self.density: engine.Density | None = None
        self._tree: Any = None
        self._tree_ids = np.zeros(0, dtype=np.int64)
        self.colourings: dict[str, Column] = {}
        self.items: list[pg.ScatterPlotItem] = []
        self._steps: Iterator[tuple[int, str, np.ndarray]] | None = None
        self._item_of_code: dict[int, pg.ScatterPlotItem] = {}
        self._draw_timer = QTimer(self)
        self._draw_timer.setSingleShot(True)
        self._draw_timer.timeout.connect(self._draw_some)
        self.density_item: pg.ImageItem | None = None
        self.rectangle: pg.RectROI | None = None
        self._build_controls()
        self._build_plot()
        self._build_layout()
        hub.session_changed.connect(self.set_session)
        hub.confounders_changed.connect(self._fill_colour_box)
        hub.runs_changed.connect(self._fill_colour_box)
        self.set_session(None)

    # ---- building ----------------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.colour_box = QComboBox()
        self.colour_box.setToolTip("What the colour of each dot shows.")
        self.colour_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.colour_box.setMinimumContentsLength(8)
        self.colour_box.currentIndexChanged.connect(self.redraw)
        self.compute_button = QPushButton("Compute map")
        self.compute_button.setToolTip(
            "Embed the images with the current model (cached) and project them with PCA."
        )
        self.compute_button.clicked.connect(self.compute)
        self.select_button = QPushButton("Select area")
        self.select_button.setCheckable(True)
        self.select_button.setToolTip(
            "Show a rectangle; the images inside it are shown and selected in the grid."
        )
        self.select_button.toggled.connect(self._toggle_rectangle)
        self.lasso_button = QPushButton("Lasso")
        self.lasso_button.setCheckable(True)
        self.lasso_button.setToolTip(
            "Draw around dots with the left mouse button; the images inside are shown and "
            "selected in the grid. Turn it off to pan again."
        )
        self.lasso_button.toggled.connect(self._toggle_lasso)
        self.info = plain_label("Open a project, then compute the map.")
        self.info.setWordWrap(True)

    def _build_plot(self) -> None:
        self.view_box = LassoViewBox()
        self.view_box.lasso_finished.connect(self.select_polygon)
        self.plot = pg.PlotWidget(background="w", viewBox=self.view_box)
        self.plot.setObjectName("map_plot")
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.legend = self.plot.addLegend(
            offset=(5, 5),
            labelTextSize="8pt",
            labelTextColor="#202020",  # pyqtgraph's default grey is made for dark plots
            brush=pg.mkBrush(255, 255, 255, 210),
            pen=pg.mkPen("#b0b0b0"),
        )
        self.hover = plain_label("", self.plot)
        self.hover.setStyleSheet("background: white; border: 1px solid #888; padding: 2px;")
        self.hover.hide()
        self._hover_proxy = pg.SignalProxy(
            self.plot.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse
        )

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(plain_label("Colour by"))
        bar.addWidget(self.colour_box, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.compute_button)
        buttons.addWidget(self.select_button)
        buttons.addWidget(self.lasso_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addLayout(buttons)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.info)

    # ---- session -----------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.xy = None
        self._tree = None
        self._clear_plot()
        self.compute_button.setEnabled(session is not None)
        self.select_button.setEnabled(False)
        self.info.setText(
            "Compute the map to see the images' embeddings."
            if session is not None
            else "Open a project, then compute the map."
        )
        self._fill_colour_box()

    def _fill_colour_box(self, *_: object) -> None:
        session = self.session
        current = self.colour_box.currentText()
        self.colourings = {}
        if session is not None:
            self.colourings["class"] = session.labels
            for name, column in session.attributes.items():
                self.colourings[f"attribute: {name}"] = column
            for name, column in session.confounders.columns().items():
                self.colourings[f"confounder: {name}"] = column
            if session.runs.latest is not None:
                self.colourings["latest run: correct?"] = session.runs.latest.correctness
        self.colour_box.blockSignals(True)
        self.colour_box.clear()
        self.colour_box.addItems(list(self.colourings))
        if current in self.colourings:
            self.colour_box.setCurrentText(current)
        self.colour_box.blockSignals(False)
        self.redraw()

    # ---- computing ---------------------------------------------------------------------------
    def compute(self) -> None:
        if self.session is None:
            return
        project, model, device = self.session.project, self.hub.model_name, self.hub.device
        self.info.setText("computing…")
        self.hub.runner.start(
            "Embedding map",
            lambda token: engine.map_job(project, model, device, token),
            key="map",
            on_done=partial(self._on_computed, model),
            on_error=self._show_error,
        )

    def _show_error(self, message: str, _details: str) -> None:
        self.info.setText(message)

    def _on_computed(self, model: str, result: engine.MapResult) -> None:
        xy, density = result
        if self.session is None or len(xy) != len(self.session):
            return
        self.xy = xy
        self.density = density
        self.select_button.setEnabled(True)
        self.lasso_button.setEnabled(True)
        self.hub.embeddings_changed.emit(model)
        self.hub.runner.start(
            "Map index",
            lambda _t: _kd_tree(xy),
            key="map-index",
            quiet=True,
            on_done=self._on_tree,
        )
        self.redraw()

    def _on_tree(self, result: tuple[Any, np.ndarray]) -> None:
        self._tree, self._tree_ids = result

    # ---- drawing -----------------------------------------------------------------------------
    def _clear_plot(self) -> None:
        self._draw_timer.stop()
        self._steps = None
        self._item_of_code = {}
        for item in self.items:
            self.plot.removeItem(item)
        self.items = []
        self.legend.clear()
        if self.density_item is not None:
            self.plot.removeItem(self.density_item)
            self.density_item = None

    def redraw(self) -> None:
        self._clear_plot()
        if self.xy is None or self.session is None:
            return
        xy = self.xy
        column = self.colourings.get(self.colour_box.currentText(), self.session.labels)
        finite = np.isfinite(xy[:, 0])
        if self.density is not None:
            image, (x0, y0, width, height) = self.density
            self.density_item = pg.ImageItem(image)
            self.density_item.setLookupTable(pg.colormap.get("viridis").getLookupTable())
            self.density_item.setRect(x0, y0, width, height)
            self.plot.addItem(self.density_item)
            self.info.setText(f"{int(finite.sum()):,} images (density: too many points to draw)")
            return
        self._steps = _draw_steps(column, finite)
        self._draw_some()
        self.info.setText(f"{int(finite.sum()):,} images · PCA of the image embeddings")

    @property
    def drawing(self) -> bool:
        """Dots are still being added (a turn of the event loop at a time)."""
        return self._steps is not None

    def _draw_some(self) -> None:
        """Add dots step by step (one at least) until the time budget of this turn is spent."""
        deadline = time.perf_counter() + DRAW_BUDGET_S
        while self._steps is not None:
            step = next(self._steps, None)
            if step is None:
                self._steps = None
                return
            self._add_dots(*step)
            if time.perf_counter() >= deadline:
                self._draw_timer.start(0)
                return

    def _add_dots(self, code: int, name: str, rows: np.ndarray) -> None:
        assert self.xy is not None
        x, y = self.xy[rows, 0], self.xy[rows, 1]
        item = self._item_of_code.get(code)
        if item is not None:
            item.addPoints(x=x, y=y)
            return
        item = pg.ScatterPlotItem(
            x=x,
            y=y,
            pen=None,
            brush=pg.mkBrush(colour(code)),
            size=POINT_SIZE,
            pxMode=True,
            hoverable=False,
            name=name,
        )
        self.plot.addItem(item)
        self.items.append(item)
        self._item_of_code[code] = item

    # ---- selection ---------------------------------------------------------------------------
    def _toggle_rectangle(self, on: bool) -> None:
        if on:
            self.lasso_button.setChecked(False)
        if self.rectangle is not None:
            self.plot.removeItem(self.rectangle)
            self.rectangle = None
        if not on or self.xy is None:
            self.hub.grid.set_mask("map", None)
            return
        view = self.plot.getViewBox().viewRange()
        (x0, x1), (y0, y1) = view
        w, h = (x1 - x0) / 3, (y1 - y0) / 3
        self.rectangle = pg.RectROI([x0 + w, y0 + h], [w, h], pen=pg.mkPen("#d62728", width=2))
        self.plot.addItem(self.rectangle)
        self.rectangle.sigRegionChangeFinished.connect(self._select_in_rectangle)
        self._select_in_rectangle()

    def _toggle_lasso(self, on: bool) -> None:
        self.view_box.set_lasso(on)
        if on:
            self.select_button.setChecked(False)
        else:
            self.hub.grid.set_mask("map", None)

    def select_area(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Show and select the images whose dots lie in the rectangle; returns their ids."""
        if self.xy is None:
            return np.zeros(0, dtype=np.int64)
        return self._select(engine.inside_rectangle(self.xy, x0, y0, x1, y1))

    def select_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Show and select the images whose dots lie inside the lasso; returns their ids."""
        if self.xy is None:
            return np.zeros(0, dtype=np.int64)
        return self._select(engine.inside_polygon(self.xy, polygon))

    def _select(self, keep: np.ndarray) -> np.ndarray:
        ids = np.flatnonzero(keep)
        self.hub.grid.set_mask("map", Mask(f"{len(ids):,} images from the map", keep))
        self.hub.grid.select(ids)
        return ids

    def _select_in_rectangle(self) -> None:
        if self.rectangle is None:
            return
        pos, size = self.rectangle.pos(), self.rectangle.size()
        self.select_area(pos.x(), pos.y(), pos.x() + size.x(), pos.y() + size.y())

    # ---- hover -------------------------------------------------------------------------------
    def _on_mouse(self, event: tuple[QPointF]) -> None:
        if self._tree is None or self.xy is None:
            self.hover.hide()
            return
        position = event[0]
        view = self.plot.getViewBox()
        if not view.sceneBoundingRect().contains(position):
            self.hover.hide()
            return
        point = view.mapSceneToView(position)
        _, index = self._tree.query([[point.x(), point.y()]], k=1)
        image_id = int(self._tree_ids[int(index[0][0])])
        pixel = view.mapViewToScene(pg.Point(*self.xy[image_id]))
        if (pixel - position).manhattanLength() > 12:
            self.hover.hide()
            return
        pixmap = self.hub.thumbnails.pixmap(image_id)
        if pixmap is None:
            self.hover.setText(f"#{image_id}")
        else:
            self.hover.setPixmap(pixmap.scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio))
        self.hover.adjustSize()
        local = self.plot.mapFromScene(position)
        self.hover.move(local.x() + 14, local.y() + 14)
        self.hover.show()
        self.hover.raise_()


def _draw_steps(column: Column, finite: np.ndarray) -> Iterator[tuple[int, str, np.ndarray]]:
    """(colour code, legend name, rows) for every ``DRAW_CHUNK`` dots of every colour."""
    codes = column.codes
    for code in range(-1, len(column.values)):
        rows = np.flatnonzero((codes == code) & finite)
        name = escape(column.values[code]) if code >= 0 else "unknown"  # legends are HTML
        for start in range(0, len(rows), DRAW_CHUNK):
            yield code, name, rows[start : start + DRAW_CHUNK]


def _kd_tree(xy: np.ndarray) -> tuple[Any, np.ndarray]:
    """A KD-tree over the finite points (worker), and the image id of each of its points."""
    from sklearn.neighbors import KDTree

    finite = np.flatnonzero(np.isfinite(xy[:, 0]))
    return KDTree(xy[finite]), finite

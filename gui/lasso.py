"""Free-hand lasso selection on a pyqtgraph plot: a view box that, while the lasso is on, draws the
path the left button drags instead of panning, and hands the closed polygon (in data coordinates)
to whoever listens. Which points lie inside is core.embed.projection.inside_polygon's business."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal


class LassoViewBox(pg.ViewBox):
    lasso_finished = Signal(object)  # (V, 2) float array, the lasso's vertices in data coordinates

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lasso_on = False
        self._vertices: list[tuple[float, float]] = []
        self._path = pg.PlotCurveItem(pen=pg.mkPen("#d62728", width=2))
        self._path.setZValue(1000)
        self.addItem(self._path, ignoreBounds=True)

    def set_lasso(self, on: bool) -> None:
        self.lasso_on = on
        self.clear_lasso()

    def clear_lasso(self) -> None:
        self._vertices = []
        self._path.setData([], [])

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        if not self.lasso_on or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._vertices = [(start.x(), start.y())]
        here = self.mapSceneToView(ev.scenePos())
        self._vertices.append((here.x(), here.y()))
        closed = np.array(self._vertices + self._vertices[:1], dtype=float)
        self._path.setData(closed[:, 0], closed[:, 1])
        if ev.isFinish():
            self.lasso_finished.emit(np.array(self._vertices, dtype=float))

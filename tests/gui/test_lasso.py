"""The map's lasso: dragging with the left button draws a closed path (no panning) and reports its
vertices in data coordinates; with the lasso off the same drag pans the view."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from debias_studio.core.embed.projection import inside_polygon
from debias_studio.gui.lasso import LassoViewBox


def _drag(qtbot, widget, points: list[QPoint]) -> None:  # type: ignore[no-untyped-def]
    """Press, move through ``points`` (spaced in time: pyqtgraph drops moves that come faster
    than its scene's rate limit), release."""
    viewport = widget.viewport()

    def send(kind: QEvent.Type, at: QPoint, button: Qt.MouseButton, held: Qt.MouseButton) -> None:
        local = QPointF(at)
        event = QMouseEvent(
            kind, local, QPointF(viewport.mapToGlobal(at)), button, held, Qt.KeyboardModifier(0)
        )
        QApplication.sendEvent(viewport, event)

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    send(QEvent.Type.MouseButtonPress, points[0], left, left)
    for point in points[1:]:
        qtbot.wait(40)
        send(QEvent.Type.MouseMove, point, none, left)
    send(QEvent.Type.MouseButtonRelease, points[-1], left, none)


def _plot(qtbot):  # type: ignore[no-untyped-def]
    view = LassoViewBox()
    plot = pg.PlotWidget(viewBox=view)
    qtbot.addWidget(plot)
    plot.resize(400, 400)
    plot.show()
    qtbot.waitExposed(plot)
    view.setRange(xRange=(0, 10), yRange=(0, 10), padding=0)
    return plot, view


def _screen(view: LassoViewBox, plot, x: float, y: float) -> QPoint:  # type: ignore[no-untyped-def]
    scene = view.mapViewToScene(pg.Point(x, y))
    return plot.mapFromScene(scene)


def test_lasso_drag_reports_a_polygon_around_the_dots_it_encloses(qtbot) -> None:
    plot, view = _plot(qtbot)
    view.set_lasso(True)
    corners = [(2, 2), (6, 2), (6, 6), (2, 6)]
    path = [_screen(view, plot, x, y) for x, y in [*corners, (2, 2.5)]]
    with qtbot.waitSignal(view.lasso_finished, timeout=5000) as finished:
        _drag(qtbot, plot, path)
    polygon = finished.args[0]
    assert polygon.shape[1] == 2 and len(polygon) >= 4
    dots = np.array([[4.0, 4.0], [3.0, 5.0], [8.0, 8.0], [1.0, 4.0]])
    assert list(inside_polygon(dots, polygon)) == [True, True, False, False]
    assert view.viewRange()[0] == [0, 10]  # the drag did not pan


def test_without_the_lasso_a_drag_pans(qtbot) -> None:
    plot, view = _plot(qtbot)
    reported: list[object] = []
    view.lasso_finished.connect(reported.append)
    _drag(qtbot, plot, [_screen(view, plot, x, 5) for x in (5, 6, 7)])
    assert not reported
    assert view.viewRange()[0][0] < 0  # dragged right: the view moved left

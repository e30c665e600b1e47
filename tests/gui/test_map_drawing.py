"""The embedding map adds its dots a step at a time (gui.embedding_map, issue 15.4): the GUI thread
never spends more than one step's worth of drawing per turn of the event loop, the end result
is every dot once, in its colour's item with its legend entry, and a redraw mid-way starts over."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from debias_studio.gui import embedding_map
from tests.gui.stories import wait_idle, wait_ok


def _dots(emap) -> int:  # type: ignore[no-untyped-def]
    return sum(len(item.data) for item in emap.items)


def test_dots_are_added_a_step_per_turn_and_all_end_up_drawn(
    window, qtbot, tiny_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait_ok(qtbot, window.open_project(tiny_project), 20000)
    wait_idle(qtbot, window)
    emap = window.panels["map_dock"]
    count = len(window.session)
    monkeypatch.setattr(embedding_map, "DRAW_CHUNK", 3)
    monkeypatch.setattr(embedding_map, "DRAW_BUDGET_S", 0.0)  # one step per turn
    emap.xy = np.random.default_rng(0).normal(size=(count, 2))
    emap.redraw()
    assert emap.drawing and _dots(emap) == 3, "one step at once, the rest later"
    emap.redraw()  # a redraw mid-way starts over instead of adding to what was drawn
    assert _dots(emap) == 3
    qtbot.waitUntil(lambda: not emap.drawing, timeout=10000)
    assert _dots(emap) == count
    classes = window.session.labels.values
    assert len(emap.items) == len(classes)
    names = [label.item.toPlainText() for _sample, label in emap.legend.items]
    assert sorted(names) == sorted(classes)
    for code, item in enumerate(emap.items):
        rows = np.flatnonzero(window.session.labels.codes == code)
        assert np.allclose(np.sort(item.data["x"]), np.sort(emap.xy[rows, 0]))

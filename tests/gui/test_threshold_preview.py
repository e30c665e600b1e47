"""The confounder panel's threshold preview runs in a worker, throttled while the slider moves,
and a result for a threshold the slider has already left is dropped."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from debias_studio.gui import engine
from tests.gui.fake_engine import FakeClip
from tests.gui.stories import wait_idle, wait_ok


def _panel_with_a_concept(window, qtbot, monkeypatch, tiny_project: Path):
    wait_ok(qtbot, window.open_project(tiny_project))
    session = window.session
    FakeClip(session.labels.codes, session.attributes["shade"].codes).install(monkeypatch)
    panel = window.panels["confounders_dock"]
    panel.add_from_concept("dark")
    qtbot.waitUntil(lambda: panel.preview_threshold is not None, timeout=20000)
    wait_idle(qtbot, window)
    return panel


def test_the_slider_previews_in_a_worker_throttled(
    window, qtbot, monkeypatch, tiny_project: Path
) -> None:
    panel = _panel_with_a_concept(window, qtbot, monkeypatch, tiny_project)
    calls: list[tuple[float, int]] = []
    preview = engine.threshold_preview

    def spy(scores, labels, classes, threshold):  # type: ignore[no-untyped-def]
        calls.append((threshold, threading.get_ident()))
        return preview(scores, labels, classes, threshold)

    monkeypatch.setattr(engine, "threshold_preview", spy)
    values = np.round(np.linspace(-2.0, 2.0, 41), 2).tolist()
    for value in values:  # a drag: many ticks before the event loop runs again
        panel.slider.setValue(value)
    qtbot.waitUntil(lambda: panel.preview_threshold == values[-1], timeout=10000)
    wait_idle(qtbot, window)
    assert 1 <= len(calls) <= 3, calls  # the first tick at once, the last where it stopped
    assert all(ident != threading.main_thread().ident for _, ident in calls)
    expected = preview(panel.scores, window.session.labels.codes, ["red", "green", "blue"], 2.0)
    assert f"present: {sum(expected['present']):,}" in panel.preview.text()


def test_a_late_result_for_an_old_threshold_is_dropped(
    window, qtbot, monkeypatch, tiny_project: Path
) -> None:
    panel = _panel_with_a_concept(window, qtbot, monkeypatch, tiny_project)
    gate = threading.Event()
    preview = engine.threshold_preview

    def slow_at_minus_two(scores, labels, classes, threshold):  # type: ignore[no-untyped-def]
        if threshold == -2.0:
            gate.wait(10)
        return preview(scores, labels, classes, threshold)

    monkeypatch.setattr(engine, "threshold_preview", slow_at_minus_two)
    panel.slider.setValue(-2.0)
    qtbot.wait(300)  # past the throttle: the next tick starts its own preview
    panel.slider.setValue(2.0)
    qtbot.waitUntil(lambda: panel.preview_threshold == 2.0, timeout=10000)
    shown = panel.preview.text()
    gate.set()  # the old preview finishes now, after the new one
    wait_idle(qtbot, window)
    qtbot.wait(100)
    assert panel.preview_threshold == 2.0 and panel.preview.text() == shown
    low = preview(panel.scores, window.session.labels.codes, ["red", "green", "blue"], -2.0)
    assert f"present: {sum(low['present']):,} " not in shown

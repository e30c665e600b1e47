"""A whole debiasing session driven through the GUI (issue 5's done-when): demo project → embed →
discover → mark the top concept as confounder → threshold → train ERM and a cure → runs table →
cancel a running job → reopen and find everything.

``test_session_with_stand_ins`` runs the story of tests/gui/stories.py with a stand-in for CLIP;
training and the project store are real. ``test_session_on_the_real_engine`` runs it on the real
demo and engine."""

from __future__ import annotations

import functools
import gc
import importlib.util
import inspect
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication
from shiboken6 import Object

from debias_studio.gui.main_window import MainWindow
from debias_studio.gui.workers import JobRunner
from tests.gui.stories import run_session_story, wait_idle, wait_ok


def test_session_with_stand_ins(window, qtbot, monkeypatch) -> None:
    run_session_story(window, qtbot, monkeypatch)


def _real_engine_ready() -> bool:
    root = Path(__file__).resolve().parents[2]
    return (
        importlib.util.find_spec("debias_studio.core.annotate") is not None
        and (root / "core" / "concepts" / "__init__.py").is_file()
        and (root / "resources" / "models" / "demo-clip" / "open_clip_model.safetensors").is_file()
    )


@pytest.mark.slow
@pytest.mark.skipif(not _real_engine_ready(), reason="discovery/annotation/demo CLIP not built yet")
def test_session_on_the_real_engine(window, qtbot) -> None:
    wait_ok(qtbot, window.open_demo("digits"), 120000)
    folder = window.session.folder
    window.actions["embed"].trigger()
    emap = window.panels["map_dock"]
    qtbot.waitUntil(lambda: emap.xy is not None, timeout=120000)
    window.actions["discover"].trigger()
    concepts = window.panels["concepts_dock"]
    qtbot.waitUntil(lambda: concepts.top_concept() is not None, timeout=120000)
    top = concepts.top_concept()
    concepts.select_row(0)
    concepts.mark_button.click()
    confounders = window.panels["confounders_dock"]
    qtbot.waitUntil(lambda: confounders.choice.currentText() == top, timeout=30000)
    confounders.slider.setValue(1.0)
    confounders.apply_threshold()
    wait_idle(qtbot, window, 30000)
    training = window.panels["training_dock"]
    for method in ("erm", "balanced"):
        training.method.setCurrentIndex(training.method.findData(method))
        training.backbone.setCurrentIndex(training.backbone.findData("head"))
        training.epochs.setValue(1)
        training.set_confounder(top)
        wait_ok(qtbot, training.start(), 120000)
    runs = window.panels["runs_dock"]
    qtbot.waitUntil(lambda: len(runs.runs) == 2, timeout=10000)
    training.epochs.setValue(500)
    handle = training.start()
    qtbot.waitUntil(lambda: handle.progress.total > 0, timeout=60000)
    training.cancel()
    with qtbot.waitSignal(handle.ended, timeout=60000) as ended:
        pass
    assert ended.args == ["cancelled"]
    wait_idle(qtbot, window)
    window.close_project()
    wait_ok(qtbot, window.open_project(folder))
    wait_idle(qtbot, window)
    assert len(runs.runs) == 3
    assert confounders.choice.findText(top) >= 0
    assert concepts.top_concept() == top


REPEATS = 5
"""The whole-session flow this many times in one process (issue 12.15: the app froze for good
when garbage from a worker took a Qt object down with it)."""


@pytest.mark.timeout(REPEATS * 60)
def test_the_whole_session_many_times_in_one_process(
    qtbot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Never hangs (the per-test timeout dumps every thread's stack if it does); every job gets
    plain data only; every closed window is freed, widgets and all."""
    started: list[Callable[..., Any]] = []
    start = JobRunner.start

    def spy(self: JobRunner, name: str, function: Callable[..., Any], **kwargs: Any) -> Any:
        started.append(function)
        return start(self, name, function, **kwargs)

    monkeypatch.setattr(JobRunner, "start", spy)
    _settle(qtbot)  # what earlier tests left behind goes first, so only growth counts
    top_levels = len(QApplication.topLevelWidgets())
    for run in range(REPEATS):
        monkeypatch.setenv("DEBIAS_STUDIO_DATA", str(tmp_path / f"run-{run}"))
        freed = _one_session(qtbot, monkeypatch)
        _settle(qtbot)
        assert freed() is None, f"run {run}: the closed window is still alive"
        qt_objects = [(f, v) for f in started for v in captured(f) if isinstance(v, Object)]
        assert not qt_objects, f"run {run}: jobs hold Qt objects: {qt_objects}"
        started.clear()
    assert len(QApplication.topLevelWidgets()) <= top_levels


def _one_session(qtbot, monkeypatch: pytest.MonkeyPatch) -> weakref.ref[MainWindow]:
    window = MainWindow()
    window.show()
    qtbot.waitUntil(lambda: not window.runner.jobs(), timeout=120000)  # imports, the first time
    try:
        run_session_story(window, qtbot, monkeypatch)
    finally:
        window.shutdown()
        window.close()
    assert not window.runner.jobs() and window.runner.retired_count() == 0
    return weakref.ref(window)


def _settle(qtbot) -> None:
    """Let deferred deletes run, then collect (on this, the GUI thread)."""
    qtbot.wait(50)
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def captured(function: Callable[..., Any]) -> list[object]:
    """What a job function holds: closure cells, defaults, a bound method's object, a partial's
    arguments, following the callables among them, and the items of captured containers."""
    found: list[object] = []
    todo: list[object] = [function]
    seen: set[int] = set()
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, functools.partial):
            todo += [item.func, *item.args, *item.keywords.values()]
        elif inspect.ismethod(item):
            todo += [item.__self__, item.__func__]
        elif inspect.isfunction(item):
            cells = [c.cell_contents for c in item.__closure__ or () if _filled(c)]
            todo += [*cells, *(item.__defaults__ or ())]
        elif isinstance(item, list | tuple | set | dict):
            todo += list(item.values() if isinstance(item, dict) else item)
        else:
            found.append(item)
    return found


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True

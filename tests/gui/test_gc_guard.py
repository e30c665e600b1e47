"""Cyclic garbage is collected on the GUI thread only (gui.gc_guard, issue 12.15): while the app
runs, automatic collection is off, so a worker that allocates past every threshold collects
nothing; the GUI thread's timer then collects what the worker left behind."""

from __future__ import annotations

import gc
import threading
from typing import ClassVar

from debias_studio.gui import gc_guard
from debias_studio.gui.app import application


class _Cycle:
    """Garbage in a reference cycle that notes the thread that finally frees it."""

    freed_on: ClassVar[list[int]] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.get_ident())


def test_the_app_turns_automatic_collection_off(qapp) -> None:
    assert application() is qapp
    assert gc_guard._COLLECTOR is not None
    assert gc_guard.collect_on_gui_thread(qapp) is gc_guard._COLLECTOR  # installed once
    assert not gc.isenabled()


def test_a_worker_collects_nothing_and_the_gui_thread_collects_its_garbage(qtbot) -> None:
    _Cycle.freed_on.clear()
    kept: list[list[list[int]]] = []  # live allocations keep the young generation's count up

    def worker() -> None:
        _Cycle()  # unreachable at once, freed only by a cyclic collection
        kept.append([[] for _ in range(50 * gc.get_threshold()[0])])  # far past the thresholds

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert _Cycle.freed_on == [], "a collection ran on the worker"
    qtbot.waitUntil(lambda: bool(_Cycle.freed_on), timeout=5000)
    assert _Cycle.freed_on == [threading.main_thread().ident]


def test_the_collector_checks_counts_generation_by_generation(qapp) -> None:
    collector = gc_guard._COLLECTOR
    assert collector is not None
    _Cycle.freed_on.clear()
    _Cycle()
    junk = [[] for _ in range(2 * gc.get_threshold()[0])]
    assert gc.get_count()[0] > gc.get_threshold()[0]
    collector.check()  # what the timer calls
    assert _Cycle.freed_on == [threading.main_thread().ident]
    assert gc.get_count()[0] < gc.get_threshold()[0]
    assert len(junk) == 2 * gc.get_threshold()[0]

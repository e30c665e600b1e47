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


def test_a_window_starting_up_holds_collection_then_freezes_what_is_alive(qapp) -> None:
    """Start-up imports are long-lived: nothing is collected while a window holds; its freeze
    leaves what is alive then out of later collections; thawing (closing) brings it back."""
    collector = gc_guard._COLLECTOR
    assert collector is not None
    holder = object()
    _Cycle.freed_on.clear()
    gc_guard.hold_until_frozen(holder)
    try:
        _Cycle()
        junk = [[] for _ in range(2 * gc.get_threshold()[0])]
        collector.check()
        assert _Cycle.freed_on == [], "collected while held"
        gc_guard.freeze_long_lived(holder)
        assert gc.get_freeze_count() > len(junk)
        _Cycle()
        more = [[] for _ in range(2 * gc.get_threshold()[0])]
        collector.check()  # held no longer: garbage made after the freeze is collected
        assert _Cycle.freed_on == [threading.main_thread().ident], "the frozen one is kept"
        assert len(more) > 0
    finally:
        gc_guard.thaw(holder)
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert len(_Cycle.freed_on) == 2, "thawed, the first cycle is collected too"


def test_the_main_window_freezes_after_its_warm_up_and_thaws_when_closed(window) -> None:
    assert window.startup.handle.state == "done"
    assert gc.get_freeze_count() > 0
    window.shutdown()
    assert gc.get_freeze_count() == 0

"""The job runner: progress, results, readable failures, cancel, one job per key, leak guard."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import Progress
from debias_studio.gui.workers import JobRunner, running_workers
from tests.gui.conftest import busy_threads


def counting_job(n: int, gate: threading.Event | None = None):
    def job(token):
        for i in range(n):
            token.raise_if_cancelled()
            if gate is not None:
                gate.wait(5)
            yield Progress(i + 1, n, f"step {i + 1}")
        return n * 10

    return job


def test_result_and_progress_reach_the_gui_thread(qtbot) -> None:
    runner = JobRunner()
    seen: list[Progress] = []
    results: list[int] = []
    handle = runner.start(
        "count", counting_job(20000), on_progress=seen.append, on_done=results.append
    )
    with qtbot.waitSignal(handle.ended, timeout=10000) as ended:
        pass
    assert ended.args == ["done"]
    assert results == [200000]
    assert handle.result == 200000
    # throttled: 20,000 steps arrive as far fewer signals, still in order
    assert 1 <= len(seen) < 2000
    assert [p.done for p in seen] == sorted(p.done for p in seen)


def test_a_studio_error_becomes_one_readable_message(qtbot) -> None:
    def failing(token):
        yield Progress(0, 1, "trying")
        raise StudioError("The folder /nowhere does not exist.")

    runner = JobRunner()
    errors: list[tuple[str, str]] = []
    handle = runner.start("open", failing, on_error=lambda m, d: errors.append((m, d)))
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass
    assert handle.state == "failed"
    assert errors[0][0] == "The folder /nowhere does not exist."
    assert "StudioError" in errors[0][1]  # details on demand


def test_a_bug_is_reported_with_its_type(qtbot) -> None:
    runner = JobRunner()
    handle = runner.start("divide", lambda token: 1 / 0)
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass
    assert handle.state == "failed"
    assert "ZeroDivisionError" in handle.message


def test_cancel_stops_the_job_at_its_next_step(qtbot) -> None:
    gate = threading.Event()
    runner = JobRunner()
    done: list[int] = []
    handle = runner.start("slow", counting_job(1000, gate), on_done=done.append)
    qtbot.waitUntil(lambda: handle.progress.done >= 0 and runner.jobs() == [handle])
    handle.cancel()
    gate.set()
    with qtbot.waitSignal(handle.ended, timeout=5000) as ended:
        pass
    assert ended.args == ["cancelled"]
    assert done == []


def test_starting_under_the_same_key_cancels_the_old_job(qtbot) -> None:
    gate = threading.Event()
    runner = JobRunner()
    first = runner.start("first", counting_job(100, gate), key="panel")
    second = runner.start("second", counting_job(3), key="panel")
    gate.set()
    with qtbot.waitSignals([first.ended, second.ended], timeout=5000):
        pass
    assert first.state == "cancelled"
    assert second.state == "done"


def test_the_leak_guard_sees_a_running_job(qtbot) -> None:
    gate = threading.Event()
    runner = JobRunner()
    handle = runner.start("left running", counting_job(2, gate))
    try:
        assert "left running" in running_workers()
        assert any("left running" in b for b in busy_threads())
    finally:
        gate.set()
        with qtbot.waitSignal(handle.ended, timeout=5000):
            pass
    assert not running_workers()


def test_plain_functions_run_too(qtbot) -> None:
    runner = JobRunner()
    handle = runner.start("add", lambda token: 2 + 3)
    with qtbot.waitSignal(handle.succeeded, timeout=5000) as got:
        pass
    assert got.args == [5]
    qtbot.waitUntil(lambda: not runner.jobs())


@pytest.mark.parametrize("n", [0])
def test_a_job_with_no_steps_ends(qtbot, n: int) -> None:
    runner = JobRunner()
    handle = runner.start("empty", counting_job(n))
    with qtbot.waitSignal(handle.ended, timeout=5000) as ended:
        pass
    assert ended.args == ["done"]


def test_finished_workers_are_released_on_the_gui_thread(qtbot) -> None:
    """A worker's signal emitter is a QObject: it must be destroyed on the GUI thread, never by
    the worker thread dropping the last reference as ``run()`` returns (issue 12.15)."""
    runner = JobRunner()
    destroyed_on: list[int] = []
    handles = [runner.start(f"job {i}", counting_job(3)) for i in range(8)]
    for worker in runner._active.values():
        worker.signals.destroyed.connect(
            lambda *_: destroyed_on.append(threading.get_ident()),
            Qt.ConnectionType.DirectConnection,
        )
    with qtbot.waitSignals([h.ended for h in handles], timeout=10000):
        pass
    qtbot.waitUntil(lambda: runner.retired_count() == 0, timeout=5000)
    qtbot.waitUntil(lambda: len(destroyed_on) == len(handles), timeout=5000)
    assert set(destroyed_on) == {threading.main_thread().ident}

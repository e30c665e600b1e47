"""The one place in gui/ that starts workers (ARCHITECTURE.md, rules 2 and 3).

Every long action — opening a project, scanning, embedding, discovery, training, export, even a
small database write — goes through ``JobRunner.start``. The engine only ever sees a plain core
job (a generator yielding ``Progress``) or a function; it runs in a superqt worker on the global
thread pool, its progress is throttled before it crosses into the GUI thread (Orange3's rule:
emit when the value moves by at least 0.1 %, or the message changes, at most every 40 ms), and
its end is one of done / failed / cancelled. A ``key`` gives "one running task per panel":
starting a job under a key cancels the one that was running under it.

Qt objects must die on the GUI thread (issue 12.15). A job function therefore captures plain data
only (a project, arrays, numbers; never a widget, the hub or a signal), and the runner destroys
a finished worker's signal emitter — a QObject — itself, on the GUI thread, once the worker
thread is done with it (``_release_retired``), instead of leaving it to whichever thread drops
the last reference.
"""

from __future__ import annotations

import inspect
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Generator
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThreadPool, QTimer, Signal
from superqt.utils import GeneratorWorker, create_worker

from debias_studio.core.errors import JobCancelled, readable
from debias_studio.core.jobs import CancelToken, Progress

JobFunction = Callable[[CancelToken], Any]
"""Takes the cancel token; returns a core job (generator) or a plain result."""

MIN_STEP = 0.001
MIN_INTERVAL_S = 0.04

_RUNNERS: weakref.WeakSet[JobRunner] = weakref.WeakSet()
_WARMED = threading.Event()
_WARMED.set()
"""Cleared while a warm-up job imports the heavy libraries: two workers importing one package
at once (scikit-learn, torch) can deadlock in Python's import machinery, so every other job
waits for the warm-up before it starts."""
WARM_UP_WAIT_S = 180
RELEASE_EVERY_MS = 100
"""How often finished workers not yet released (their thread still returning from ``run()``,
their last signal still queued) are looked at again."""


class JobHandle(QObject):
    """One job as the GUI sees it: its progress, its end, and a way to cancel it.

    Its worker's signals reach it through bound methods, which Qt does not count as references:
    a lambda there would tie the worker, the handle and the runner into a cycle that passes
    through Qt, which the garbage collector cannot see, so none of them would ever be freed."""

    progressed = Signal(object)  # Progress
    succeeded = Signal(object)  # the job's result
    failed = Signal(str, str)  # readable message, details (traceback or "")
    cancelled = Signal()
    finishing = Signal(object)  # this handle, for the runner, just before ``ended``
    ended = Signal(str)  # final state, always emitted last

    def __init__(self, name: str, key: str | None, token: CancelToken) -> None:
        super().__init__()
        self.name = name
        self.key = key
        self.token = token
        self.state = "running"
        self.progress = Progress(0, 0, "starting")
        self.message = ""
        self.details = ""
        self.result: Any = None
        self.started_at = time.monotonic()

    @property
    def running(self) -> bool:
        return self.state == "running"

    def cancel(self) -> None:
        """Ask the job to stop at its next progress step."""
        if self.running:
            self.token.cancel()

    # ---- the worker's signals (GUI thread) -----------------------------------------------
    def _on_progress(self, progress: Progress) -> None:
        self.progress = progress
        self.progressed.emit(progress)

    def _on_returned(self, result: Any) -> None:
        self.result = result
        if self.token.cancelled:
            self.state = "cancelled"
            self.message = "Cancelled."
            return
        self.state = "done"
        self.succeeded.emit(result)

    def _on_errored(self, error: BaseException) -> None:
        if isinstance(error, JobCancelled) or self.token.cancelled:
            self.state = "cancelled"
            self.message = "Cancelled."
            return
        self.state = "failed"
        readable_message = readable(error)  # StudioError, full disk, damaged database...
        if readable_message is not None:
            self.message = readable_message
        else:
            self.message = f"Unexpected error in '{self.name}': {type(error).__name__}: {error}"
        self.details = "".join(traceback.format_exception(error))
        self.failed.emit(self.message, self.details)

    def _on_finished(self) -> None:
        if self.state == "running":  # cancelled job that returned normally
            self.state = "cancelled" if self.token.cancelled else "done"
        if self.state == "cancelled":
            self.cancelled.emit()
        self.finishing.emit(self)
        self.ended.emit(self.state)


class JobRunner(QObject):
    """Starts jobs in workers and tracks them until they end."""

    job_added = Signal(object)  # JobHandle
    job_ended = Signal(object)  # JobHandle

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._active: dict[JobHandle, GeneratorWorker] = {}
        self._retired: list[GeneratorWorker] = []
        self._release = QTimer(self)
        self._release.setInterval(RELEASE_EVERY_MS)
        self._release.timeout.connect(self._release_retired)
        _RUNNERS.add(self)

    # ---- starting ------------------------------------------------------------------------
    def start(
        self,
        name: str,
        function: JobFunction,
        *,
        key: str | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str, str], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        quiet: bool = False,
        warm_up: bool = False,
    ) -> JobHandle:
        """Run ``function(cancel_token)`` in a worker. ``on_done`` gets the result on the GUI
        thread. ``quiet`` jobs (tiny writes) are not listed in the jobs panel. ``function``
        must capture plain data only: the worker may drop it last."""
        if key is not None:
            for other in self.jobs():
                if other.key == key:
                    other.cancel()
        handle = JobHandle(name, key, CancelToken())
        handle.setProperty("quiet", quiet)
        for signal, slot in (
            (handle.progressed, on_progress),
            (handle.succeeded, on_done),
            (handle.failed, on_error),
        ):
            if slot is not None:
                signal.connect(slot)
        handle.finishing.connect(self._on_finishing)
        if warm_up:
            _WARMED.clear()
        worker = create_worker(
            _drive, function, handle.token, warm_up, _start_thread=False, _ignore_errors=True
        )
        worker.yielded.connect(handle._on_progress)
        worker.returned.connect(handle._on_returned)
        worker.errored.connect(handle._on_errored)
        worker.finished.connect(handle._on_finished)
        self._active[handle] = worker
        self.job_added.emit(handle)
        worker.start()
        return handle

    # ---- queries and control -------------------------------------------------------------
    def jobs(self) -> list[JobHandle]:
        """Jobs still running."""
        return list(self._active)

    def cancel_all(self) -> None:
        for handle in self.jobs():
            handle.cancel()

    def wait_all(self, timeout_ms: int = 10000) -> bool:
        """Block until every worker of the global pool is done (closing the app, tests), then
        deliver their last signals, so every job has ended and its worker is released here."""
        done = QThreadPool.globalInstance().waitForDone(timeout_ms)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.MetaCall)
        self._release_retired()
        return done

    # ---- ends (GUI thread) ---------------------------------------------------------------
    def _on_finishing(self, handle: JobHandle) -> None:
        worker = self._active.pop(handle, None)
        if worker is not None:
            self._retired.append(worker)
            self._release_retired()
        self.job_ended.emit(handle)

    def _release_retired(self) -> None:
        """Destroy the signal emitter (a QObject) of every finished worker its thread is done
        with, here on the GUI thread. Left to reference counting it would die wherever the
        last reference goes: often the worker thread returning from ``run()``, and PySide
        sometimes keeps one reference to a finished runnable for good."""
        waiting = []
        for worker in self._retired:
            if _done_with(worker):
                shiboken6.delete(worker.signals)
            else:
                waiting.append(worker)
        self._retired = waiting
        if waiting and not self._release.isActive():
            self._release.start()
        elif not waiting:
            self._release.stop()

    def retired_count(self) -> int:
        """Finished workers not yet released (tests)."""
        return len(self._retired)


def _done_with(worker: GeneratorWorker) -> bool:
    """Its thread is done with it: the pool deleted the runnable, which it does once ``run()``
    has returned, and superqt has delivered its last signal (``_finished``, which takes it out
    of the running set)."""
    return not shiboken6.isValid(worker) and worker not in GeneratorWorker._worker_set


def _drive(
    function: JobFunction, token: CancelToken, warm_up: bool = False
) -> Generator[Progress, None, Any]:
    """Worker body: call the function; if it gave a job, drive it, passing on throttled progress."""
    if warm_up:
        try:
            return function(token)
        finally:
            _WARMED.set()
    _WARMED.wait(WARM_UP_WAIT_S)
    out = function(token)
    if not inspect.isgenerator(out):
        return out
    last_fraction = -1.0
    last_message: str | None = None
    last_time = 0.0
    while True:
        try:
            progress = next(out)
        except StopIteration as stop:
            return stop.value
        now = time.monotonic()
        moved = abs(progress.fraction - last_fraction) >= MIN_STEP
        if (moved or progress.message != last_message) and now - last_time >= MIN_INTERVAL_S:
            last_fraction, last_message, last_time = progress.fraction, progress.message, now
            yield progress
        if token.cancelled:
            # Raised at the job's own yield, so its clean-up runs (a training run records
            # itself as cancelled); close() would skip that with a bare GeneratorExit.
            out.throw(JobCancelled())


def hold_jobs_for_warm_up() -> None:
    """From now on, jobs wait before they start until ``release_held_jobs`` (a warm-up that
    is started as an ordinary job, later than its ``start``, says so here; GUI thread)."""
    _WARMED.clear()


def release_held_jobs() -> None:
    _WARMED.set()


def running_workers() -> list[str]:
    """Names of jobs still running in any runner (the test fixture fails a test that leaves
    one behind)."""
    return [h.name for runner in list(_RUNNERS) for h in runner.jobs()]

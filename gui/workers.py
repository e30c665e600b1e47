"""The one place in gui/ that starts workers (ARCHITECTURE.md, rules 2 and 3).

Every long action — opening a project, scanning, embedding, discovery, training, export, even a
small database write — goes through ``JobRunner.start``. The engine only ever sees a plain core
job (a generator yielding ``Progress``) or a function; it runs in a superqt worker on the global
thread pool, its progress is throttled before it crosses into the GUI thread (Orange3's rule:
emit when the value moves by at least 0.1 %, or the message changes, at most every 40 ms), and
its end is one of done / failed / cancelled. A ``key`` gives "one running task per panel":
starting a job under a key cancels the one that was running under it.

Qt objects must die on the GUI thread (issue 12.15). A job function therefore captures plain data
only (a project, arrays, numbers; never a widget, the hub or a signal), and a finished worker —
whose signal emitter is a QObject — is released by the runner on the GUI thread once nothing
else holds it (``_release_retired``), never by the worker thread dropping its last reference.
"""

from __future__ import annotations

import inspect
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal
from superqt.utils import GeneratorWorker, create_worker

from debias_studio.core.errors import JobCancelled, StudioError
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
"""How often finished workers still held elsewhere (their thread's last frame, a queued signal)
are looked at again."""
_OWN_REFERENCES = 3
"""``sys.getrefcount`` of a retired worker held by nobody else: the list, the loop variable and
the call's own argument."""


class JobHandle(QObject):
    """One job as the GUI sees it: its progress, its end, and a way to cancel it."""

    progressed = Signal(object)  # Progress
    succeeded = Signal(object)  # the job's result
    failed = Signal(str, str)  # readable message, details (traceback or "")
    cancelled = Signal()
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
        thread. ``quiet`` jobs (tiny writes) are not listed in the jobs panel."""
        if key is not None:
            for other in self.jobs():
                if other.key == key:
                    other.cancel()
        token = CancelToken()
        handle = JobHandle(name, key, token)
        handle.setProperty("quiet", quiet)
        if warm_up:
            _WARMED.clear()
        worker = create_worker(
            _drive, function, token, warm_up, _start_thread=False, _ignore_errors=True
        )
        worker.yielded.connect(lambda p, h=handle: self._on_progress(h, p))
        worker.returned.connect(lambda r, h=handle: self._on_returned(h, r))
        worker.errored.connect(lambda e, h=handle: self._on_errored(h, e))
        worker.finished.connect(lambda h=handle: self._on_finished(h))
        if on_progress is not None:
            handle.progressed.connect(on_progress)
        if on_done is not None:
            handle.succeeded.connect(on_done)
        if on_error is not None:
            handle.failed.connect(on_error)
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
        """Block until every worker of the global pool is done (closing the app, tests)."""
        done = QThreadPool.globalInstance().waitForDone(timeout_ms)
        self._release_retired()
        return done

    # ---- worker signals (GUI thread) -----------------------------------------------------
    def _on_progress(self, handle: JobHandle, progress: Progress) -> None:
        handle.progress = progress
        handle.progressed.emit(progress)

    def _on_returned(self, handle: JobHandle, result: Any) -> None:
        handle.result = result
        if handle.token.cancelled:
            handle.state = "cancelled"
            handle.message = "Cancelled."
            return
        handle.state = "done"
        handle.succeeded.emit(result)

    def _on_errored(self, handle: JobHandle, error: BaseException) -> None:
        if isinstance(error, JobCancelled) or handle.token.cancelled:
            handle.state = "cancelled"
            handle.message = "Cancelled."
            return
        handle.state = "failed"
        if isinstance(error, StudioError):
            handle.message = str(error)
        else:
            handle.message = f"Unexpected error in '{handle.name}': {type(error).__name__}: {error}"
        handle.details = "".join(traceback.format_exception(error))
        handle.failed.emit(handle.message, handle.details)

    def _on_finished(self, handle: JobHandle) -> None:
        worker = self._active.pop(handle, None)
        if worker is not None:
            self._retired.append(worker)
            self._release_retired()
        if handle.state == "running":  # cancelled job that returned normally
            handle.state = "cancelled" if handle.token.cancelled else "done"
        if handle.state == "cancelled":
            handle.cancelled.emit()
        self.job_ended.emit(handle)
        handle.ended.emit(handle.state)

    def _release_retired(self) -> None:
        """Drop finished workers nobody else holds, here on the GUI thread, so their signal
        emitter (a QObject) is destroyed here. One still held — by its thread finishing
        ``run()``, by superqt's worker set, by a queued signal — waits for the next look."""
        held = [w for w in self._retired if sys.getrefcount(w) > _OWN_REFERENCES]
        self._retired = held
        if held and not self._release.isActive():
            self._release.start()
        elif not held:
            self._release.stop()

    def retired_count(self) -> int:
        """Finished workers not yet released (tests)."""
        return len(self._retired)


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


def running_workers() -> list[str]:
    """Names of jobs still running in any runner (the test fixture fails a test that leaves
    one behind)."""
    return [h.name for runner in list(_RUNNERS) for h in runner.jobs()]

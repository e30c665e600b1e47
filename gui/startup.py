"""The start-up sequence: paint the window, open what was asked for, then detect the device.

Detecting the device imports torch, open_clip and scikit-learn - seconds alone, tens of seconds
on a busy machine - and while a warm-up imports, every other job waits (``gui.workers``: two
workers importing one package can deadlock). Started with the window, it kept the project the
user asked for waiting behind it: measured on a loaded 2-core machine, the demo project was
painted 19 s after launch with the detection running first, 4 s without it.

So the detection job is registered at once (the jobs list shows it, and "no job running" still
means "settled"), but its worker only waits - without the GIL - until the window has painted
and no other job is running; then it holds new jobs and imports. A project opened, a demo
created or an embedding started before that simply runs; the device label says "…" meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

from debias_studio.core.jobs import CancelToken
from debias_studio.gui.first_paint import OnFirstPaint
from debias_studio.gui.workers import (
    JobHandle,
    JobRunner,
    hold_jobs_for_warm_up,
    release_held_jobs,
)

POLL_S = 0.05
"""How often the waiting worker looks at its cancel token (closing the app before start-up
ended must not wait for it)."""


class DeferredWarmUp(QObject):
    """Runs ``function`` (the device detection and its imports) as a job once ``window`` has
    painted (``painted``: it has already) and every other job of ``runner`` has ended."""

    def __init__(
        self,
        window: QWidget,
        runner: JobRunner,
        name: str,
        function: Callable[[CancelToken], Any],
        on_done: Callable[[Any], None],
        *,
        painted: bool = False,
    ) -> None:
        super().__init__(window)
        self._runner = runner
        self._go = threading.Event()
        self._painted = painted
        if painted:
            QTimer.singleShot(0, self._maybe_go)
        else:
            self._first_paint = OnFirstPaint(window, self._on_painted)
        runner.job_ended.connect(self._maybe_go)
        self.handle: JobHandle = runner.start(
            name, partial(_wait_then_run, self._go, function), quiet=True, on_done=on_done
        )

    @property
    def started(self) -> bool:
        return self._go.is_set()

    def _on_painted(self) -> None:
        self._painted = True
        self._maybe_go()

    def _maybe_go(self, *_: object) -> None:
        if self._go.is_set() or not self._painted or not self.handle.running:
            return
        if any(job is not self.handle for job in self._runner.jobs()):
            return  # the last job's end calls again
        hold_jobs_for_warm_up()
        self._go.set()


def _wait_then_run(
    go: threading.Event, function: Callable[[CancelToken], Any], token: CancelToken
) -> Any:
    """The worker's side: plain data only (an event and the function), no Qt object."""
    while not go.wait(POLL_S):
        token.raise_if_cancelled()
    try:
        return function(token)
    finally:
        release_held_jobs()

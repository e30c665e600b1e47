"""How long the app takes to show itself, measured from outside (``bench/startup.py``).

With ``DEBIAS_STUDIO_STARTUP_PROBE=1`` the app prints ``window-painted <unix time> <cpu s>``
when the main window is first painted and, when a project was asked for, ``project-painted
<unix time> <cpu s>`` when the browser first paints it; then it closes the window, which quits.
The bench subtracts the time at which it started the process, so the figures include the
interpreter, every import and the event loop's start. The process's CPU time so far is the same
work without the waiting a busy machine adds.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from PySide6.QtCore import QTimer

from debias_studio.gui.first_paint import OnFirstPaint

GIVE_UP_MS = 120_000


def report_first_paints(window: Any, expect_project: bool) -> None:
    """Print the first paints of ``window`` (and of its browser, with a project), then quit."""

    def window_painted() -> None:
        _print("window-painted")
        if not expect_project:
            window.close()  # closing the last window quits, after the jobs are shut down

    def project_painted() -> None:
        _print("project-painted")
        window.close()

    window._startup_probes = [OnFirstPaint(window, window_painted)]  # kept with the window
    when_built = getattr(window, "when_built", _at_once)  # an older window (bench baseline)
    when_built(lambda: window._startup_probes.append(OnFirstPaint(window.browser, project_painted)))
    QTimer.singleShot(GIVE_UP_MS, window.close)


def _at_once(call: Any) -> None:
    call()


def _print(event: str) -> None:
    sys.stdout.write(f"{event} {time.time():.4f} {time.process_time():.3f}\n")
    sys.stdout.flush()

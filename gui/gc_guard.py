"""Python's cyclic garbage collector runs on the GUI thread only.

Left automatic, the collector runs in whichever thread happens to allocate when a threshold is
crossed, often a worker (discovery, a thumbnail decoder). If that collection frees a Qt object
caught in a reference cycle, the object's C++ destructor runs on the worker thread and can wait
for the interpreter lock forever while the GUI thread waits on Qt: the window freezes for good
(seen in the test suite: `QObject::~QObject` -> shiboken's override lookup, 12 min at 0 % CPU).
So automatic collection is switched off and a GUI-thread timer collects instead, generation by
generation when the allocation counts say so (pyqtgraph's `GarbageCollector` does the same).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 200
"""How often the GUI thread checks the counts; a young-generation collection takes well under
a millisecond, a full one a few milliseconds on a loaded session."""


class GuiThreadCollector(QObject):
    """Owns the timer; create one on the GUI thread and keep it alive with the application."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(INTERVAL_MS)

    def check(self) -> None:
        """Collect the oldest generation whose allocation count passed its threshold."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self._thresholds[generation]:
                gc.collect(generation)
                return

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()


_COLLECTOR: GuiThreadCollector | None = None


def collect_on_gui_thread(app: QObject) -> GuiThreadCollector:
    """Install the GUI-thread collector once per application (idempotent)."""
    global _COLLECTOR
    if _COLLECTOR is None:
        _COLLECTOR = GuiThreadCollector(app)
    return _COLLECTOR

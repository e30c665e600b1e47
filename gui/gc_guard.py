"""Python's cyclic garbage collector runs on the GUI thread only.

Left automatic, the collector runs in whichever thread happens to allocate when a threshold is
crossed, often a worker (discovery, a thumbnail decoder). If that collection frees a Qt object
caught in a reference cycle, the object's C++ destructor runs on the worker thread and can wait
for the interpreter lock forever while the GUI thread waits on Qt: the window freezes for good
(seen in the test suite: `QObject::~QObject` -> shiboken's override lookup, 12 min at 0 % CPU).
So automatic collection is switched off and a GUI-thread timer collects instead, generation by
generation when the allocation counts say so (pyqtgraph's `GarbageCollector` does the same).

A full collection walks every tracked object: once torch, scikit-learn, open_clip and pandas are
imported that is about 550,000 objects, and 0.5-1 s on the GUI thread - the longest stalls seen
while jobs ran (bench/gui.py, issue 15.4); while those imports run (the start-up warm-up job)
young collections grew to 40,000-70,000 objects between checks and took 20-230 ms each, all spent
on objects that live as long as the process. So a window holds collection back from its creation
until its start-up imports are done, then freezes what is alive (``gc.freeze``: modules, classes,
the window itself), and later collections walk only what came after: milliseconds. Closing the
window thaws it, so whatever became garbage meanwhile, the window included, is collected as
before. The checks run every 50 ms, so a job that allocates quickly leaves a young generation
of a few thousand objects, not tens of thousands.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 50
"""How often the GUI thread checks the counts (a look at three integers when nothing is due)."""
HOLD_LIMIT_S = 300.0
"""A window that never ends its start-up (never shown, never closed) holds collection back no
longer than this."""
_holders: dict[int, float] = {}
"""Windows still in their start-up imports (``hold_until_frozen``) and since when: nothing is
collected meanwhile."""


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
        if _holders and time.monotonic() - min(_holders.values()) < HOLD_LIMIT_S:
            return
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


def hold_until_frozen(holder: object) -> None:
    """Collect nothing until ``holder`` (a window starting up) freezes or thaws: nearly all that
    is allocated meanwhile is imported modules, classes and functions, alive for good."""
    _holders[id(holder)] = time.monotonic()


def freeze_long_lived(holder: object) -> None:
    """Leave what is alive now out of every later collection (GUI thread, when the start-up
    imports of ``holder`` are done); collection resumes."""
    gc.freeze()
    _holders.pop(id(holder), None)


def thaw(holder: object) -> None:
    """Collect the frozen objects again from the next full collection on (``holder`` closing)."""
    _holders.pop(id(holder), None)
    gc.unfreeze()

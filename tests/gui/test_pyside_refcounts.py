"""Guard against a Qt binding that corrupts reference counts (PySide6 6.12.0 on Python 3.11 drops
one reference of None per void call, and True/False per signal emit, until the interpreter aborts
with "deallocating None"). A long GUI session makes millions of such calls."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget


class _Emitter(QObject):
    fired = Signal()


def test_void_calls_and_emits_keep_reference_counts(qapp) -> None:
    widget = QWidget()
    emitter = _Emitter()
    emitter.fired.connect(lambda: None)
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(2000):
        widget.update()
        widget.setToolTip("x")
        emitter.fired.emit()
    assert abs(sys.getrefcount(None) - none_before) < 200
    assert abs(sys.getrefcount(True) - true_before) < 200
    widget.deleteLater()

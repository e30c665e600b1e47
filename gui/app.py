"""Application entry point: build the QApplication once and show the main window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from debias_studio.gui.gc_guard import collect_on_gui_thread
from debias_studio.gui.settings import APPLICATION, ORGANISATION

DEMO_KINDS = ("digits", "backgrounds")
GIL_SWITCH_S = 0.001
"""Workers (thumbnail decoding, jobs) run Python too; every paint of a grid cell needs the GIL.
With the default 5 ms switch interval the GUI thread can wait that long per cell; 1 ms keeps a
frame well under the 50 ms stall budget (bench/gui.py)."""


def application(argv: list[str] | None = None) -> QApplication:
    """The process's QApplication (created on first use)."""
    app = QApplication.instance()
    if app is None:
        sys.setswitchinterval(GIL_SWITCH_S)
        QCoreApplication.setOrganizationName(ORGANISATION)
        QCoreApplication.setApplicationName(APPLICATION)
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationDisplayName("Debias Studio")
    collect_on_gui_thread(app)
    assert isinstance(app, QApplication)
    return app


def run(project_path: Path | str | None = None, demo: str | bool = False) -> int:
    """Show the main window; open ``project_path``, or the demo of kind ``demo`` ('digits',
    'backgrounds'; True means 'digits'), created in the per-user data folder on first use."""
    app = application()
    from debias_studio.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if project_path is not None:
        window.open_project(Path(project_path))
    elif demo:
        window.open_demo("digits" if demo is True else str(demo))
    return app.exec()

"""Application entry point: make sure there is a screen, build the QApplication once, show the
main window.

Qt is imported inside the functions: ``check_display`` runs before any Qt import, so that a
machine without a display gets one line that says what to do - within a second, instead of Qt
aborting (exit 134) with a note that blames ``libxcb-cursor0``. When a display is announced but
unusable (a wrong ``DISPLAY``, a broken plugin), Qt's fatal message is caught and answered the
same way. ``DEBIAS_STUDIO_STARTUP_PROBE`` makes the app report when it first painted and quit
(``bench/startup.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from debias_studio.core.errors import StudioError

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

from debias_studio.core.threads import prepare_process

DEMO_KINDS = ("digits", "backgrounds")
GIL_SWITCH_S = 0.0002
"""Workers (thumbnail decoding, jobs) run Python too; every paint of a grid cell needs the GIL.
With the default 5 ms switch interval the GUI thread can wait that long per cell. Measured with
bench/gui.py at 100k images while the embedding job's pure-Python stretches run (paths, file
checks): GUI stalls of 130-144 ms at 1 ms, 52-58 ms at 0.2 ms, 54 ms at 0.1 ms, with the same
training progress in the same seconds."""
FIXES = (
    "run it in a desktop session, under a virtual display (xvfb-run debias-studio gui ...), "
    "or use the command-line commands instead (debias-studio --help)"
)
PROBE_ENV = "DEBIAS_STUDIO_STARTUP_PROBE"


class NoDisplayError(StudioError):
    """The app has no screen to show its window on."""


def check_display(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> None:
    """Refuse to start where Qt would find no display: on Linux and other X11/Wayland systems,
    neither DISPLAY nor WAYLAND_DISPLAY set and no QT_QPA_PLATFORM chosen (macOS and Windows
    always have their own)."""
    if platform in ("darwin", "win32", "cygwin"):
        return
    if any(environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return
    raise NoDisplayError(
        f"There is no display to show the window on (DISPLAY and WAYLAND_DISPLAY are not set): "
        f"{FIXES}."
    )


def application(argv: list[str] | None = None) -> QApplication:
    """The process's QApplication (created on first use)."""
    from PySide6.QtWidgets import QApplication

    from debias_studio.gui.gc_guard import collect_on_gui_thread

    app = QApplication.instance()
    if app is None:
        prepare_process()  # before the engine imports torch (core.threads, rule 1)
        app = _create_application(argv if argv is not None else sys.argv[:1])
    collect_on_gui_thread(app)
    assert isinstance(app, QApplication)
    return app


def _create_application(argv: list[str]) -> QApplication:
    """Build the QApplication; a platform plugin that cannot start ends the process with one
    line (exit 1) instead of Qt's abort, and Qt's other notes are passed on."""
    from PySide6.QtCore import QCoreApplication, QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from debias_studio.gui.settings import APPLICATION, ORGANISATION

    notes: list[str] = []

    def on_message(kind: QtMsgType, _context: Any, message: str) -> None:
        if kind == QtMsgType.QtFatalMsg:
            display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "none"
            sys.stderr.write(
                f"debias-studio: error: Qt could not open a window on display '{display}' "
                f"(platform plugin failed to start): {FIXES}.\n"
            )
            sys.stderr.flush()
            os._exit(1)  # Qt aborts when this handler returns; nothing is open yet
        notes.append(message)

    sys.setswitchinterval(GIL_SWITCH_S)
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    previous = qInstallMessageHandler(on_message)
    try:
        app = QApplication(argv)
    finally:
        qInstallMessageHandler(previous)
    for note in notes:
        sys.stderr.write(note + "\n")
    app.setApplicationDisplayName("Debias Studio")
    return app


def run(project_path: Path | str | None = None, demo: str | bool = False) -> int:
    """Show the main window; open ``project_path``, or the demo of kind ``demo`` ('digits',
    'backgrounds'; True means 'digits'), created in the per-user data folder on first use."""
    check_display()
    app = application()
    from debias_studio.gui.main_window import MainWindow

    window = MainWindow(build_later=True)  # the frame paints first, the panels right after
    if os.environ.get(PROBE_ENV):
        from debias_studio.gui.startup_probe import report_first_paints

        report_first_paints(window, expect_project=project_path is not None or bool(demo))
    window.show()
    if project_path is not None:
        window.when_built(partial(window.open_or_offer, Path(project_path)))
    elif demo:
        window.when_built(partial(window.open_demo, "digits" if demo is True else str(demo)))
    return app.exec()

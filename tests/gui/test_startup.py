"""Start-up: the window's frame paints before the heavy imports and the panels fill it right
after; the project asked for is not held behind the device detection; a folder that is not a
project is offered as a new one; the start-up probe reports the first paints."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox, QScrollArea

from debias_studio.gui.main_window import MainWindow

HEAVY = ("pandas", "pyqtgraph", "superqt", "torch", "sklearn")


def test_the_window_module_imports_nothing_heavy() -> None:
    code = (
        "import sys; from debias_studio.gui.main_window import MainWindow; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]"]


def test_a_window_built_later_paints_its_frame_then_fills_its_docks(
    qtbot, tiny_project: Path
) -> None:
    window = MainWindow(build_later=True)
    qtbot.addWidget(window)
    assert not window.built and not window.panels
    assert {"details_dock", "jobs_dock", "map_dock", "concepts_dock"} <= set(window.docks)
    window.when_built(partial(window.open_project, tiny_project))  # what `gui PATH` does
    window.show()
    qtbot.waitUntil(lambda: window.built, timeout=20000)
    assert window.docks["map_dock"].widget() is window.panels["map_dock"]
    scroll = window.docks["concepts_dock"].widget()
    assert isinstance(scroll, QScrollArea) and scroll.widget() is window.panels["concepts_dock"]
    qtbot.waitUntil(lambda: window.session is not None, timeout=30000)
    assert window.stack.currentWidget() is window.browser
    qtbot.waitUntil(lambda: not window.runner.jobs(), timeout=60000)
    assert window.startup.started and window.device_label.text() == "Device: cpu"
    window.shutdown()


def test_a_window_closed_before_it_was_built_closes_at_once(qtbot) -> None:
    window = MainWindow(build_later=True)
    qtbot.addWidget(window)
    window.when_built(lambda: pytest.fail("built after closing"))
    window.close()
    assert not window.built


def test_the_project_opens_before_the_device_detection_starts(qtbot, tiny_project: Path) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    handle = window.open_project(tiny_project)
    detection_started_before: list[bool] = []
    handle.succeeded.connect(lambda _s: detection_started_before.append(window.startup.started))
    with qtbot.waitSignal(handle.ended, timeout=20000) as ended:
        pass
    assert ended.args == ["done"], handle.message
    assert detection_started_before == [False]  # the open job ran alone, not behind torch
    qtbot.waitUntil(lambda: not window.runner.jobs(), timeout=60000)
    assert window.startup.started
    assert window.device_label.text() == "Device: cpu"
    window.shutdown()


def test_closing_before_start_up_ended_does_not_wait_for_it(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.runner.jobs() == [window.startup.handle]  # listed at once, waiting
    window.shutdown()  # never shown, never painted: the waiting job just ends
    qtbot.waitUntil(lambda: window.startup.handle.state == "cancelled", timeout=5000)
    assert not window.startup.started


def test_a_folder_that_is_not_a_project_is_offered_as_a_new_one(
    window, qtbot, tmp_path: Path, tiny_manifest: Path
) -> None:
    images = tiny_manifest.parent
    asked: list[Path] = []

    def ask(source: Path) -> Path:
        asked.append(source)
        return tmp_path / "made"

    window.ask_project_folder = ask
    box = window.open_or_offer(images)
    assert isinstance(box, QMessageBox)
    assert str(images) in box.text() and "not a Debias Studio project" in box.text()
    create = next(b for b in box.buttons() if b.text().startswith("New project"))
    create.click()
    assert asked == [images]
    qtbot.waitUntil(lambda: window.session is not None, timeout=30000)
    assert window.session.folder == tmp_path / "made"
    qtbot.waitUntil(lambda: not window.runner.jobs(), timeout=20000)


def test_cancel_makes_nothing(window, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    box = window.open_or_offer(tmp_path / "empty")
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert window.session is None and not window.runner.jobs()


def test_the_probe_reports_the_first_paints(tmp_path: Path, tiny_project: Path) -> None:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        DEBIAS_STUDIO_STARTUP_PROBE="1",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        DEBIAS_STUDIO_DATA=str(tmp_path / "data"),
    )
    code = "import sys; from debias_studio.cli.main import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "gui", str(tiny_project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    events = [line.split() for line in done.stdout.splitlines()]
    assert [e[0] for e in events] == ["window-painted", "project-painted"]
    assert float(events[0][1]) <= float(events[1][1])
    assert 0 < float(events[0][2]) <= float(events[1][2])  # CPU seconds so far

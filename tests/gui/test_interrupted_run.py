"""Issue 12, item 10 in the GUI: a run whose process was killed shows as interrupted in the runs
table, and the Resume button continues it to the end."""

from __future__ import annotations

from pathlib import Path

from tests.gui.test_main_window import wait_done
from tests.reliability.faults_fixtures import start_dying_run


def test_a_killed_run_shows_interrupted_and_resumes(window, qtbot, tiny_project: Path) -> None:
    run_id, process = start_dying_run(tiny_project, backbone="cnn")
    assert process.returncode == -9
    wait_done(qtbot, window.open_project(tiny_project))
    runs = window.panels["runs_dock"]
    training = window.panels["training_dock"]
    qtbot.waitUntil(lambda: [r["status"] for r in runs.runs] == ["interrupted"], timeout=20000)
    qtbot.waitUntil(training.resume_button.isEnabled, timeout=10000)
    assert run_id in training.resume_button.toolTip()
    handle = training.resume()
    assert handle is not None
    with qtbot.waitSignal(handle.ended, timeout=120000) as ended:
        pass
    assert ended.args == ["done"], handle.message
    qtbot.waitUntil(lambda: [r["status"] for r in runs.runs] == ["done"], timeout=20000)
    qtbot.waitUntil(lambda: not window.runner.jobs(), timeout=20000)

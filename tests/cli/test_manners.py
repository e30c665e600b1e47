"""Manners outside a desktop terminal: no display, a closed pipe, output to a file."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from debias_studio.cli.common import run_with_bar
from debias_studio.cli.progress import LineProgress, phase_of
from debias_studio.core.jobs import Progress
from debias_studio.gui.app import NoDisplayError, check_display
from tests.cli.projects import clean_env, cli_command

FIXES = ("desktop session", "xvfb-run", "debias-studio --help")


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert all(fix in lines[0] for fix in FIXES), lines[0]
    return lines[0]


def test_no_display_is_one_line_that_names_the_fixes(tmp_path: Path) -> None:
    done = subprocess.run(
        cli_command("gui", str(tmp_path)),
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "DISPLAY" in _one_line_error(done)


def test_an_unusable_display_is_caught_from_qt(tmp_path: Path) -> None:
    """A display is announced but cannot be opened: Qt's platform plugin fails (it would abort
    with exit 134 and blame libxcb-cursor0); the app answers with its one line instead."""
    done = subprocess.run(
        cli_command("gui", str(tmp_path)),
        env=clean_env(DISPLAY=":64999"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "':64999'" in _one_line_error(done)


def test_check_display_reads_the_environment() -> None:
    with pytest.raises(NoDisplayError, match="xvfb-run"):
        check_display({}, "linux")
    check_display({"DISPLAY": ":0"}, "linux")
    check_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    check_display({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    check_display({}, "darwin")
    check_display({}, "win32")


def test_a_closed_pipe_ends_quietly() -> None:
    process = subprocess.Popen(
        cli_command("concepts", "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    process.stdout.close()  # the reader is gone before the command writes (like `| head -0`)
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert stderr == ""


def _job(total: int, messages: list[str]):  # type: ignore[no-untyped-def]
    for done, message in zip(range(total + 1), messages, strict=False):
        yield Progress(done, total, message)
    return "result"


def test_log_lines_every_ten_percent_and_at_each_new_phase() -> None:
    stream = io.StringIO()
    log = LineProgress("training", stream)
    log.update(Progress(0, 0, "decoding images"))
    for step in range(1, 101):
        log.update(Progress(step, 100, f"epoch {(step - 1) // 10 + 1}/10 loss {1 / step:.4f}"))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("training: ... decoding images [")
    percents = [line.split()[1] for line in lines[1:]]
    assert percents == ["1%", "10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "100%"]
    assert lines[-1].startswith("training: 100% (100/100) epoch 10/10 loss 0.0100 [")
    assert phase_of("epoch 3/30 loss 0.41") == phase_of("epoch 12/30 loss 0.0100")


def test_without_a_terminal_progress_goes_to_stderr_as_lines(capsys) -> None:  # type: ignore[no-untyped-def]
    messages = ["scanning"] * 21
    assert run_with_bar(_job(20, messages), "demo") == "result"
    err = capsys.readouterr().err
    assert "\r" not in err  # no bar redraws in a file
    lines = err.splitlines()
    assert lines[0].startswith("demo: 0% (0/20) scanning")
    assert lines[-1].startswith("demo: 100% (20/20) scanning")
    assert len(lines) == 11

"""GUI test fixtures: settings isolated per test, a tiny project, and a guard that fails any test
which leaves a job or a thread running (napari's habit). With ``DEBIAS_STUDIO_TEST_BUSY=N`` the
GUI tests run beside N CPU-bound processes (CI does this: a user's machine is never idle)."""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings, QThreadPool
from PySide6.QtGui import Qt, QTextDocument

from debias_studio.gui.gc_guard import collect_on_gui_thread
from debias_studio.gui.thumbnails import thumbnail_pools
from debias_studio.gui.workers import running_workers

COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220)}


@pytest.fixture(scope="session", autouse=True)
def cpu_bound_neighbours() -> Iterator[list[subprocess.Popen[bytes]]]:
    """``DEBIAS_STUDIO_TEST_BUSY`` busy-loop processes for the whole GUI session (default 0)."""
    count = int(os.environ.get("DEBIAS_STUDIO_TEST_BUSY", "0") or 0)
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield loops
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@pytest.fixture(scope="session", autouse=True)
def gc_on_the_gui_thread(qapp) -> Iterator[None]:
    """As in the app: cyclic garbage is collected on the GUI thread only (gui.gc_guard)."""
    collect_on_gui_thread(qapp)
    yield


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "settings"
    folder.mkdir()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    monkeypatch.setenv("DEBIAS_STUDIO_DATA", str(tmp_path / "userdata"))
    monkeypatch.setenv("DEBIAS_STUDIO_DEVICE", "cpu")
    yield folder


def shown_text(text: str) -> str:
    """What Qt shows for ``text`` in a tooltip or an auto-format label: rich text when it looks
    like markup (``Qt.mightBeRichText``), else the text itself."""
    if not Qt.mightBeRichText(text):
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


def busy_threads() -> list[str]:
    """Jobs still running, and pool threads still busy (global pool and thumbnail pools)."""
    busy = [f"job '{name}'" for name in running_workers()]
    if QThreadPool.globalInstance().activeThreadCount():
        busy.append(f"{QThreadPool.globalInstance().activeThreadCount()} worker thread(s)")
    for pool in thumbnail_pools():
        if pool.activeThreadCount():
            busy.append(f"{pool.activeThreadCount()} thumbnail thread(s)")
    return busy


@pytest.fixture(autouse=True)
def no_thread_left(qapp, qtbot) -> Iterator[None]:
    """Fail the test if it ends with a job running, or a thread still busy 0.5 s after it."""
    yield
    leaked_jobs = [f"job '{name}'" for name in running_workers()]
    if not leaked_jobs:
        _swallow_timeout(qtbot, lambda: not busy_threads())
    busy = leaked_jobs or busy_threads()
    if busy:
        for pool in [QThreadPool.globalInstance(), *thumbnail_pools()]:
            pool.waitForDone(10000)
        pytest.fail("test left running: " + ", ".join(busy), pytrace=False)


def _swallow_timeout(qtbot, condition) -> None:
    with contextlib.suppress(Exception):  # the check after reports what is still busy
        qtbot.waitUntil(condition, timeout=500)


def write_tiny_images(folder: Path, per_class: int = 8, size: int = 40) -> Path:
    """Three colour classes with a ``shade`` attribute; returns the manifest path."""
    rng = np.random.default_rng(0)
    rows = []
    for name, rgb in COLOURS.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shade = "dark" if i % 2 else "light"
            base = np.array(rgb) * (0.6 if shade == "dark" else 1.0)
            pixels = np.clip(base + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
            path = folder / name / f"{name}_{i:02d}.png"
            Image.fromarray(pixels).save(path)
            split = ("train", "train", "train", "train", "val", "val", "test", "test")[i % 8]
            rows.append((f"{name}/{path.name}", name, split, shade))
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split", "shade"])
        writer.writerows(rows)
    return manifest


@pytest.fixture
def tiny_manifest(tmp_path: Path) -> Path:
    return write_tiny_images(tmp_path / "images")


@pytest.fixture
def tiny_project(tmp_path: Path, tiny_manifest: Path) -> Path:
    """A project folder on 24 small images (created without the GUI)."""
    from debias_studio.core.data.dataset import open_manifest
    from debias_studio.core.jobs import run_quiet
    from debias_studio.core.store.project import Project

    folder = tmp_path / "project"
    dataset = run_quiet(open_manifest(tiny_manifest))
    Project.create(folder, dataset).close()
    return folder


@pytest.fixture
def window(qtbot):
    from debias_studio.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: not win.runner.jobs(), timeout=20000)  # device detection
    yield win
    leaked = running_workers()
    win.shutdown()
    if leaked:
        pytest.fail("test left jobs running: " + ", ".join(leaked), pytrace=False)

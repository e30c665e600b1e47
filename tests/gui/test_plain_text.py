"""Every user-supplied string is shown as data (issue 12.4): a project whose folder, class labels,
attribute values and confounder name are markup shows that markup literally — in the jobs panel,
the status bar, the panels, the map's legend, tooltips and message boxes — never as rich text
(a link, an image, bold)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox

from debias_studio.core.data.dataset import open_manifest
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.project import Project
from tests.gui.conftest import shown_text, write_tiny_images
from tests.gui.fake_engine import FakeClip
from tests.gui.stories import wait_idle, wait_ok

FOLDER = "<b>proj<img src=x>"
LABELS = {
    "red": "<b>red</b>",
    "green": "<img src='x.png'>green",
    "blue": '<a href="http://x.test">blue</a>',
}
SHADES = {"dark": "<i>dark</i>", "light": "light<br>"}
CONFOUNDER = '<a href="http://evil.test">click</a>'
MARKERS = ("<b>", "<img", "<a href", "<i>", "<br>")


@pytest.fixture
def marked_project(tmp_path: Path) -> Path:
    """24 images whose labels and attribute values are markup, in a folder named with markup."""
    manifest = write_tiny_images(tmp_path / "images")
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    marked = tmp_path / "images" / "marked.csv"
    with marked.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split", "shade"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "label": LABELS[row["label"]], "shade": SHADES[row["shade"]]})
    folder = tmp_path / FOLDER
    Project.create(folder, run_quiet(open_manifest(marked))).close()
    return folder


def test_markup_in_names_is_shown_literally(window, qtbot, monkeypatch, marked_project) -> None:
    handle = window.open_project(marked_project)
    row = window.jobs.row_for(handle)
    assert row.title.text() == f"Opening {FOLDER}"
    wait_ok(qtbot, handle)
    wait_idle(qtbot, window)
    assert FOLDER in window.project_label.text()
    _add_manual_confounder(window, qtbot)
    _compute_map(window, qtbot, monkeypatch)
    window.browser.view.setCurrentIndex(window.browser.model.index(0))
    qtbot.waitUntil(lambda: window.detail.table.rowCount() > 0)

    _assert_labels_plain(window, [FOLDER, CONFOUNDER])
    _assert_tooltips_literal(window)
    _assert_legend_literal(window)


def _add_manual_confounder(window, qtbot) -> None:
    confounders = window.panels["confounders_dock"]
    confounders.manual_name.setText(CONFOUNDER)
    confounders.manual_button.click()
    qtbot.waitUntil(lambda: confounders.choice.currentText() == CONFOUNDER, timeout=10000)
    wait_idle(qtbot, window)
    assert CONFOUNDER in confounders.info.text()


def _compute_map(window, qtbot, monkeypatch) -> None:
    session = window.session
    FakeClip(session.labels.codes, session.attributes["shade"].codes).install(monkeypatch)
    emap = window.panels["map_dock"]
    emap.compute()
    qtbot.waitUntil(lambda: emap.xy is not None and not emap.drawing, timeout=20000)
    wait_idle(qtbot, window)


def _assert_labels_plain(window, expected: list[str]) -> None:
    """Every label showing a user string is plain text, and the strings are there verbatim."""
    shown = [label for label in window.findChildren(QLabel) if _marked(label.text())]
    texts = " | ".join(label.text() for label in shown)
    for text in expected:
        assert text in texts, f"{text!r} is not shown in any label"
    for label in shown:
        assert label.textFormat() == Qt.TextFormat.PlainText, label.text()


def _assert_tooltips_literal(window) -> None:
    detail = window.detail.table
    values = [detail.item(r, 1) for r in range(detail.rowCount())]
    marked = [item for item in values if _marked(item.text())]
    assert {LABELS["red"], SHADES["light"]} <= {item.text() for item in marked}
    for item in marked:
        assert shown_text(item.toolTip()) == item.text()
    model = window.browser.model
    path = str(window.session.paths[model.image_id(0)])
    tip = model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert shown_text(tip) == f"#{model.image_id(0)}  {path}"


def _assert_legend_literal(window) -> None:
    emap = window.panels["map_dock"]
    names = [label.item.toPlainText() for _sample, label in emap.legend.items]
    assert set(names) == set(LABELS.values())


def _marked(text: str) -> bool:
    return any(marker in text for marker in MARKERS)


def test_an_error_about_a_marked_folder_is_plain_text(window, qtbot, tmp_path: Path) -> None:
    missing = tmp_path / FOLDER / "nothing-here"
    handle = window.open_project(missing)
    with qtbot.waitSignal(handle.ended, timeout=10000):
        pass
    assert handle.state == "failed"
    boxes = window.findChildren(QMessageBox)
    assert boxes, "the error is shown in a message box"
    box = boxes[-1]
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert FOLDER in box.text()
    row = window.jobs.row_for(handle)
    assert row.title.textFormat() == Qt.TextFormat.PlainText
    assert row.message.textFormat() == Qt.TextFormat.PlainText and FOLDER in row.message.text()
    box.close()


def test_recent_projects_show_marked_folders_literally(window, qtbot, marked_project) -> None:
    wait_ok(qtbot, window.open_project(marked_project))
    wait_idle(qtbot, window)
    window.close_project()
    item = window.welcome.recent.item(0)
    assert FOLDER in item.text()
    assert shown_text(item.toolTip()) == str(marked_project.resolve())

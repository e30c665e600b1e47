"""The whole debiasing session as a user drives it through the GUI, with a stand-in for CLIP
(tests/gui/fake_engine.py): demo project → embed → discover → mark the top concept as
confounder → threshold with live preview → group matrix → set a value by hand and undo → train
ERM and a cure → runs table → cancel a running job, resume it, cancel again → reopen and find
everything. Training and the project store are real.

Shared by the single session test and the test that runs it many times in one process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from debias_studio.core.data.dataset import open_manifest
from debias_studio.core.jobs import Progress
from debias_studio.core.store.project import Project
from debias_studio.gui import session as session_module
from debias_studio.gui.session import demo_session
from tests.gui.conftest import write_tiny_images
from tests.gui.fake_engine import FakeClip


def fake_demo_creator(calls: list[str], per_class: int = 8, root: Path | None = None):
    """Stands in for core.demo.create_demo_project with the same signature and protocol
    (``root``: where its images go instead of the project folder)."""

    def create(folder: Path, *, kind: str, cancel, seed: int = 0):
        calls.append(kind)
        manifest = write_tiny_images((root or folder) / "data", per_class=per_class)
        for i in range(3):
            cancel.raise_if_cancelled()
            yield Progress(i, 3, f"drawing {kind}")
        dataset = yield from open_manifest(manifest, cancel=cancel)
        return Project.create(folder, dataset)

    return create


def use_fake_demo(monkeypatch: pytest.MonkeyPatch, calls: list[str], per_class: int = 8) -> None:
    creator = fake_demo_creator(calls, per_class=per_class)
    monkeypatch.setattr(
        session_module,  # the window imports it from there when a demo is asked for
        "demo_session",
        lambda folder, kind, token: demo_session(folder, kind, token, create=creator),
    )


def wait_ok(qtbot, handle, timeout: int = 60000) -> None:
    with qtbot.waitSignal(handle.ended, timeout=timeout) as ended:
        pass
    assert ended.args == ["done"], handle.message


def wait_idle(qtbot, window, timeout: int = 20000) -> None:
    qtbot.waitUntil(lambda: not window.runner.jobs(), timeout=timeout)


def train(qtbot, window, method: str, epochs: int = 1, wait: bool = True):
    panel = window.panels["training_dock"]
    panel.method.setCurrentIndex(panel.method.findData(method))
    panel.backbone.setCurrentIndex(panel.backbone.findData("cnn"))
    panel.epochs.setValue(epochs)
    panel.batch.setValue(16)
    panel.set_confounder("dark")
    window.actions["train"].trigger()
    handle = panel.handle
    assert handle is not None, panel.status.text()
    if wait:
        wait_ok(qtbot, handle, 120000)
    return handle


def run_session_story(window, qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole story on ``window``, its demo project in the per-user data folder."""
    use_fake_demo(monkeypatch, [], per_class=30)
    wait_ok(qtbot, window.open_demo("digits"))
    session = window.session
    clip = FakeClip(session.labels.codes, session.attributes["shade"].codes)
    clip.install(monkeypatch)
    embed_and_select(window, qtbot)
    discover_and_sort(window, qtbot)
    confounder_with_threshold(window, qtbot, clip)
    set_by_hand_and_undo(window, qtbot)
    train_and_compare(window, qtbot)
    cancel_and_resume(window, qtbot)
    reopen(window, qtbot, session.folder)


def embed_and_select(window, qtbot) -> None:
    window.actions["embed"].trigger()
    emap, grid = window.panels["map_dock"], window.hub.grid
    qtbot.waitUntil(lambda: emap.xy is not None, timeout=20000)
    assert emap.items, "dots drawn"
    ids = emap.select_area(-10, -10, 10, 10)
    assert len(ids) == 90 and window.browser.model.rowCount() == 90
    assert len(window.browser.selected_ids()) == 90 and len(grid.selection) == 90
    emap.lasso_button.setChecked(True)  # the lasso replaces the rectangle
    assert not emap.select_button.isChecked() and emap.view_box.lasso_on
    left_half = np.array([[-10.0, -10.0], [0.0, -10.0], [0.0, 10.0], [-10.0, 10.0]])
    ids = emap.select_polygon(left_half)
    assert set(ids) == set(np.flatnonzero(emap.xy[:, 0] < 0))
    assert window.browser.model.rowCount() == len(ids)
    emap.lasso_button.setChecked(False)
    assert window.browser.model.rowCount() == 90


def discover_and_sort(window, qtbot) -> None:
    """The real ranking on stand-in vectors; the top row filters and sorts the grid."""
    window.actions["discover"].trigger()
    concepts = window.panels["concepts_dock"]
    qtbot.waitUntil(lambda: concepts.top_concept() is not None, timeout=30000)
    assert concepts.top_concept() == "dark"
    concepts.select_row(0)
    qtbot.waitUntil(lambda: window.hub.grid.filters.sort is not None, timeout=10000)
    assert window.browser.model.rowCount() == 30  # filtered to the row's class
    assert window.browser.class_box.currentText() == concepts.selected_row()["class"]
    shade = window.session.attributes["shade"]
    first = window.browser.model.image_id(0)
    assert shade.values[shade.codes[first]] == "dark"  # the concept's exemplars come first
    window.browser.view.setCurrentIndex(window.browser.model.index(0))
    assert "dark" in detail_fields(window).get("top concepts", "")


def detail_fields(window) -> dict[str, str]:
    table = window.detail.table
    return {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}


def confounder_with_threshold(window, qtbot, clip: FakeClip) -> None:
    """Mark as confounder, threshold with a live preview, the group matrix."""
    window.panels["concepts_dock"].mark_button.click()
    confounders = window.panels["confounders_dock"]
    qtbot.waitUntil(lambda: confounders.choice.currentText() == "dark", timeout=10000)
    qtbot.waitUntil(lambda: "present" in confounders.preview.text(), timeout=10000)
    # once for the grid sort, once inside the engine as it thresholds the new confounder; the
    # threshold preview reuses the grid sort's scores
    assert clip.scored.count("dark") == 2
    high = preview_at(qtbot, confounders, 2.5)
    assert preview_at(qtbot, confounders, 0.0) != high
    confounders.apply_threshold()
    qtbot.waitUntil(
        lambda: (
            confounders.current is not None
            and confounders.current.confounder.params.get("threshold") == 0.0
        ),
        timeout=10000,
    )
    wait_idle(qtbot, window)
    assert confounders.matrix.rowCount() == 3
    present_column = list(confounders.current.confounder.values).index("dark")
    red_present = int(confounders.matrix.item(0, present_column).text())
    assert red_present == 15  # exactly the dark images of the class
    confounders.show_group(0, present_column)
    assert window.browser.model.rowCount() == red_present
    grid = window.hub.grid
    grid.set_mask("group", None)
    grid.set_label(None)
    grid.set_sort(None)
    assert window.browser.model.rowCount() == 90 and window.browser.chips.count() == 0


def preview_at(qtbot, confounders, threshold: float) -> str:
    """Move the slider and wait for the preview (computed in a worker) of that threshold."""
    confounders.slider.setValue(threshold)
    qtbot.waitUntil(lambda: confounders.preview_threshold == threshold, timeout=10000)
    return confounders.preview.text()


def set_by_hand_and_undo(window, qtbot) -> None:
    confounders = window.panels["confounders_dock"]
    present_column = list(confounders.current.confounder.values).index("dark")
    before = confounders.current.values.copy()
    window.hub.grid.select(np.array([1, 3]))  # light images of class 0: 'absent'
    assert list(window.browser.selected_ids()) == [1, 3]
    confounders.value_box.setCurrentText("dark")
    confounders.set_for_selection()
    qtbot.waitUntil(lambda: confounders.current.values[1] == present_column, timeout=10000)
    wait_idle(qtbot, window)
    assert detail_fields_for(window, 1)["confounder dark"] == "dark"
    confounders.undo()
    qtbot.waitUntil(lambda: (confounders.current.values == before).all(), timeout=10000)
    wait_idle(qtbot, window)


def detail_fields_for(window, image_id: int) -> dict[str, str]:
    window.browser.view.setCurrentIndex(
        window.browser.model.index(window.browser.model.row_of(image_id))
    )
    return detail_fields(window)


def train_and_compare(window, qtbot) -> None:
    """ERM and a cure for one short epoch; both in the runs table."""
    train(qtbot, window, "erm")
    train(qtbot, window, "balanced")
    runs = window.panels["runs_dock"]
    qtbot.waitUntil(
        lambda: len(runs.runs) == 2 and all(r["status"] == "done" for r in runs.runs),
        timeout=10000,
    )
    assert {r["method"] for r in runs.runs} == {"erm", "balanced"}
    assert runs.table.item(0, 7).text() != "—"  # val worst-group shown
    assert window.panels["training_dock"].groups.rowCount() > 0
    assert window.session.runs.latest is not None
    check_group_figures(window)


def check_group_figures(window) -> None:
    """The runs table shows the worst test group's n and interval; the training panel's group
    table every group's Wilson interval around its accuracy and its size."""
    runs, training = window.panels["runs_dock"], window.panels["training_dock"]
    headers = [runs.table.horizontalHeaderItem(c).text() for c in range(runs.table.columnCount())]
    done = next(r for r in runs.runs if r["id"] == runs.table.item(0, 0).text())["metrics"]["test"]
    worst_n = runs.table.item(0, headers.index("Test worst n")).text()
    assert worst_n == str(done["per_group"][done["worst_group"]]["n"])
    assert "95 % interval" in runs.table.item(0, headers.index("Test worst")).toolTip()
    sizes = [int(training.groups.item(r, 3).text()) for r in range(training.groups.rowCount())]
    assert all(n > 0 for n in sizes)
    low, high = (float(v) for v in training.groups.item(0, 2).text().split(" – "))
    assert 0.0 <= low <= float(training.groups.item(0, 1).text()) <= high <= 1.0


def cancel_and_resume(window, qtbot) -> None:
    """Cancel a running job after an epoch, resume it from its checkpoint, cancel again."""
    training, runs = window.panels["training_dock"], window.panels["runs_dock"]
    assert not training.resume_button.isEnabled()
    handle = train(qtbot, window, "erm", epochs=200, wait=False)
    for resume in (False, True):
        if resume:
            qtbot.waitUntil(training.resume_button.isEnabled, timeout=10000)
            handle = training.resume()
            assert handle is not None
        qtbot.waitUntil(lambda: len(training.history) >= 1, timeout=60000)
        if resume:  # the resumed run goes on after the epochs it had already done
            assert training.history[0]["epoch"] >= 1
        training.cancel_button.click()
        with qtbot.waitSignal(handle.ended, timeout=30000) as ended:
            pass
        assert ended.args == ["cancelled"]
        qtbot.waitUntil(
            lambda: sorted(r["status"] for r in runs.runs) == ["cancelled", "done", "done"],
            timeout=10000,
        )
        wait_idle(qtbot, window)


def reopen(window, qtbot, folder: Path) -> None:
    """Close the project, open it again and find everything."""
    window.close_project()
    wait_ok(qtbot, window.open_project(folder))
    wait_idle(qtbot, window)
    confounders, concepts = window.panels["confounders_dock"], window.panels["concepts_dock"]
    assert len(window.session) == 90
    assert len(window.panels["runs_dock"].runs) == 3
    qtbot.waitUntil(lambda: confounders.choice.findText("dark") >= 0, timeout=10000)
    assert concepts.top_concept() == "dark"
    assert window.browser.attribute_box.findText("latest run = right") >= 0
    assert window.settings.recent_projects()[0] == folder.resolve()

"""A whole debiasing session driven through the GUI (issue 5's done-when): demo project → embed →
discover → mark the top concept as confounder → threshold → train ERM and a cure → runs table →
cancel a running job → reopen and find everything.

``test_session_with_stand_ins`` runs it now with in-memory stand-ins for the engine pieces other
engineers are still writing (same signatures as the contracts); training and the project store are
real. ``test_session_on_the_real_engine`` runs the same story on the real demo and engine once
those pieces exist."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from debias_studio.gui import main_window as main_window_module
from debias_studio.gui.session import demo_session
from tests.gui.fake_engine import FakeClip
from tests.gui.test_main_window import fake_demo_creator


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


def test_session_with_stand_ins(window, qtbot, monkeypatch, tmp_path: Path) -> None:
    calls: list[str] = []
    creator = fake_demo_creator(calls, per_class=30)
    monkeypatch.setattr(
        main_window_module,
        "demo_session",
        lambda folder, kind, token: demo_session(folder, kind, token, create=creator),
    )

    # ---- create the demo project (a job shown in the jobs panel) ---------------------------
    wait_ok(qtbot, window.open_demo("digits"))
    session = window.session
    folder = session.folder
    shade = session.attributes["shade"]
    clip = FakeClip(session.labels.codes, shade.codes)
    clip.install(monkeypatch)

    # ---- embed and map -------------------------------------------------------------------
    window.actions["embed"].trigger()
    emap = window.panels["map_dock"]
    qtbot.waitUntil(lambda: emap.xy is not None, timeout=20000)
    assert emap.items, "dots drawn"
    ids = emap.select_area(-10, -10, 10, 10)
    assert len(ids) == 90 and window.browser.model.rowCount() == 90
    assert len(window.browser.selected_ids()) == 90
    emap.lasso_button.setChecked(True)  # the lasso replaces the rectangle
    assert not emap.select_button.isChecked() and emap.view_box.lasso_on
    left_half = np.array([[-10.0, -10.0], [0.0, -10.0], [0.0, 10.0], [-10.0, 10.0]])
    ids = emap.select_polygon(left_half)
    assert set(ids) == set(np.flatnonzero(emap.xy[:, 0] < 0))
    assert window.browser.model.rowCount() == len(ids)
    emap.lasso_button.setChecked(False)
    assert window.browser.model.rowCount() == 90

    # ---- discover (the real ranking on stand-in vectors); the top row sorts the grid -------
    window.actions["discover"].trigger()
    concepts = window.panels["concepts_dock"]
    qtbot.waitUntil(lambda: concepts.top_concept() is not None, timeout=30000)
    assert concepts.top_concept() == "dark"
    concepts.select_row(0)
    qtbot.waitUntil(lambda: window.browser.filters.sort_scores is not None, timeout=10000)
    assert window.browser.model.rowCount() == 30  # filtered to the row's class
    first = window.browser.model.image_id(0)
    assert shade.values[shade.codes[first]] == "dark"  # the concept's exemplars come first
    window.browser.view.setCurrentIndex(window.browser.model.index(0))
    details = {
        window.detail.table.item(r, 0).text(): window.detail.table.item(r, 1).text()
        for r in range(window.detail.table.rowCount())
    }
    assert "dark" in details.get("top concepts", "")

    # ---- mark as confounder, threshold with live preview, group matrix ---------------------
    concepts.mark_button.click()
    confounders = window.panels["confounders_dock"]
    qtbot.waitUntil(lambda: confounders.choice.currentText() == "dark", timeout=10000)
    qtbot.waitUntil(lambda: "present" in confounders.preview.text(), timeout=10000)
    # once for the grid sort, once inside the engine as it thresholds the new confounder; the
    # threshold preview reuses the grid sort's scores
    assert clip.scored.count("dark") == 2
    confounders.slider.setValue(2.5)
    high = confounders.preview.text()
    confounders.slider.setValue(0.0)
    assert confounders.preview.text() != high
    confounders.apply_threshold()
    qtbot.waitUntil(
        lambda: (
            confounders.current is not None
            and confounders.current[0].params.get("threshold") == 0.0
        ),
        timeout=10000,
    )
    wait_idle(qtbot, window)
    assert confounders.matrix.rowCount() == 3
    values = list(confounders.current[0].values)
    present_column = values.index("dark")  # values: ["no dark", "dark"]
    red_present = int(confounders.matrix.item(0, present_column).text())
    assert red_present == 15  # exactly the dark images of the class
    confounders.show_group(0, present_column)
    assert window.browser.model.rowCount() == red_present
    window.browser.set_mask("group", None)
    window.browser.set_class_filter(None)
    window.browser.set_sort(None)

    # ---- set a value by hand, then undo -----------------------------------------------------
    before = confounders.current[1].copy()
    window.browser.select_ids(np.array([1, 3]))  # light images of class 0: 'absent'
    confounders.value_box.setCurrentText("dark")
    confounders.set_for_selection()
    qtbot.waitUntil(lambda: confounders.current[1][1] == present_column, timeout=10000)
    wait_idle(qtbot, window)
    confounders.undo()
    qtbot.waitUntil(lambda: (confounders.current[1] == before).all(), timeout=10000)
    wait_idle(qtbot, window)

    # ---- train ERM and a cure for one short epoch; both in the runs table ------------------
    train(qtbot, window, "erm")
    train(qtbot, window, "balanced")
    runs = window.panels["runs_dock"]
    qtbot.waitUntil(
        lambda: len(runs.runs) == 2 and all(r["status"] == "done" for r in runs.runs),
        timeout=10000,
    )
    assert {r["method"] for r in runs.runs} == {"erm", "balanced"}
    assert runs.table.item(0, 7).text() != "—"  # val worst-group shown
    training = window.panels["training_dock"]
    assert training.groups.rowCount() > 0

    # ---- cancel a running job after an epoch, resume it from its checkpoint, cancel again -----
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

    # ---- reopen the project and find everything ----------------------------------------------
    window.close_project()
    wait_ok(qtbot, window.open_project(folder))
    wait_idle(qtbot, window)
    assert len(window.session) == 90
    assert len(runs.runs) == 3
    qtbot.waitUntil(lambda: confounders.choice.findText("dark") >= 0, timeout=10000)
    assert concepts.top_concept() == "dark"
    assert window.browser.attribute_box.findText("latest run = right") >= 0
    assert window.settings.recent_projects()[0] == folder.resolve()


def _real_engine_ready() -> bool:
    root = Path(__file__).resolve().parents[2]
    return (
        importlib.util.find_spec("debias_studio.core.annotate") is not None
        and (root / "core" / "concepts" / "__init__.py").is_file()
        and (root / "resources" / "models" / "demo-clip" / "open_clip_model.safetensors").is_file()
    )


@pytest.mark.slow
@pytest.mark.skipif(not _real_engine_ready(), reason="discovery/annotation/demo CLIP not built yet")
def test_session_on_the_real_engine(window, qtbot) -> None:
    wait_ok(qtbot, window.open_demo("digits"), 120000)
    folder = window.session.folder
    window.actions["embed"].trigger()
    emap = window.panels["map_dock"]
    qtbot.waitUntil(lambda: emap.xy is not None, timeout=120000)
    window.actions["discover"].trigger()
    concepts = window.panels["concepts_dock"]
    qtbot.waitUntil(lambda: concepts.top_concept() is not None, timeout=120000)
    top = concepts.top_concept()
    concepts.select_row(0)
    concepts.mark_button.click()
    confounders = window.panels["confounders_dock"]
    qtbot.waitUntil(lambda: confounders.choice.currentText() == top, timeout=30000)
    confounders.slider.setValue(1.0)
    confounders.apply_threshold()
    wait_idle(qtbot, window, 30000)
    training = window.panels["training_dock"]
    for method in ("erm", "balanced"):
        training.method.setCurrentIndex(training.method.findData(method))
        training.backbone.setCurrentIndex(training.backbone.findData("head"))
        training.epochs.setValue(1)
        training.set_confounder(top)
        wait_ok(qtbot, training.start(), 120000)
    runs = window.panels["runs_dock"]
    qtbot.waitUntil(lambda: len(runs.runs) == 2, timeout=10000)
    training.epochs.setValue(500)
    handle = training.start()
    qtbot.waitUntil(lambda: handle.progress.total > 0, timeout=60000)
    training.cancel()
    with qtbot.waitSignal(handle.ended, timeout=60000) as ended:
        pass
    assert ended.args == ["cancelled"]
    wait_idle(qtbot, window)
    window.close_project()
    wait_ok(qtbot, window.open_project(folder))
    wait_idle(qtbot, window)
    assert len(runs.runs) == 3
    assert confounders.choice.findText(top) >= 0
    assert concepts.top_concept() == top

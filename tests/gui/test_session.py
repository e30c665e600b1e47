"""A whole debiasing session driven through the GUI (issue 5's done-when): demo project → embed →
discover → mark the top concept as confounder → threshold → train ERM and a cure → runs table →
cancel a running job → reopen and find everything.

``test_session_with_stand_ins`` runs the story of tests/gui/stories.py with a stand-in for CLIP;
training and the project store are real. ``test_session_on_the_real_engine`` runs it on the real
demo and engine."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.gui.stories import run_session_story, wait_idle, wait_ok


def test_session_with_stand_ins(window, qtbot, monkeypatch) -> None:
    run_session_story(window, qtbot, monkeypatch)


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

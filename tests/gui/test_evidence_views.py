"""The concept view and the run comparison (issue 14.5-14.7) on the digits demo: opened from the
GUI the way a user opens them, and their data checked against the engine's own figures.

One small digits demo (40 images per class) is built once for the module with the bundled demo
CLIP: discovery, then ERM and the counterfactual cure as linear heads on the CLIP features (a few
seconds each). Skipped without the demo CLIP.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from debias_studio.core.resources import DEMO_MODEL_DIR
from tests.gui.stories import wait_idle, wait_ok

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (DEMO_MODEL_DIR / "open_clip_model.safetensors").is_file(),
        reason="the demo CLIP (resources/models/demo-clip) has not been trained yet",
    ),
]
PER_CLASS = 40


def build_digits_project(folder: Path) -> list[dict[str, Any]]:
    """A small digits demo with a discovery and two finished runs (ERM, counterfactual)."""
    from debias_studio.core.concepts.project import discover
    from debias_studio.core.demo.project import CONFOUNDER_COLUMN, create_demo_project
    from debias_studio.core.jobs import run_quiet
    from debias_studio.core.store.runs import list_runs
    from debias_studio.core.train.config import TrainConfig
    from debias_studio.core.train.job import train_run

    project = run_quiet(create_demo_project(folder, kind="digits", per_class=PER_CLASS))
    try:
        run_quiet(discover(project, "demo", device="cpu"))
        for method in ("erm", "counterfactual"):
            config = TrainConfig(
                project=str(folder),
                method=method,
                confounder=CONFOUNDER_COLUMN["digits"],
                backbone="head",
                epochs=3,
                seed=0,
            )
            run_quiet(train_run(project, config))
        return list_runs(project)
    finally:
        project.close()


@pytest.fixture(scope="module")
def digits_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEBIAS_STUDIO_CPU_PRECISION", "fp32")
        patch.setenv("DEBIAS_STUDIO_DATA", str(tmp_path_factory.mktemp("userdata")))
        folder = tmp_path_factory.mktemp("evidence") / "digits"
        return folder, build_digits_project(folder)


@pytest.fixture
def digits(digits_source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy per test (the GUI writes to its project)."""
    monkeypatch.setenv("DEBIAS_STUDIO_CPU_PRECISION", "fp32")
    folder = tmp_path / "digits"
    shutil.copytree(digits_source[0].parent, tmp_path, dirs_exist_ok=True)
    return folder


def _open(window, qtbot, folder: Path) -> None:
    wait_ok(qtbot, window.open_project(folder))
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.session.discovery is not None, timeout=20000)
    qtbot.waitUntil(lambda: len(window.session.runs.finished()) == 2, timeout=20000)


def test_the_concept_view_shows_a_rows_evidence_and_two_runs_side_by_side(
    window, qtbot, digits: Path
) -> None:
    from debias_studio.core.concepts.inspection import inspect_concept
    from debias_studio.core.store.project import Project

    _open(window, qtbot, digits)
    concepts = window.panels["concepts_dock"]
    concepts.select_row(0)
    row = concepts.selected_row()
    view = concepts.inspect()
    assert view is not None and view.isVisible()
    qtbot.waitUntil(lambda: len(view.inspections) == 3, timeout=60000)
    wait_idle(qtbot, window)
    erm, cure = (r["id"] for r in sorted(window.session.runs.finished(), key=_erm_first))
    assert view.run_ids == [None, erm, cure], "run A defaults to ERM, run B to the cure"
    project = Project.open(digits)
    try:
        for run_id, shown in zip(view.run_ids, view.inspections, strict=True):
            truth = inspect_concept(project, row["class"], row["concept"], "demo", run_id=run_id)
            assert shown.signals == pytest.approx(truth.signals, nan_ok=True)
            assert shown.strips == truth.strips
            assert [b.errors for b in shown.error_bins] == [b.errors for b in truth.error_bins]
        labels = np.asarray(project.dataset.labels)
        train = project.dataset.split_mask("train")
    finally:
        project.close()
    first = view.inspections[0]
    members = int(((labels == window.session.labels.values.index(row["class"])) & train).sum())
    assert first.histogram.in_class.sum() == members
    assert first.histogram.in_class.sum() + first.histogram.others.sum() == int(train.sum())
    assert all(
        labels[i] == labels[first.strips["in_class_top"][0]]
        for i in first.strips["in_class_lacking"]
    )
    assert first.signals["verdict"] == row["verdict"]
    assert sum(b.images for b in view.inspections[1].error_bins) == members
    # the table shows each run's error gap, the chart one curve per run
    assert view.signals.rowCount() == 3
    gap = view.inspections[1].signals["error_gap"]
    assert view.signals.item(1, 4).text().startswith("—" if gap is None else f"{gap:+.2f}")
    assert view.strips["in_class_top"].ids == first.strips["in_class_top"]
    # held-out images: the runs' errors on the test split, as the engine counts them
    view.split.setCurrentIndex(view.split.findData("test"))
    qtbot.waitUntil(lambda: view._asked[1] == "test", timeout=5000)
    wait_idle(qtbot, window, 60000)
    project = Project.open(digits)
    try:
        truth = inspect_concept(
            project, row["class"], row["concept"], "demo", run_id=erm, split="test"
        )
    finally:
        project.close()
    assert view.inspections[1].signals == pytest.approx(truth.signals, nan_ok=True)
    assert [b.errors for b in view.inspections[1].error_bins] == [
        b.errors for b in truth.error_bins
    ]
    # a different row: the open view follows the selection
    concepts.select_row(1)
    second = concepts.selected_row()
    qtbot.waitUntil(lambda: view.pair == (second["class"], second["concept"]), timeout=5000)
    qtbot.waitUntil(
        lambda: view.inspections and view.inspections[0].concept == second["concept"], timeout=60000
    )
    # Mark as confounder: the same request the panel's button sends
    with qtbot.waitSignal(window.hub.confounder_requested, timeout=5000) as sent:
        view.mark_button.click()
    assert sent.args == [second["concept"]]
    wait_idle(qtbot, window, 60000)
    view.close()


def _erm_first(run: dict[str, Any]) -> int:
    return 0 if run["method"] == "erm" else 1


def test_the_run_comparison_shows_each_groups_accuracy_interval_and_difference(
    window, qtbot, digits: Path
) -> None:
    _open(window, qtbot, digits)
    runs_panel = window.panels["runs_dock"]
    assert not runs_panel.compare_button.isEnabled()
    runs_panel.table.selectAll()
    assert runs_panel.compare_button.isEnabled()
    view = runs_panel.compare()
    qtbot.waitUntil(lambda: view.comparison is not None, timeout=20000)
    found = view.comparison
    records = {r["id"]: r for r in window.session.runs.finished()}
    baseline = found.run_ids[found.baseline]
    assert records[baseline]["method"] == "erm"
    for r, run_id in enumerate(found.run_ids):
        per_group = records[run_id]["metrics"]["test"]["per_group"]
        assert set(per_group) == set(found.groups)
        for g, name in enumerate(found.groups):
            entry = per_group[name]
            assert found.n[r, g] == entry.get("n", entry["count"])
            assert found.acc[r, g] == pytest.approx(entry["acc"])
            assert found.low[r, g] <= found.acc[r, g] <= found.high[r, g]
    assert len(found.groups) >= 50, "up to 10 digits x 10 colours (the small test split lacks some)"
    cure = 1 - found.baseline
    assert np.allclose(found.diff[cure], found.acc[cure] - found.acc[found.baseline])
    # 100 groups: the k worst and best by the baseline, worst at the top
    view.k.setValue(5)
    assert len(view.shown) == 10
    base = found.acc[found.baseline, view.shown]
    assert base[0] == np.nanmin(found.acc[found.baseline])
    assert base[-1] == np.nanmax(found.acc[found.baseline])
    ticks = view.bars.getPlotItem().getAxis("left")._tickLevels[0]
    assert ticks[0][1].startswith(found.groups[view.shown[0]])
    view.mode.setCurrentIndex(view.mode.findData("all"))
    assert sorted(view.shown) == list(range(len(found.groups)))
    view.mode.setCurrentIndex(view.mode.findData("heat"))
    assert view.heat.isVisible() and not view.scroll.isVisible()
    assert "better" in view.info.text()
    # the validation split, and the cure as the baseline
    view.split.setCurrentIndex(view.split.findData("val"))
    view.baseline.setCurrentIndex(view.baseline.findData(found.run_ids[cure]))
    qtbot.waitUntil(
        lambda: view.comparison is not found and view.comparison.split == "val", timeout=20000
    )
    qtbot.waitUntil(lambda: view.comparison.baseline == cure, timeout=20000)
    wait_idle(qtbot, window)
    val = view.comparison
    assert np.allclose(
        val.diff[found.baseline], val.acc[found.baseline] - val.acc[cure], equal_nan=True
    ), "differences to the cure on the validation split"
    window.close_project()  # the comparison belonged to that project
    assert runs_panel.comparisons == []

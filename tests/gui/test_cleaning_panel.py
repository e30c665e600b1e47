"""Cleaning from the GUI, on a small copy of the digits demo with planted flips and duplicates:
exclude the images of a lasso on the map and of a group-matrix cell, relabel two images, review
one duplicate pair and one label-issue candidate, undo one action; the grid marks excluded and
relabelled images and can hide the excluded; bad input is a message, not a change. Then the
cleaned project is exported from the export dialog with its defaults, and the export re-opens as
a new project (from its manifest and from its image folder) with the same final labels, splits,
groups and exclusions per image, the same files, and no path leading outside the export."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd
import pytest

from debias_studio.cli.main import main
from debias_studio.core.annotate.confounders import add_confounder
from debias_studio.core.annotate.groups import group_matrix
from debias_studio.core.store.exclusions import reasons
from debias_studio.core.store.project import Project
from debias_studio.core.store.relabels import final_label_codes
from debias_studio.gui import engine
from debias_studio.gui.cleaning_panel import SELECTED, SHOWN
from debias_studio.gui.export_dialog import ExportDialog
from tests.core.cleaning_fixtures import planted_digits
from tests.core.test_cleaning_finders import needs_demo_clip

pytestmark = [pytest.mark.slow, needs_demo_clip]


@pytest.fixture
def planted_folder(tmp_path: Path) -> Path:
    planted = planted_digits(tmp_path / "digits", per_class=12, flips=4, duplicates=3)
    add_confounder(planted.project, "color", column="color")
    folder = planted.project.folder
    planted.project.close()
    return folder


def _idle(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not window.runner.jobs(), timeout=60000)


def _state(window) -> dict:  # type: ignore[no-untyped-def]
    return engine.cleaning_state(window.session.project)


def _test_image_ids(window, count: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    splits = window.session.splits
    return np.flatnonzero(splits.codes == splits.values.index("test"))[:count]


def test_clean_from_the_gui(window, qtbot, planted_folder: Path, tmp_path: Path) -> None:
    window.open_project(planted_folder)
    _idle(window, qtbot)
    panel, browser, grid = window.panels["cleaning_dock"], window.browser, window.hub.grid
    # a lasso on the map around one test image
    chart = window.panels["map_dock"]
    chart.compute()
    _idle(window, qtbot)
    target = int(_test_image_ids(window, 1)[0])
    x, y = chart.xy[target]
    lassoed = chart.select_polygon(
        np.array(
            [[x - 1e-3, y - 1e-3], [x + 1e-3, y - 1e-3], [x + 1e-3, y + 1e-3], [x - 1e-3, y + 1e-3]]
        )
    )
    assert target in lassoed
    panel.scope.setCurrentText(SELECTED)
    panel.reason.setText("lasso")
    panel.exclude()
    _idle(window, qtbot)
    assert _state(window)["reasons"].get(target) == "lasso"
    grid.set_mask("map", None)
    # a threshold preview's "present" images become the shown ones
    confounders = window.panels["confounders_dock"]
    n = len(window.session)
    confounders.scores, confounders.scores_for = np.linspace(-2, 2, n).astype(np.float32), "x"
    confounders.slider.setValue(1.5)
    confounders.show_above()
    above = np.flatnonzero(confounders.scores >= confounders.slider.value())
    assert grid.shown.tolist() == above.tolist() and len(above)
    grid.set_mask("threshold", None)
    _idle(window, qtbot)
    # a group-matrix cell: a class with an off-colour value
    _exclude_a_group_cell(window, qtbot, panel)
    # relabel two val images
    val = np.flatnonzero(window.session.splits.codes == window.session.splits.values.index("val"))
    two = val[:2]
    grid.select(two)
    panel.scope.setCurrentText(SELECTED)
    panel.label_box.setCurrentText("7")
    panel.relabel()
    _idle(window, qtbot)
    relabels = _state(window)["relabels"]
    assert all(
        relabels.get(int(i)) == "7"
        for i in two
        if window.session.labels.values[window.session.labels.codes[i]] != "7"
    )
    assert "→ 7" in browser.model.caption(int(two[0])) or "→ 7" in browser.model.caption(
        int(two[1])
    )
    assert browser.model.caption(target).startswith("✕ ")
    _review_duplicates_and_label_issues(window, qtbot, panel)
    _hide_and_undo(window, qtbot, panel, target)
    _export_and_reopen(window, qtbot, tmp_path)


def _exclude_a_group_cell(window, qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    confounders = window.panels["confounders_dock"]
    qtbot.waitUntil(lambda: confounders.current is not None, timeout=20000)
    values = confounders.current.values
    splits = window.session.splits
    codes, train = window.session.labels.codes, splits.codes == splits.values.index("train")
    row, column = _small_cell(codes, values, train)
    confounders.show_group(row, column)
    shown = np.asarray(window.hub.grid.shown)
    assert len(shown) and "group" in window.hub.grid.filters.masks
    panel.scope.setCurrentText(SHOWN)
    panel.reason.setText("wrong colour")
    panel.exclude()
    _idle(window, qtbot)
    reasons = _state(window)["reasons"]
    assert all(reasons.get(int(i)) == "wrong colour" for i in shown)
    window.hub.grid.set_mask("group", None)


def _small_cell(codes: np.ndarray, values: np.ndarray, train: np.ndarray) -> tuple[int, int]:
    """A (class, value) cell holding some images but fewer than the class's training images."""
    for c in np.unique(codes):
        own = codes == c
        for v in np.unique(values[own & (values >= 0)]):
            cell = own & (values == v)
            if (train & own & ~cell).any():
                return int(c), int(v)
    raise AssertionError("no cell to exclude")


def _review_duplicates_and_label_issues(window, qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    panel.find("duplicates")
    _idle(window, qtbot)
    assert panel.queue_kind == "duplicates" and len(panel.queue)
    panel.table.selectRow(0)
    first, second = panel.review_ids(0)
    assert set(window.hub.grid.shown.tolist()) == {first, second}  # side by side
    panel.apply_suggestion()
    _idle(window, qtbot)
    assert _state(window)["reasons"].get(second) == f"duplicate of #{first}"
    panel.find("label issues")
    _idle(window, qtbot)
    assert panel.queue_kind == "label issues" and len(panel.queue)
    candidate = int(panel.queue.iloc[0]["image_id"])
    suggested = str(panel.queue.iloc[0]["suggested"])
    panel.table.selectRow(0)
    panel.apply_suggestion()
    _idle(window, qtbot)
    assert _state(window)["relabels"].get(candidate) == suggested
    assert panel.history.item(0).text().startswith("relabel")


def _hide_and_undo(window, qtbot, panel, target: int) -> None:  # type: ignore[no-untyped-def]
    window.hub.grid.set_mask("review", None)
    panel.hide_excluded.setChecked(True)
    assert target not in window.hub.grid.shown
    before = len(_state(window)["history"])
    panel.undo()
    _idle(window, qtbot)
    state = _state(window)
    assert len(state["history"]) == before - 1 and "Undid: relabel" in panel.info.text()
    # bad input: nothing selected; every image of a class; nothing is lost
    window.hub.grid.select(np.zeros(0, dtype=np.int64))
    panel.scope.setCurrentText(SELECTED)
    panel.exclude()
    assert "Select images" in panel.info.text()
    panel.hide_excluded.setChecked(False)
    window.hub.grid.set_label(0)
    panel.scope.setCurrentText(SHOWN)
    panel.exclude()
    _idle(window, qtbot)
    assert "without training images" in panel.info.text()
    assert _state(window)["reasons"] == state["reasons"]


# ---- the export of the cleaned project, and its re-opening ---------------------------------------
MANIFESTS = ("manifest.csv", "manifest.parquet", "imagefolder/manifest.csv")
PATH_COLUMNS = ("path", "mask")


def _export_and_reopen(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = window.session.project
    cleaned = _per_image(project, Path(project.dataset.root), "path")
    out = _export_from_the_dialog(window, qtbot)
    _assert_self_contained(out)
    manifest = _read_manifest(out / "manifest.csv")
    assert manifest["label"].tolist() == [cleaned[p]["label"] for p in manifest["source_path"]]
    assert manifest["label_original"].tolist() == [
        cleaned[p]["label_original"] for p in manifest["source_path"]
    ]
    assert (manifest["label"] != manifest["label_original"]).sum() == len(
        _state(window)["relabels"]
    )
    assert manifest["excluded"].map(_true).sum() == len(_state(window)["reasons"])
    doors = [("--manifest", out / name) for name in MANIFESTS[:2]]
    for k, (option, source) in enumerate([*doors, ("--images", out / "imagefolder")]):
        again = tmp_path / f"again{k}"
        assert main(["new", str(again), option, str(source)]) == 0
        with Project.open(again) as reopened:
            root = Path(reopened.dataset.root)
            assert root.resolve().is_relative_to(out.resolve())
            assert _per_image(reopened, root, "source_path") == cleaned
            # same image ids too, so a reason such as "duplicate of #12" still names its image
            assert list(reopened.dataset.table["source_path"]) == list(cleaned)


def _export_from_the_dialog(window, qtbot) -> Path:  # type: ignore[no-untyped-def]
    """Export with every default of the dialog: its folder, formats and link mode."""
    window.actions["export"].trigger()
    dialog = window.findChild(ExportDialog, "export_dialog")
    assert dialog is not None and dialog.link.currentData() == "auto"
    qtbot.waitUntil(lambda: dialog.plan_folder == dialog.folder.text(), timeout=30000)
    assert not dialog.plan.get("refusal"), dialog.note.text()
    out = Path(dialog.folder.text())
    dialog.ok.click()  # starts the export job and closes the dialog
    with qtbot.waitSignal(dialog.handle.ended, timeout=120000) as ended:
        pass
    assert ended.args == ["done"]
    _idle(window, qtbot)
    return out


def _per_image(project, root: Path, key: str) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    """Per image, by its path in the cleaned dataset (``key``: the column holding it): final
    and original label, split, colour group and bias, exclusion reason and the file's bytes."""
    table = project.dataset.table
    matrix = group_matrix(project, "color")
    classes, values = matrix.classes, matrix.values
    labels = final_label_codes(project)
    why = reasons(project)
    original = table["label_original"] if "label_original" in table.columns else table["label"]
    per_image = {}
    for i, (name, path) in enumerate(zip(table[key].astype(str), table["path"], strict=True)):
        g = int(matrix.group_ids[i])
        per_image[name] = {
            "label": classes[labels[i]],
            "label_original": str(original.iat[i]),
            "split": str(table["split"].iat[i]),
            "group": f"{classes[g // len(values)]}/{values[g % len(values)]}" if g >= 0 else "",
            "bias": "aligned"
            if matrix.aligned[i]
            else "conflicting"
            if matrix.conflicting[i]
            else "",
            "excluded": why.get(i),
            "sha256": hashlib.sha256((root / path).read_bytes()).hexdigest(),
        }
    assert len(per_image) == len(table)
    return per_image


def _assert_self_contained(out: Path) -> None:
    """No symbolic link in the export, and every path of every manifest a relative path to a
    file inside it (no absolute path, no ``..``)."""
    for folder, dirs, files in os.walk(out):
        assert not [n for n in dirs + files if os.path.islink(os.path.join(folder, n))]
    for name in MANIFESTS:
        table = _read_manifest(out / name)
        for column in PATH_COLUMNS:
            for cell in table.get(column, pd.Series(dtype=str)).astype(str):
                if not cell:
                    continue
                relative = PurePosixPath(cell)
                assert not relative.is_absolute() and ".." not in relative.parts, cell
                assert not PureWindowsPath(cell).drive, cell
                full = (out / name).parent / cell
                assert full.resolve().is_relative_to(out.resolve()) and full.is_file(), cell


def _read_manifest(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _true(cell: object) -> bool:
    return str(cell).strip().lower() in ("true", "1")

"""The browser: a project opens in a worker, the grid fills lazily, filters, selection, details."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from debias_studio.gui.browser.filters import Mask
from debias_studio.gui.thumbnails import make_thumbnail


def open_tiny(window, qtbot, folder: Path) -> None:
    handle = window.open_project(folder)
    with qtbot.waitSignal(handle.ended, timeout=15000) as ended:
        pass
    assert ended.args == ["done"], handle.message


def test_open_project_fills_the_grid_with_thumbnails(window, qtbot, tiny_project: Path) -> None:
    open_tiny(window, qtbot, tiny_project)
    browser = window.browser
    assert window.stack.currentWidget() is browser
    assert browser.model.rowCount() == 24
    assert browser.count.text() == "24 of 24 images"
    qtbot.waitUntil(lambda: window.loader.cached_count() >= 12, timeout=10000)
    assert list((tiny_project / "thumbnails").rglob("*.jpg")), "disk cache written"
    assert "24 images" in window.project_label.text()
    assert window.settings.recent_projects()[0] == tiny_project.resolve()


def test_filters_by_class_split_and_attribute(window, qtbot, tiny_project: Path) -> None:
    open_tiny(window, qtbot, tiny_project)
    browser = window.browser
    browser.class_box.setCurrentIndex(browser.class_box.findText("green"))
    assert browser.model.rowCount() == 8
    browser.split_box.setCurrentIndex(browser.split_box.findText("train"))
    assert browser.model.rowCount() == 4
    browser.attribute_box.setCurrentIndex(browser.attribute_box.findText("shade = dark"))
    assert browser.model.rowCount() == 2
    session = window.session
    for row in range(browser.model.rowCount()):
        image_id = browser.model.image_id(row)
        record = session.row(image_id)
        assert (record["label"], record["split"], record["shade"]) == ("green", "train", "dark")
    browser.class_box.setCurrentIndex(0)
    browser.split_box.setCurrentIndex(0)
    browser.attribute_box.setCurrentIndex(0)
    assert browser.model.rowCount() == 24


def test_masks_and_sorting_from_other_panels(window, qtbot, tiny_project: Path) -> None:
    open_tiny(window, qtbot, tiny_project)
    browser, grid = window.browser, window.hub.grid
    keep = np.zeros(24, dtype=bool)
    keep[[1, 5, 7]] = True
    grid.set_mask("group", Mask("group red × dark", keep))
    assert list(browser.model.ids) == [1, 5, 7]
    assert browser.chips.count() == 1
    grid.set_mask("group", None)
    scores = np.arange(24, dtype=np.float32)
    grid.set_sort(scores, "score")
    assert browser.model.ids[0] == 23
    assert browser.model.data(browser.model.index(0), 0x0102) == "23.00"  # subtitle role
    qtbot.waitUntil(lambda: browser.chips.count() == 1)  # the sort's chip (old ones go later)
    chip = browser.chips.itemAt(0).widget()
    chip.click()  # removing the chip removes the sort
    assert grid.filters.sort is None and browser.model.ids[0] == 0


def test_selection_and_detail_pane(window, qtbot, tiny_project: Path) -> None:
    open_tiny(window, qtbot, tiny_project)
    browser, grid = window.browser, window.hub.grid
    with qtbot.waitSignal(grid.selection_changed):
        grid.select(np.array([3, 4, 10]))
    assert list(browser.selected_ids()) == [3, 4, 10]
    browser.view.selectionModel().clearSelection()  # the user's own change reaches the state
    assert len(grid.selection) == 0
    browser.class_box.setCurrentIndex(browser.class_box.findText("green"))
    assert grid.filters.label == browser.class_box.currentData()
    grid.set_label(None)
    assert browser.class_box.currentIndex() == 0  # the filter bar follows the state
    browser.view.setCurrentIndex(browser.model.index(browser.model.row_of(10)))
    detail = window.detail
    assert detail.image_id == 10
    qtbot.waitUntil(lambda: detail._pixmap is not None, timeout=5000)
    fields = {
        detail.table.item(r, 0).text(): detail.table.item(r, 1).text()
        for r in range(detail.table.rowCount())
    }
    assert fields["label"] == window.session.row(10)["label"]
    assert fields["image id"] == "10"
    # a long metadata column name does not squeeze the values
    detail.table.item(0, 0).setText("a metadata column named at length " * 6)
    detail._fit_field_column()
    assert detail.table.columnWidth(0) <= max(80, detail.table.viewport().width() * 2 // 5)
    qtbot.waitUntil(lambda: not window.runner.jobs())


def test_stale_thumbnails_are_dropped(window, qtbot, tiny_project: Path) -> None:
    open_tiny(window, qtbot, tiny_project)
    loader = window.loader
    old = loader.generation
    session = window.session
    loader.set_source(session.dataset.root, session.paths, session.fingerprints, None)
    image = make_thumbnail(session.dataset.root, str(session.paths[0]), None, loader.size)
    loader._on_decoded(old, 0, image)  # a result of the previous generation arrives late
    assert loader.cached_count() == 0
    loader._on_decoded(loader.generation, 0, image)
    assert loader.cached_count() == 1


def test_an_unreadable_image_gets_the_broken_marker(
    window, qtbot, tiny_project: Path, tmp_path: Path
) -> None:
    open_tiny(window, qtbot, tiny_project)
    session = window.session
    (session.dataset.root / session.paths[2]).write_bytes(b"not an image")
    loader = window.loader
    loader.set_source(session.dataset.root, session.paths, session.fingerprints, None)
    assert loader.pixmap(2) is None
    qtbot.waitUntil(lambda: loader.pixmap(2) is loader.broken, timeout=5000)


def test_the_concept_bank_can_be_edited(window, qtbot, tiny_project: Path) -> None:
    open_tiny(window, qtbot, tiny_project)
    dialog = window.panels["concepts_dock"].edit_bank()
    qtbot.waitUntil(lambda: dialog.categories.count() > 0, timeout=10000)
    dialog.add_category("studio")
    dialog.members.setPlainText("tripod\nlens cap")
    dialog.save()
    qtbot.waitUntil(lambda: not window.runner.jobs(), timeout=10000)
    from debias_studio.core.concepts.project import project_bank

    bank = project_bank(window.session.project)
    assert bank.category_of("tripod") == "studio"
    dialog = window.panels["concepts_dock"].edit_bank()  # the saved one closed and went away
    qtbot.waitUntil(lambda: dialog.categories.count() > 0, timeout=10000)
    dialog.members.setPlainText("tripod\ntripod")  # refused by the engine: shown, nothing saved
    dialog.save()
    qtbot.waitUntil(lambda: "twice" in dialog.message.text(), timeout=10000)


def test_counterfactual_preview_before_training(window, qtbot, tiny_project: Path) -> None:
    open_tiny(window, qtbot, tiny_project)
    panel = window.panels["training_dock"]
    panel.method.setCurrentIndex(panel.method.findData("counterfactual"))
    assert panel.backbone.currentData() == "cnn"  # image-space cure: an image backbone
    panel.set_confounder("shade")
    panel.preview()
    qtbot.waitUntil(
        lambda: (
            panel.preview_area.pixmap() is not None and not panel.preview_area.pixmap().isNull()
        ),
        timeout=30000,
    )
    assert "each column is one confounder value" in panel.status.text()
    qtbot.waitUntil(lambda: not window.runner.jobs(), timeout=10000)


def test_export_dialog_runs_the_export_engine(
    window, qtbot, tiny_project: Path, tmp_path: Path
) -> None:
    from debias_studio.gui.export_dialog import ExportDialog

    open_tiny(window, qtbot, tiny_project)
    dialog = ExportDialog(window.hub, window)
    target = tmp_path / "exported"
    dialog.folder.setText(str(target))
    dialog.formats["report"].setChecked(False)
    dialog.link.setCurrentText("copy")
    handle = dialog.export()
    with qtbot.waitSignal(handle.ended, timeout=30000) as ended:
        pass
    assert ended.args == ["done"], handle.message
    assert any(target.rglob("*.csv"))
    assert len(list((target).rglob("*.png"))) == 24
    again = ExportDialog(window.hub, window)
    again.folder.setText(str(target))
    handle = again.export()  # not empty, no overwrite: refused in one sentence, nothing lost
    with qtbot.waitSignal(handle.ended, timeout=30000):
        pass
    assert handle.state == "failed" and handle.message
    assert len(list((target).rglob("*.png"))) == 24

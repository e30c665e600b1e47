"""The main window: demos, open/create, drag-and-drop, recent projects, layout restore, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from debias_studio.gui.main_window import MainWindow
from tests.gui.conftest import shown_text, write_tiny_images
from tests.gui.stories import use_fake_demo


def wait_done(qtbot, handle) -> None:
    with qtbot.waitSignal(handle.ended, timeout=20000) as ended:
        pass
    assert ended.args == ["done"], handle.message


def test_starts_on_the_welcome_page_with_model_and_device(window) -> None:
    assert window.stack.currentWidget() is window.welcome
    assert "demo CLIP" in window.model_label.text()
    assert window.device_label.text() == "Device: cpu"
    assert window.actions["open"].shortcut().toString()
    assert window.actions["demo_digits"].shortcut().toString() == "Ctrl+D"
    assert not window.actions["close_project"].isEnabled()


def test_demo_is_created_once_as_a_job_then_reused(
    window, qtbot, monkeypatch, tmp_path: Path
) -> None:
    calls: list[str] = []
    use_fake_demo(monkeypatch, calls)
    window.welcome.demo_digits.click()
    handle = window.runner.jobs()[0]
    row = window.jobs.row_for(handle)
    assert row is not None and row.title.text() == "Creating the digits demo"
    assert row.title.textFormat() == Qt.TextFormat.PlainText and row.title.font().bold()
    wait_done(qtbot, handle)
    assert calls == ["digits"]
    assert len(window.session) == 24
    assert window.session.folder == tmp_path / "userdata" / "demo-digits"
    assert window.actions["close_project"].isEnabled()
    window.close_project()
    assert window.stack.currentWidget() is window.welcome
    wait_done(qtbot, window.open_demo("digits"))
    assert calls == ["digits"], "the existing demo project is reused"


def test_dropping_a_project_folder_opens_it(window, qtbot, tiny_project: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_project))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    wait_done(qtbot, window.runner.jobs()[0])
    assert window.session.folder == tiny_project


def test_dropping_an_image_folder_creates_a_project(window, qtbot, tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    write_tiny_images(images)
    (images / "manifest.csv").unlink()
    target = tmp_path / "new-project"
    window.ask_project_folder = lambda source: target
    handle = window.open_path(images)
    wait_done(qtbot, handle)
    assert (target / "project.sqlite").is_file()
    assert window.browser.model.rowCount() == 24


def test_a_manifest_creates_a_project(window, qtbot, tmp_path: Path) -> None:
    manifest = write_tiny_images(tmp_path / "m")
    handle = window.create_project(tmp_path / "from-manifest", manifest)
    wait_done(qtbot, handle)
    assert window.browser.attribute_box.count() == 3  # All, shade = dark, shade = light


def test_a_bad_folder_gives_a_readable_error_and_keeps_the_window(
    window, qtbot, tmp_path: Path
) -> None:
    handle = window.open_project(tmp_path / "nothing-here")
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass
    assert handle.state == "failed"
    assert "is not a Debias Studio project" in handle.message
    assert "is not a Debias Studio project" in window.statusBar().currentMessage()
    assert window.stack.currentWidget() is window.welcome
    row = window.jobs.row_for(handle)
    assert row is not None and "not a Debias Studio project" in row.message.text()


def test_layout_and_recent_projects_survive_a_restart(qtbot, tiny_project: Path) -> None:
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    wait_done(qtbot, first.open_project(tiny_project))
    qtbot.waitUntil(lambda: not first.runner.jobs(), timeout=20000)
    first.docks["jobs_dock"].hide()
    first.resize(first.minimumSizeHint().width() + 40, first.minimumSizeHint().height() + 30)
    size = (first.width(), first.height())
    first.close()
    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    qtbot.waitUntil(lambda: not second.runner.jobs(), timeout=20000)
    assert second.docks["jobs_dock"].isHidden()
    assert second.height() == size[1]  # (the offscreen screen clamps widths)
    assert second.settings.recent_projects() == [tiny_project.resolve()]
    assert shown_text(second.welcome.recent.item(0).toolTip()) == str(tiny_project.resolve())
    second.shutdown()


def test_a_project_another_instance_edits_opens_read_only_and_says_so(
    window, qtbot, tiny_project: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tiny_project / "project.lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        wait_done(qtbot, window.open_project(tiny_project))
        assert window.session.project.read_only
        assert "(read-only)" in window.windowTitle()
        assert "read-only" in window.statusBar().currentMessage()
    finally:
        holder.kill()
        holder.wait(timeout=30)


HOLD_LOCK = """
import fcntl, sys, time
lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_choosing_a_backbone_suggests_its_epochs_and_batch_size(window) -> None:
    panel = window.panels["training_dock"]
    choices = (("cnn", 30, 32), ("head", 10, 128), ("clip", 5, 32), ("efficientnet", 10, 64))
    for backbone, epochs, batch in choices:
        panel.backbone.setCurrentIndex(panel.backbone.findData(backbone))
        assert (panel.epochs.value(), panel.batch.value()) == (epochs, batch)
    panel.epochs.setValue(7)  # the user's own choice stays until the backbone changes again
    assert panel.epochs.value() == 7


def test_training_on_auto_follows_the_app_device_setting(window, qtbot, tiny_project) -> None:
    wait_done(qtbot, window.open_project(tiny_project))
    panel = window.panels["training_dock"]
    window.settings.set("device", "cpu")
    assert panel.device.currentText() == "auto"
    assert panel.config().device == "cpu"  # training's engine then honours it (test_train_device)
    window.settings.set("device", "auto")
    assert panel.config().device is None  # the engine's default: DEBIAS_STUDIO_DEVICE, else cuda
    panel.device.setCurrentText("cuda")
    assert panel.config().device == "cuda"  # the run's own choice wins


def test_selecmix_without_a_confounder_adds_lff_by_default(window, qtbot, tiny_project) -> None:
    """What bench/cmnist.py measured: LfF + SelecMix beats SelecMix's contrastive pairs alone
    when there is no annotation; with a confounder the annotation pairs run without LfF."""
    wait_done(qtbot, window.open_project(tiny_project))
    panel = window.panels["training_dock"]
    panel.method.setCurrentIndex(panel.method.findData("selecmix"))
    panel.confounder.setCurrentIndex(panel.confounder.findData(None))
    assert panel.lff.isEnabled() and panel.config().lff
    panel.confounder.setCurrentIndex(1)  # an attribute column or annotated confounder
    assert panel.confounder.currentData() is not None and not panel.config().lff
    panel.confounder.setCurrentIndex(0)
    panel.lff.setChecked(False)
    assert not panel.config().lff
    panel.lff.setChecked(True)
    panel.method.setCurrentIndex(panel.method.findData("erm"))
    assert not panel.lff.isEnabled() and not panel.config().lff

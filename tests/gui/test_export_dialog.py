"""The export dialog says what would happen before it happens: what replacing an earlier export
removes (the first click shows it, the second goes ahead), and why a folder may not be used."""

from __future__ import annotations

from pathlib import Path

from tests.gui.test_browser import open_tiny


def _plan(dialog, qtbot) -> None:
    with qtbot.waitSignal(dialog.plan_handle.ended, timeout=30000):
        pass
    qtbot.waitUntil(lambda: dialog.plan_folder == dialog.folder.text(), timeout=5000)


def test_overwrite_shows_what_goes_before_replacing(window, qtbot, tiny_project, tmp_path):
    from debias_studio.gui.export_dialog import ExportDialog

    open_tiny(window, qtbot, tiny_project)
    target = tmp_path / "exported"
    first = ExportDialog(window.hub, window)
    assert Path(first.folder.text()).parent == tiny_project.parent  # beside, never inside
    first.folder.setText(str(target))
    first.formats["report"].setChecked(False)
    with qtbot.waitSignal(first.export().ended, timeout=30000) as ended:
        pass
    assert ended.args == ["done"]
    again = ExportDialog(window.hub, window)
    again.folder.setText(str(target))
    again.overwrite.setChecked(True)
    _plan(again, qtbot)
    assert again.export() is None  # the first click only shows what goes
    assert "removes the earlier export" in again.note.text() and "files" in again.note.text()
    assert again.ok.text() == "Replace and export" and (target / "manifest.csv").is_file()
    with qtbot.waitSignal(again.export().ended, timeout=30000) as ended:
        pass
    assert ended.args == ["done"]


def test_the_default_folder_is_outside_a_dataset_that_holds_the_project(
    window, qtbot, tiny_manifest
):
    """A project kept inside its dataset's folder: the folder beside the project would be inside
    the dataset, so the dialog proposes one beside the dataset, and the plan accepts it."""
    from debias_studio.core.data.dataset import open_manifest
    from debias_studio.core.jobs import run_quiet
    from debias_studio.core.store.project import Project
    from debias_studio.gui.export_dialog import ExportDialog

    folder = tiny_manifest.parent / "project"
    Project.create(folder, run_quiet(open_manifest(tiny_manifest))).close()
    open_tiny(window, qtbot, folder)
    dialog = ExportDialog(window.hub, window)
    proposed = Path(dialog.folder.text())
    assert proposed == tiny_manifest.parent.parent / f"{tiny_manifest.parent.name}-export"
    _plan(dialog, qtbot)
    assert not dialog.plan.get("refusal") and not dialog.note.text()
    dialog.reject()


def test_a_folder_inside_the_project_is_refused_up_front(window, qtbot, tiny_project):
    from debias_studio.gui.export_dialog import ExportDialog

    open_tiny(window, qtbot, tiny_project)
    dialog = ExportDialog(window.hub, window)
    dialog.folder.setText(str(tiny_project / "runs"))
    dialog.check_plan()
    _plan(dialog, qtbot)
    assert "outside it" in dialog.note.text()
    dialog.reject()


def test_a_new_project_from_an_export_gets_its_exclusions_back(tiny_project, tmp_path):
    from debias_studio.core.export.job import export_project
    from debias_studio.core.jobs import CancelToken, run_quiet
    from debias_studio.core.store.exclusions import exclude, reasons
    from debias_studio.core.store.project import Project
    from debias_studio.gui.session import create_session

    with Project.open(tiny_project) as project:
        exclude(project, [2, 5], "blurry")
        run_quiet(export_project(project, tmp_path / "out", "manifest"))
    session = run_quiet(
        create_session(tmp_path / "again", tmp_path / "out" / "manifest.csv", CancelToken())
    )
    try:
        assert reasons(session.project) == {2: "blurry", 5: "blurry"}
    finally:
        session.project.close()

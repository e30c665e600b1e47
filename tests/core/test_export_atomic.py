"""An export is all or nothing: cancel, a full disk, or SIGKILL in the middle leave no output
folder (and no staging folder once the next export has run)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import debias_studio.core.export.layout as layout
import debias_studio.core.export.manifest as manifest
from debias_studio.core.errors import JobCancelled, StudioError
from debias_studio.core.export.job import export_project
from debias_studio.core.jobs import CancelToken, Progress, run_job, run_quiet
from debias_studio.core.store.project import Project
from tests.core.train_fixtures import shapes_project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("atomic")
    shapes_project(folder, n_train=60, n_eval=15).close()
    return folder / "project"


def _leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}"))


def test_disk_full_while_placing_images_is_a_clear_error(project_folder, tmp_path, monkeypatch):
    real = layout.place_file
    placed = []

    def fill_up(source: Path, dest: Path, mode: str) -> None:
        if len(placed) == 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(source, dest, mode)
        placed.append(dest)

    monkeypatch.setattr(layout, "place_file", fill_up)
    target = tmp_path / "out"
    with Project.open(project_folder) as project, pytest.raises(StudioError) as info:
        run_quiet(export_project(project, target, "manifest,imagefolder", link="copy"))
    assert "disk is full" in str(info.value)
    assert "nothing was written" in str(info.value)
    assert not target.exists()
    assert _leftovers(target) == []


def test_disk_full_while_writing_the_manifest_keeps_the_previous_export(
    project_folder, tmp_path, monkeypatch
):
    target = tmp_path / "out"
    with Project.open(project_folder) as project:
        run_quiet(export_project(project, target, "manifest"))
        before = (target / "manifest.csv").read_bytes()

        def full(table: object, path: Path) -> None:
            Path(path).write_text("path,la")  # a torn write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(manifest, "write_csv", full)
        with pytest.raises(StudioError, match="disk is full"):
            run_quiet(export_project(project, target, "manifest", overwrite=True))
    assert (target / "manifest.csv").read_bytes() == before
    assert _leftovers(target) == []


def test_cancel_leaves_no_output_folder(project_folder, tmp_path) -> None:
    target = tmp_path / "out"
    cancel = CancelToken()

    def stop_when_placing(progress: Progress) -> None:
        if "imagefolder" in progress.message:
            cancel.cancel()

    with Project.open(project_folder) as project:
        job = export_project(project, target, "manifest,imagefolder,report", cancel=cancel)
        with pytest.raises(JobCancelled):
            run_job(job, stop_when_placing)
    assert not target.exists()
    assert _leftovers(target) == []


CHILD = textwrap.dedent(
    """
    import sys, time
    import debias_studio.core.export.layout as layout
    from debias_studio.core.export.job import export_project
    from debias_studio.core.store.project import Project

    real = layout.place_file

    def slow(source, dest, mode):
        real(source, dest, mode)
        print("placed", flush=True)
        time.sleep(0.05)

    layout.place_file = slow
    project = Project.open(sys.argv[1], read_only=True)
    for _ in export_project(project, sys.argv[2], "manifest,imagefolder,report"):
        pass
    print("finished", flush=True)
    """
)


def test_sigkill_in_the_middle_of_an_export_leaves_no_output_folder(project_folder, tmp_path):
    target = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(project_folder), str(target)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None
        for _ in range(5):  # a few files placed: the export is under way
            assert child.stdout.readline().strip() == "placed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert not target.exists()
    assert len(_leftovers(target)) == 1  # the dead export's staging folder, hidden
    with Project.open(project_folder) as project:
        result = run_quiet(export_project(project, target, "manifest"))
    assert (result.folder / "manifest.csv").is_file()
    assert _leftovers(target) == []  # the next export cleared it

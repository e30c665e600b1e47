"""Two app instances on one project: the second opens it read-only; a killed instance leaves
no lock behind and loses no committed annotation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from debias_studio.core.errors import ProjectError
from debias_studio.core.store import confounders, exclusions
from debias_studio.core.store.project import Project
from tests.core.test_store import tiny_dataset

REPO = Path(__file__).resolve().parents[2]

HOLD = textwrap.dedent(
    """
    import sys, time
    from debias_studio.core.store import confounders
    from debias_studio.core.store.project import Project
    project = Project.open(sys.argv[1])
    print("writable" if not project.read_only else "read-only", flush=True)
    if len(sys.argv) > 2:
        confounders.put_overrides(project, "bg", [(1, "water")])
        project.set_meta("last_action", "annotated")
        print("annotated", flush=True)
    time.sleep(60)
    """
)


def _child(folder: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    Project.create(tmp_path / "proj", tiny_dataset(tmp_path / "proj" / "data")).close()
    return tmp_path / "proj"


def test_second_instance_opens_read_only_until_the_first_is_gone(folder: Path) -> None:
    child = _child(folder)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "writable"
        with Project.open(folder) as second:
            assert second.read_only
            assert second.dataset.classes == ["a", "b"]  # reading works
            with pytest.raises(ProjectError, match=f"read-only.*process {child.pid}"):
                second.set_meta("x", 1)
            with pytest.raises(ProjectError):
                exclusions.exclude(second, [0], "blurry")
            with pytest.raises(ProjectError), second.transaction():
                pass
            with pytest.raises(ProjectError, match="read-only"):  # the connection refuses too
                second._rows("INSERT INTO exclusions(image_id, reason) VALUES (0, 'x')")
        with pytest.raises(ProjectError, match=f"process {child.pid}"):
            Project.open(folder, read_only=False)
    finally:
        _kill(child)
    with Project.open(folder) as third:  # the lock died with its process
        assert not third.read_only
        third.set_meta("x", 1)


def test_one_process_shares_its_own_lock(folder: Path) -> None:
    with Project.open(folder) as first, Project.open(folder) as second:
        assert not first.read_only and not second.read_only
        second.set_meta("x", 2)
        assert first.get_meta("x") == 2
    with Project.open(folder, read_only=True) as reader:
        assert reader.read_only and reader.get_meta("x") == 2


def test_annotation_survives_sigkill_right_after_it(folder: Path) -> None:
    child = _child(folder, "annotate")
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writable"
        assert child.stdout.readline().strip() == "annotated"
    finally:
        _kill(child)  # no close(), no checkpoint: only what was committed counts
    with Project.open(folder) as project:
        assert not project.read_only
        assert confounders.overrides_of(project, "bg") == [(1, "water")]
        assert project.get_meta("last_action") == "annotated"

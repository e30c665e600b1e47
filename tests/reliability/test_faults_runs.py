"""Issue 12, item 10: a training run whose process is gone (killed, crashed) is shown as
interrupted, not running for ever, and resumes from the CLI; one whose process lives is running
and cannot be taken over."""

from __future__ import annotations

from pathlib import Path

import pytest

from debias_studio.cli.main import main
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import list_runs
from tests.reliability.faults_fixtures import copy_project, make_demo_project, start_dying_run


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_project(tmp_path_factory.mktemp("runs") / "demo")


def test_a_killed_run_is_interrupted_and_resumes(demo: Path, tmp_path: Path, capsys) -> None:
    folder = copy_project(demo, tmp_path / "p")
    run_id, process = start_dying_run(folder, backbone="head")
    assert process.returncode == -9 and run_id
    assert main(["runs", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"{run_id}  interrupted" in out and f"--resume {run_id}" in out
    assert main(["train", str(folder), "--resume", run_id]) == 0
    with Project.open(folder) as project:
        assert [(r["id"], r["status"]) for r in list_runs(project)] == [(run_id, "done")]


def test_a_live_run_is_running_and_not_taken_over(demo: Path, tmp_path: Path, capsys) -> None:
    folder = copy_project(demo, tmp_path / "p")
    run_id, process = start_dying_run(folder, backbone="head", die=False)
    try:
        with Project.open(folder, read_only=False) as project:
            assert list_runs(project)[0]["status"] == "running"
        code = main(["train", str(folder), "--resume", run_id])
        err = capsys.readouterr().err
        assert code == 1 and "still training in another process" in err
    finally:
        process.kill()
        process.wait(timeout=30)
    with Project.open(folder) as project:
        assert list_runs(project)[0]["status"] == "interrupted"
